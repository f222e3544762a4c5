#!/usr/bin/env bash
# Checks the Helm chart and the rendered sample tenants with the real tools (installed by
# hack/install-tools.sh into .tools/bin). CI runs it from hack/test-all.sh; it stops at the
# first failing check.
#
#  1. the chart's copies of crds/, policies/classes/ and policies/admission/ are current;
#  2. helm lint --strict, with default values and with every optional feature on
#     (charts/tenant-operator/ci/all-features-values.yaml);
#  3. helm template of both; kubernetes-validate --strict (Kubernetes $K8S_VERSION) on every
#     object of a built-in kind, CRDs included. Objects of CRD-defined kinds
#     (ServiceMonitor, PrometheusRule from the Prometheus Operator; TenantClass from our own
#     CRD) have no schema offline: they are listed and checked otherwise (TenantClasses by
#     `tenant-operator validate` when the CLI supports them; the monitoring kinds only by
#     helm lint), never silently passed;
#  4. checkov on both renders (hack/checkov/*.yaml list each skipped check with its reason);
#  5. the sample tenants (samples/) rendered by `tenant-operator render`: kubernetes-validate
#     --strict and checkov (hack/checkov/tenants.yaml).
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$ROOT"
export PATH="$ROOT/.tools/bin:$PATH"
K8S_VERSION="1.34.0"
CHART="charts/tenant-operator"
OUT="$(mktemp -d)"
trap 'rm -rf "$OUT"' EXIT

step() { printf '\n=== check-chart: %s ===\n' "$*"; }
die() { printf 'check-chart: FAILED: %s\n' "$*" >&2; exit 1; }

for tool in helm kubernetes-validate checkov; do
  command -v "$tool" >/dev/null || die "$tool not installed: run hack/install-tools.sh"
done
PYTHON="$ROOT/.tools/venv/bin/python"   # has PyYAML (a kubernetes-validate dependency)

# split_by_kind IN BUILTIN_OUT CRD_OUT: objects of CRD-defined API groups go to CRD_OUT
# (one "kind/name" line each is printed), everything else to BUILTIN_OUT.
split_by_kind() {
  "$PYTHON" - "$@" <<'PY'
import sys, yaml
src, builtin_out, crd_out = sys.argv[1:4]
crd_groups = ("monitoring.coreos.com/", "tenancy.innova.puglia.it/")
builtin, crd = [], []
for doc in yaml.safe_load_all(open(src)):
    if not doc:
        continue
    (crd if doc.get("apiVersion", "").startswith(crd_groups) else builtin).append(doc)
yaml.safe_dump_all(builtin, open(builtin_out, "w"), sort_keys=False)
yaml.safe_dump_all(crd, open(crd_out, "w"), sort_keys=False)
for doc in crd:
    print(f"  not schema-checked offline: {doc['apiVersion']} {doc['kind']}/{doc['metadata']['name']}")
PY
}

# validate FILE: kubernetes-validate --strict; a missing schema is a failure, not a pass.
validate() {
  local log="$OUT/validate.log"
  if ! kubernetes-validate --strict -k "$K8S_VERSION" --quiet "$1" >"$log" 2>&1 \
    || grep -q "Couldn't find schema" "$log"; then
    cat "$log" >&2
    die "kubernetes-validate: $(basename "$1")"
  fi
  echo "kubernetes-validate --strict ($K8S_VERSION): $(grep -c '^kind:' "$1") objects OK"
}

# run_checkov CONFIG FILE
run_checkov() {
  (cd "$(dirname "$2")" && checkov --config-file "$ROOT/$1" -f "$(basename "$2")") \
    || die "checkov ($1) on $(basename "$2")"
}

step "chart copies of crds/ and policies/ are current"
hack/update-chart-files.sh --check
[[ -n "$(ls "$CHART"/crds/*.yaml 2>/dev/null)" ]] || echo "note: $CHART/crds/ is empty (crds/ not generated yet)"

step "helm lint --strict"
helm lint --strict "$CHART"
helm lint --strict "$CHART" -f "$CHART/ci/all-features-values.yaml"

for variant in default all-features; do
  step "helm template ($variant)"
  args=(template tenant-operator "$CHART" --namespace tenant-operator --include-crds)
  [[ "$variant" == all-features ]] && args+=(-f "$CHART/ci/all-features-values.yaml")
  helm "${args[@]}" >"$OUT/$variant.yaml"
  grep '^kind:' "$OUT/$variant.yaml" | sort | uniq -c

  step "kubernetes-validate ($variant)"
  split_by_kind "$OUT/$variant.yaml" "$OUT/$variant-builtin.yaml" "$OUT/$variant-crd.yaml"
  validate "$OUT/$variant-builtin.yaml"

  step "checkov ($variant)"
  config=hack/checkov/chart.yaml
  [[ "$variant" == default ]] && config=hack/checkov/chart-default.yaml
  run_checkov "$config" "$OUT/$variant.yaml"
done

step "sample tenants"
if [[ -d samples ]]; then
  cargo run --quiet --locked -p tenant-operator -- render -f samples/ >"$OUT/tenants.yaml" \
    || die "tenant-operator render -f samples/"
  grep '^kind:' "$OUT/tenants.yaml" | sort | uniq -c
  split_by_kind "$OUT/tenants.yaml" "$OUT/tenants-builtin.yaml" "$OUT/tenants-crd.yaml"
  validate "$OUT/tenants-builtin.yaml"
  run_checkov hack/checkov/tenants.yaml "$OUT/tenants.yaml"
else
  echo "note: samples/ does not exist yet: no tenants to render"
fi

printf '\ncheck-chart: all checks passed\n'

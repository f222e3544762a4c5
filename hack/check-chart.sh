#!/usr/bin/env bash
# Checks the Helm chart and the rendered sample tenants with the real tools (installed by
# hack/install-tools.sh into .tools/bin). CI runs it from hack/test-all.sh; it stops at the
# first failing check.
#
#  1. the chart's links to crds/, policies/classes/, policies/admission/, policies/delegations/
#     and policies/reserved-namespaces.yaml are intact
#     (symlinks: one source, no copies), and `helm package` stores the linked files;
#  2. helm lint --strict, with default values and with every optional feature on
#     (charts/tenant-operator/ci/all-features-values.yaml);
#  3. helm template of both; kubernetes-validate --strict (Kubernetes $K8S_VERSION) on every
#     object of a built-in kind, CRDs included. Objects of CRD-defined kinds
#     of our own CRDs (TenantClass, TenantService) are validated against the CRD schema from
#     crds/, made strict; those of other CRDs (ServiceMonitor, PrometheusRule of the
#     Prometheus Operator) have no schema offline: they are listed by name, never silently
#     passed;
#  4. checkov on both renders (hack/checkov/*.yaml list each skipped check with its reason);
#  5. the sample tenants (samples/) rendered by `tenant-operator render`, TLS Secrets
#     included (issued by a throwaway CA): kubernetes-validate --strict and checkov
#     (hack/checkov/tenants.yaml);
#  6. the Dockerfile of the image the chart runs: checkov's Dockerfile checks
#     (hack/checkov/dockerfile.yaml). No machine here can build it (no container engine);
#     hack/e2e-kind.sh does, where one exists.
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

for tool in helm kubernetes-validate checkov openssl; do
  command -v "$tool" >/dev/null || die "$tool not installed: run hack/install-tools.sh"
done
PYTHON="$ROOT/.tools/venv/bin/python"   # has PyYAML (a kubernetes-validate dependency)

# split_by_kind IN BUILTIN_OUT: objects of built-in kinds go to BUILTIN_OUT (for
# kubernetes-validate). Objects of our own CRDs (crds/*.yaml in the chart) are validated
# here against the CRD's openAPIV3Schema, made strict (unknown fields are errors, as
# `kubectl apply --validate=strict` would report them). Objects of other CRDs (the
# Prometheus Operator's) cannot be schema-checked offline: they are listed by name.
split_by_kind() {
  "$PYTHON" - "$1" "$2" "$ROOT/$CHART/crds" <<'PY'
import glob, os, sys
import jsonschema, yaml

src, builtin_out, crd_dir = sys.argv[1:4]

def strict(schema, root=False):
    """The structural schema with unknown fields forbidden, x-kubernetes-* made JSON Schema."""
    s = {k: v for k, v in schema.items() if not k.startswith("x-kubernetes-")}
    if schema.get("x-kubernetes-int-or-string"):
        s.pop("type", None)
        s["anyOf"] = [{"type": "integer"}, {"type": "string"}]
    if "properties" in s:
        s["properties"] = {k: strict(v) for k, v in s["properties"].items()}
        if root:  # the API server adds these to every object
            s["properties"].setdefault("apiVersion", {"type": "string"})
            s["properties"].setdefault("kind", {"type": "string"})
            s["properties"]["metadata"] = {"type": "object"}
        if not schema.get("x-kubernetes-preserve-unknown-fields"):
            s.setdefault("additionalProperties", False)
    if isinstance(s.get("additionalProperties"), dict):
        s["additionalProperties"] = strict(s["additionalProperties"])
    if "items" in s:
        s["items"] = strict(s["items"])
    for key in ("anyOf", "oneOf", "allOf"):
        if key in schema:
            s[key] = [strict(x) for x in s[key]]
    return s

schemas = {}
for path in sorted(glob.glob(os.path.join(crd_dir, "*.yaml"))):
    for crd in yaml.safe_load_all(open(path)):
        if not crd or crd.get("kind") != "CustomResourceDefinition":
            continue
        for version in crd["spec"]["versions"]:
            key = (f"{crd['spec']['group']}/{version['name']}", crd["spec"]["names"]["kind"])
            schemas[key] = strict(version["schema"]["openAPIV3Schema"], root=True)

builtin, failures = [], 0
for doc in yaml.safe_load_all(open(src)):
    if not doc:
        continue
    key = (doc.get("apiVersion", ""), doc.get("kind", ""))
    name = f"{key[0]} {key[1]}/{doc.get('metadata', {}).get('name')}"
    group = key[0].rsplit("/", 1)[0] if "/" in key[0] else ""
    if "." not in group or group.endswith(".k8s.io"):  # core, apps, batch, policy, *.k8s.io
        builtin.append(doc)
    elif key in schemas:
        errors = list(jsonschema.Draft7Validator(schemas[key]).iter_errors(doc))
        for e in errors:
            print(f"  {name}: {'.'.join(str(p) for p in e.absolute_path) or '<root>'}: {e.message}", file=sys.stderr)
        failures += len(errors)
        print(f"  CRD schema (strict): {name} {'OK' if not errors else 'INVALID'}")
    else:
        print(f"  not schema-checked offline (CRD not in this chart): {name}")
yaml.safe_dump_all(builtin, open(builtin_out, "w"), sort_keys=False)
sys.exit(1 if failures else 0)
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

step "chart links to crds/ and policies/"
for link in crds files/classes files/admission files/delegations; do
  [[ -L "$CHART/$link" ]] || die "$CHART/$link must be a symlink to its source (see the chart README)"
  ls "$CHART/$link"/*.yaml >/dev/null 2>&1 || die "$CHART/$link has no YAML files"
done
helm package "$CHART" --destination "$OUT" >/dev/null
packaged="$(tar -tzf "$OUT"/tenant-operator-*.tgz)"
[[ -L "$CHART/files/reserved-namespaces.yaml" ]] || die "$CHART/files/reserved-namespaces.yaml must be a symlink"
for link in crds files/classes files/admission files/delegations; do
  grep -q "^tenant-operator/$link/.*\.yaml$" <<<"$packaged" || die "helm package left out $link"
done
grep -q "^tenant-operator/files/reserved-namespaces.yaml$" <<<"$packaged" || die "helm package left out files/reserved-namespaces.yaml"
echo "links intact; helm package includes crds/, files/classes/, files/admission/, files/delegations/, files/reserved-namespaces.yaml"

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
  split_by_kind "$OUT/$variant.yaml" "$OUT/$variant-builtin.yaml" || die "CRD schema: $variant"
  validate "$OUT/$variant-builtin.yaml"

  step "checkov ($variant)"
  config=hack/checkov/chart.yaml
  [[ "$variant" == default ]] && config=hack/checkov/chart-default.yaml
  run_checkov "$config" "$OUT/$variant.yaml"
done

step "sample tenants"
if [[ -d samples ]]; then
  # A throwaway CA, so that the TLS Secrets are rendered (and checked) too.
  openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -days 2 \
    -subj "/CN=check-chart throwaway CA" -addext "basicConstraints=critical,CA:TRUE" \
    -addext "keyUsage=critical,keyCertSign,cRLSign" \
    -keyout "$OUT/ca.key" -out "$OUT/ca.crt" 2>/dev/null || die "openssl: throwaway CA"
  cargo run --quiet --locked -p tenant-operator -- render -f samples/ \
    --ca-cert "$OUT/ca.crt" --ca-key "$OUT/ca.key" >"$OUT/tenants.yaml" \
    || die "tenant-operator render -f samples/"
  grep '^kind:' "$OUT/tenants.yaml" | sort | uniq -c
  split_by_kind "$OUT/tenants.yaml" "$OUT/tenants-builtin.yaml" || die "CRD schema: tenants"
  validate "$OUT/tenants-builtin.yaml"
  run_checkov hack/checkov/tenants.yaml "$OUT/tenants.yaml"
else
  echo "note: samples/ does not exist yet: no tenants to render"
fi

step "Dockerfile"
run_checkov hack/checkov/dockerfile.yaml "$ROOT/Dockerfile"

printf '\ncheck-chart: all checks passed\n'

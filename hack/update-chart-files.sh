#!/usr/bin/env bash
# Copies the files the Helm chart ships from their single source in the repository into
# the chart directory (Helm only reads files inside the chart, and follows no symlinks
# when packaging reliably, so they are copied):
#
#   crds/*.yaml                -> charts/tenant-operator/crds/           (generated from the Rust types)
#   policies/classes/*.yaml    -> charts/tenant-operator/files/classes/  (default TenantClasses)
#   policies/admission/*.yaml  -> charts/tenant-operator/files/admission/ (admission policies)
#
# Never edit the copies. `--check` changes nothing and fails when a copy differs from its
# source (CI, and controller/tests/chart_files.rs, check the same).
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
CHART="$ROOT/charts/tenant-operator"
MODE="${1:-update}"
[[ "$MODE" == update || "$MODE" == --check ]] || { echo "usage: $0 [--check]" >&2; exit 2; }

status=0
# sync SOURCE_DIR DEST_DIR: DEST_DIR gets exactly the *.yaml files of SOURCE_DIR.
sync() {
  local src="$ROOT/$1" dest="$CHART/$2"
  if [[ ! -d "$src" ]]; then
    echo "update-chart-files: $1 does not exist (yet); $2 left as is" >&2
    return 0
  fi
  if [[ "$MODE" == --check ]]; then
    if ! diff -r --exclude='*~' <(cd "$src" && for f in *.yaml; do [[ -e "$f" ]] && { echo "== $f"; cat "$f"; }; done) \
                               <(cd "$dest" 2>/dev/null && for f in *.yaml; do [[ -e "$f" ]] && { echo "== $f"; cat "$f"; }; done) >/dev/null; then
      echo "update-chart-files: charts/tenant-operator/$2 differs from $1: run hack/update-chart-files.sh" >&2
      status=1
    fi
    return 0
  fi
  mkdir -p "$dest"
  find "$dest" -maxdepth 1 -name '*.yaml' -delete
  shopt -s nullglob
  local files=("$src"/*.yaml)
  shopt -u nullglob
  ((${#files[@]})) && cp "${files[@]}" "$dest/"
  echo "update-chart-files: $1 -> charts/tenant-operator/$2 (${#files[@]} files)"
}

sync crds crds
sync policies/classes files/classes
sync policies/admission files/admission
exit "$status"

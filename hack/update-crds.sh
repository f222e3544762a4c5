#!/usr/bin/env bash
# Regenerates crds/ from the Rust API types (controller/src/api). Run it after changing
# a type, a doc comment or a validation rule; controller/tests/crds_up_to_date.rs fails
# until crds/ matches. The chart reads crds/ through a symlink, so nothing else needs copying.
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$ROOT"
# Stale files (a renamed CRD) must not survive: crds/ holds only generated files.
rm -f crds/*.yaml
cargo run --quiet --package tenant-operator --bin tenant-operator -- crd --output-dir crds

#!/usr/bin/env bash
# Runs every test of the project: the README's test command, and what CI calls.
#
# 1. installs the pinned external tools the tests check our output with
#    (kubectl v1.35, helm v4, kubernetes-validate, checkov) into .tools/;
# 2. runs the whole Rust test suite with those tools required (REQUIRE_TOOLS=1), so a
#    missing tool fails the run instead of skipping a check;
# 3. checks the Helm chart and the rendered tenants with the real tools.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."

hack/install-tools.sh
export PATH="$PWD/.tools/bin:$PATH"
export REQUIRE_TOOLS=1

cargo test --workspace --locked
hack/check-chart.sh

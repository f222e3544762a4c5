#!/usr/bin/env bash
# End-to-end test on a real kind cluster (not runnable on the project's CI machines, which
# have no container engine). Installs the chart, applies samples/, waits until every
# TenantService is Ready, then checks isolation with real connections and real admission:
#
#   1. a pod of tenant A reaches a server of tenant A (same namespace)      -> must connect
#   2. a pod of tenant B reaches the same server                            -> must time out
#      (and, with the samples, a tenant both sides consent to                -> must connect)
#   3. a LoadBalancer Service in tenant B's namespace                       -> must be denied
#   4. a cluster-wide editor (RBAC allows it) deletes a managed NetworkPolicy -> must be denied
#
# and uninstalls everything it installed, also on failure.
#
# Usage: hack/e2e-kind.sh [kind cluster name, default "kind"]
#   Builds the operator image from the Dockerfile with docker, as
#   tenant-operator:<the chart's appVersion>, and loads it into the cluster. IMAGE=<image>
#   tests an image built elsewhere instead (it is loaded, not built).
#   The cluster's CNI must enforce NetworkPolicy (recent kind releases' kindnet does;
#   otherwise install Calico first). TENANT_A / TENANT_B pick the two tenants (default: the first two
#   TenantServices of samples/); they must not consent to each other's traffic.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."

CLUSTER="${1:-kind}"
APP_VERSION="$(sed -n 's/^appVersion: *"\{0,1\}\([^"]*\)"\{0,1\}$/\1/p' charts/tenant-operator/Chart.yaml)"
[[ -n "$APP_VERSION" ]] || { echo "e2e: no appVersion in charts/tenant-operator/Chart.yaml" >&2; exit 1; }
NS=tenant-operator
PROBE_IMAGE=registry.k8s.io/e2e-test-images/agnhost:2.53
k() { kubectl --context "kind-$CLUSTER" "$@"; }
log() { printf '\n=== e2e: %s ===\n' "$*"; }
fail() { printf 'e2e: FAILED: %s\n' "$*" >&2; exit 1; }

cleanup() {
  log "cleanup"
  k delete clusterrolebinding e2e-cluster-editor --ignore-not-found
  # Tenant namespaces may be retained (deletionPolicy: Retain): remove the probes first.
  [[ -n "${NS_A:-}" ]] && k delete pod e2e-server e2e-client -n "$NS_A" --ignore-not-found --wait=false
  [[ -n "${NS_B:-}" ]] && k delete pod e2e-client -n "$NS_B" --ignore-not-found --wait=false
  k delete -f samples/ --ignore-not-found --wait=false || true
  helm --kube-context "kind-$CLUSTER" uninstall tenant-operator -n "$NS" --ignore-not-found || true
  k delete namespace "$NS" --ignore-not-found --wait=false
}
trap cleanup EXIT

if [[ -z "${IMAGE:-}" ]]; then
  IMAGE="tenant-operator:$APP_VERSION"
  log "build $IMAGE"
  docker build --tag "$IMAGE" --build-arg "VERSION=$APP_VERSION" .
fi

log "install the chart ($IMAGE)"
kind load docker-image "$IMAGE" --name "$CLUSTER"
helm --kube-context "kind-$CLUSTER" install tenant-operator charts/tenant-operator \
  --namespace "$NS" --create-namespace --wait --timeout 5m \
  --set image.repository="${IMAGE%:*}" --set image.tag="${IMAGE##*:}" \
  --set image.pullPolicy=IfNotPresent --set replicas=1

log "apply samples/ and wait until every tenant is Ready"
k apply -f samples/
k wait tenantservices --all --for=condition=Ready --timeout=5m

read -r -a tenants <<<"$(k get tenantservices -o jsonpath='{.items[*].metadata.name}')"
A="${TENANT_A:-${tenants[0]}}"
B="${TENANT_B:-${tenants[1]}}"
ns_of() { k get namespaces -l "tenancy.innova.puglia.it/tenant=$1" -o jsonpath='{.items[0].metadata.name}'; }
NS_A="$(ns_of "$A")"
NS_B="$(ns_of "$B")"
echo "tenant A: $A ($NS_A); tenant B: $B ($NS_B)"

# A pod that passes Pod Security "restricted": agnhost NAME NAMESPACE ARGS...
agnhost() {
  local name="$1" namespace="$2"; shift 2
  local args; args="$(printf '"%s",' "$@")"
  k apply -f - <<EOF
apiVersion: v1
kind: Pod
metadata: { name: $name, namespace: $namespace, labels: { app: $name } }
spec:
  securityContext: { runAsNonRoot: true, runAsUser: 65534, seccompProfile: { type: RuntimeDefault } }
  containers:
    - name: agnhost
      image: $PROBE_IMAGE
      args: [${args%,}]
      securityContext: { allowPrivilegeEscalation: false, capabilities: { drop: [ALL] } }
EOF
}

log "pod-to-pod connections"
agnhost e2e-server "$NS_A" netexec --http-port=8080
agnhost e2e-client "$NS_A" pause
agnhost e2e-client "$NS_B" pause
k wait pod/e2e-server -n "$NS_A" --for=condition=Ready --timeout=2m
k wait pod/e2e-client -n "$NS_A" --for=condition=Ready --timeout=2m
k wait pod/e2e-client -n "$NS_B" --for=condition=Ready --timeout=2m
SERVER="$(k get pod e2e-server -n "$NS_A" -o jsonpath='{.status.podIP}'):8080"

k exec -n "$NS_A" e2e-client -- /agnhost connect "$SERVER" --timeout=5s \
  || fail "same namespace: $NS_A could not reach its own server $SERVER"
echo "allowed: $NS_A -> $SERVER"
if k exec -n "$NS_B" e2e-client -- /agnhost connect "$SERVER" --timeout=5s; then
  fail "isolation: $NS_B reached $NS_A's server $SERVER"
fi
echo "denied: $NS_B -> $SERVER"

# Consent on both sides opens the way (samples/asl-bari.yaml and samples/regione-puglia.yaml
# allow each other): a pod of regione-puglia reaches asl-bari's prod server.
if [[ "$NS_A" == asl-bari-prod ]] && k get tenantservice regione-puglia >/dev/null 2>&1; then
  NS_C="$(ns_of regione-puglia)"
  agnhost e2e-client "$NS_C" pause
  k wait pod/e2e-client -n "$NS_C" --for=condition=Ready --timeout=2m
  k exec -n "$NS_C" e2e-client -- /agnhost connect "$SERVER" --timeout=5s \
    || fail "mutual consent: $NS_C could not reach $NS_A's server $SERVER"
  echo "allowed (mutual consent): $NS_C -> $SERVER"
  k delete pod e2e-client -n "$NS_C" --wait=false
fi

log "admission: LoadBalancer in a tenant namespace"
if k create service loadbalancer e2e-lb -n "$NS_B" --tcp=443:8443 2>&1 | tee /dev/stderr | grep -q created; then
  k delete service e2e-lb -n "$NS_B"
  [[ "$(k get ns "$NS_B" -o jsonpath='{.metadata.labels.tenancy\.innova\.puglia\.it/allow-load-balancer}')" == true ]] \
    || fail "a LoadBalancer Service was admitted in $NS_B, whose class does not allow it"
fi

log "admission: a cluster-wide editor deletes a managed NetworkPolicy"
k create clusterrolebinding e2e-cluster-editor --clusterrole=edit --user=e2e-editor
np="$(k get networkpolicies -n "$NS_A" -l app.kubernetes.io/managed-by=tenant-operator -o jsonpath='{.items[0].metadata.name}')"
if k delete networkpolicy "$np" -n "$NS_A" --as=e2e-editor; then
  fail "admission policy did not protect networkpolicy $NS_A/$np"
fi

log "passed"

#!/usr/bin/env bash
# Quick-start command 1: installs what is missing, builds, brings up a proxy lab on 127.0.0.1,
# runs `agentproxy probe` through each proxy as a user would from a laptop, then brings up a
# real Kubernetes control plane (scripts/cluster.sh: kube-apiserver, etcd and
# kube-controller-manager v1.36.3, RBAC enforced), installs the chart with helm, runs the
# operator as the chart's ServiceAccount, applies a Supported, a Warn and an Unsupported
# ProxyPolicy and creates an agent pod, showing each result with kubectl.
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
cd "$root"
scripts/setup.sh
scripts/build.sh >/dev/null
source scripts/lib/lab.sh
source scripts/lib/image.sh

echo "==> starting the lab: a TLS gRPC server (the management plane), an nginx ingress,"
echo "    tinyproxy, Squid 5.7 (plain, denying, SSL bump, bump+splice), mitmproxy"
start_lab "$root"

agentproxy=$root/build/bin/agentproxy
common=(--server-name "$LAB_SERVER_NAME" --target-ca "$LAB_TARGET_CA" --timeout 5s)
cases=(
  "tinyproxy, plain CONNECT|--proxy $LAB_TINYPROXY --target $LAB_TARGET"
  "Squid 5.7, plain CONNECT|--proxy $LAB_SQUID --target $LAB_INGRESS --websocket-path $LAB_WEBSOCKET_PATH"
  "mitmproxy, TLS interception keeping HTTP/2|--proxy $LAB_INTERCEPTOR --target $LAB_TARGET --trust-ca $LAB_INTERCEPTOR_CA"
  "Squid 5.7, SSL bump|--proxy $LAB_SQUID_BUMP --target $LAB_INGRESS --trust-ca $LAB_SQUID_BUMP_CA --websocket-path $LAB_WEBSOCKET_PATH"
  "Squid 5.7, SSL bump + splice (the remedy)|--proxy $LAB_SQUID_SPLICE --target $LAB_TARGET --trust-ca $LAB_SQUID_SPLICE_CA"
  "Squid 5.7 over TLS (an https:// proxy URL)|--proxy $LAB_SQUID_HTTPS --target $LAB_TARGET --trust-ca $LAB_TARGET_CA"
  "Squid 5.7, CONNECT denied|--proxy $LAB_SQUID_DENY --target $LAB_TARGET"
  "tinyproxy, wrong password|--proxy $LAB_TINYPROXY_AUTH_WRONG --target $LAB_TARGET"
)

summary=()
for c in "${cases[@]}"; do
  name=${c%%|*}
  read -r -a flags <<<"${c#*|}"
  echo
  echo "==> $name"
  echo "    \$ agentproxy probe ${flags[*]//:wrong@/:***@} ..."
  set +e
  out=$("$agentproxy" probe "${flags[@]}" "${common[@]}")
  code=$?
  set -e
  echo "$out" | sed 's/^/    /'
  class=$(echo "$out" | head -n 1 | sed 's/.*: //')
  summary+=("$(printf '%-44s %-12s exit %s' "$name" "$class" "$code")")
done

echo
echo "==> summary (exit status: 0 Supported, 1 Warn, 2 Unsupported)"
printf '    %s\n' "${summary[@]}"

echo
echo "==> a real control plane: kube-apiserver, etcd and kube-controller-manager v1.36.3, built"
echo "    from their Go modules (scripts/cluster.sh; no scheduler or kubelet: pods stay Pending)"
CLUSTER_DIR=$(mktemp -d /tmp/agentproxy-demo.XXXXXX)
trap 'stop_operator; scripts/cluster.sh down "$CLUSTER_DIR/cluster" >/dev/null 2>&1 || true; rm -rf "$CLUSTER_DIR"; stop_lab' EXIT
export KUBECONFIG
KUBECONFIG=$(scripts/cluster.sh up "$CLUSTER_DIR/cluster" --owner $$ 2> >(sed -u 's/^/    /' >&2) | tail -1)
export HOME=$CLUSTER_DIR/home  # kubectl's and helm's caches: one per run
mkdir -p "$HOME"
PATH=$(cat "$CLUSTER_DIR/cluster/bin"):$PATH  # the kubectl of the same build
webhook_port=$(/usr/bin/python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
echo
echo "==> the operator: helm install; then \`agentproxy run\` in place of its Deployment's pods (from"
echo "    the image when podman works here), with the chart's ServiceAccount token, the webhook"
echo "    served at a local URL"
echo "    \$ helm install agentproxy charts/agentproxy -n agentproxy-system --create-namespace \\"
echo "        --set webhook.url=https://127.0.0.1:$webhook_port/mutate-v1-pod"
helm install agentproxy charts/agentproxy -n agentproxy-system --create-namespace --wait=false \
  --set "webhook.url=https://127.0.0.1:$webhook_port/mutate-v1-pod" \
  | sed -n '1,/^NOTES/p' | grep -v '^NOTES' | sed 's/^/    /'
# What the kubelet would mount into the operator's pod: a TokenRequest token of its
# ServiceAccount. Every call the operator makes is authorised by the chart's RBAC.
kubectl -n agentproxy-system create token agentproxy --duration=2h >"$CLUSTER_DIR/operator.token"
server=$(kubectl config view --minify -o jsonpath='{.clusters[0].cluster.server}')
echo "    \$ kubectl auth can-i get secrets --as=system:serviceaccount:agentproxy-system:agentproxy -n default"
kubectl auth can-i get secrets --as=system:serviceaccount:agentproxy-system:agentproxy -n default \
  | sed 's/^/    /' || true
mapfile -t operator_args < <(kubectl -n agentproxy-system get deployment agentproxy \
  -o jsonpath='{range .spec.template.spec.containers[0].args[*]}{@}{"\n"}{end}' \
  | grep -v -e '^--metrics-addr' -e '^--health-addr' -e '^--webhook-addr')
health_port=$(/usr/bin/python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
# From the image when podman works here (as the chart's pod: uid 65532, read-only root, no
# capabilities, the token mounted where a pod has it), else as a local process; it says which.
start_operator "$root" agentproxy-local "$server" "$CLUSTER_DIR/cluster/ca.crt" \
  "$CLUSTER_DIR/operator.token" "${operator_args[@]}" --metrics-addr 0 \
  --health-addr "127.0.0.1:$health_port" --webhook-addr "127.0.0.1:$webhook_port"
operator_wait_ready "$health_port" 90 | sed 's/^/    the operator is /'
printf '    waiting for the operator to lead and write the webhook caBundle'
for _ in $(seq 300); do
  [[ -n $(kubectl get mutatingwebhookconfiguration agentproxy \
    -o jsonpath='{.webhooks[0].clientConfig.caBundle}' 2>/dev/null) ]] && break
  printf .
  sleep 0.2
done
echo " done"

kubectl -n agentproxy-system create configmap mgmt-ca --from-file=ca.crt="$LAB_TARGET_CA" >/dev/null
kubectl -n agentproxy-system create configmap squid-bump-ca --from-file=ca.crt="$LAB_SQUID_BUMP_CA" >/dev/null
kubectl -n agentproxy-system create configmap mitm-ca --from-file=ca.crt="$LAB_INTERCEPTOR_CA" >/dev/null
policy() {  # name proxy trust-configmap(optional) namespace-label-value
  cat <<YAML
apiVersion: agentproxy.io/v1alpha1
kind: ProxyPolicy
metadata: {name: $1}
spec:
  proxy: {httpsProxy: "$2", noProxy: [".corp.example"]}
$([[ -n ${3:-} ]] && printf '  trust:\n    caBundles: [{configMapRef: {namespace: agentproxy-system, name: %s, key: ca.crt}}]\n' "$3")
  targets:
    - address: "$LAB_INGRESS"
      serverName: $LAB_SERVER_NAME
      serverCA: {configMapRef: {namespace: agentproxy-system, name: mgmt-ca, key: ca.crt}}
      websocketPath: $LAB_WEBSOCKET_PATH
  selector:
    namespaceSelector: {matchLabels: {agentproxy.io/inject: $4}}
    podSelector: {matchLabels: {app: agent}}
---
YAML
}
echo
echo "    The model platform's (Palette's) agents are written in Go: a real policy says so with"
echo "    agentRuntimes: [go] (examples/), and then the Go verdict counts in the classification."
echo "    Here the management plane listens on 127.0.0.1, which every runtime's NO_PROXY sends"
echo "    direct, so these policies leave agentRuntimes out and are judged by the proxy alone;"
echo "    each target's runtime verdicts say so (TargetInNoProxy)."
echo "    \$ kubectl apply -f policies.yaml   # a plain Squid, mitmproxy (TLS interception), Squid with SSL bump"
{ policy corp-squid "$LAB_SQUID" "" corp-squid; policy corp-mitm "$LAB_INTERCEPTOR" mitm-ca corp-mitm
  policy corp-squid-bump "$LAB_SQUID_BUMP" squid-bump-ca corp-squid-bump; } \
  | kubectl apply -f - | sed 's/^/    /'
printf '    waiting for the three classifications'
for _ in $(seq 300); do
  classes=$(kubectl get proxypolicies -o jsonpath='{range .items[*]}{.status.classification}{" "}{end}')
  [[ $(wc -w <<<"$classes") -eq 3 ]] && break
  printf .
  sleep 0.2
done
echo " done"
echo
echo "    \$ kubectl get proxypolicies"
kubectl get proxypolicies | sed 's/^/    /'
got=$(kubectl get proxypolicies corp-squid corp-mitm corp-squid-bump \
  -o jsonpath='{range .items[*]}{.status.classification}{" "}{end}')
if [[ $got != "Supported Warn Unsupported " ]]; then
  echo "demo: expected corp-squid Supported, corp-mitm Warn, corp-squid-bump Unsupported; got: $got" >&2
  exit 1
fi
echo
echo "    \$ kubectl describe proxypolicy corp-squid-bump"
kubectl describe proxypolicy corp-squid-bump | sed 's/^/    /'

echo
echo "==> an agent pod in a namespace that corp-squid selects: the webhook injects it"
echo "    \$ kubectl create namespace agents; kubectl label namespace agents agentproxy.io/inject=corp-squid"
kubectl create namespace agents >/dev/null
kubectl label namespace agents agentproxy.io/inject=corp-squid >/dev/null
for _ in $(seq 200); do  # the CA bundle copy, and the ServiceAccount pods need, are in place
  kubectl -n agents get configmap agentproxy-ca-corp-squid >/dev/null 2>&1 &&
    kubectl -n agents get serviceaccount default >/dev/null 2>&1 && break
  sleep 0.1
done
echo "    \$ kubectl -n agents apply -f agent-pod.yaml   # a pod labelled app=agent, one container"
kubectl -n agents apply -f - >/dev/null <<'YAML'
apiVersion: v1
kind: Pod
metadata: {name: agent, labels: {app: agent}}
spec:
  containers: [{name: agent, image: "agent:1.0"}]
YAML
echo "    \$ kubectl -n agents get pod agent -o yaml   # what the webhook injected"
kubectl -n agents get pod agent -o json | /usr/bin/python3 -c "$(cat <<'PY'
import json, sys
pod = json.load(sys.stdin)
container = pod["spec"]["containers"][0]
print("    metadata.annotations:")
for key, value in sorted(pod["metadata"].get("annotations", {}).items()):
    if key.startswith("agentproxy.io/"):
        print(f"      {key}: {value}")
print("    containers[0].env:")
for e in container.get("env", []):
    value = e["value"] if "value" in e else json.dumps(e["valueFrom"])
    print(f"      {e['name']}={value}")
print("    containers[0].volumeMounts:")
for m in container.get("volumeMounts", []):
    print(f"      {m['name']} at {m['mountPath']} (readOnly: {m.get('readOnly', False)})")
print("    volumes:")
for v in pod["spec"].get("volumes", []):
    print(f"      {v['name']}: {json.dumps({k: x for k, x in v.items() if k != 'name'})}")
PY
)"
echo
echo "    \$ kubectl get proxypolicy corp-squid   # INJECTED counts pods running with the current injection"
for _ in $(seq 50); do
  [[ $(kubectl get proxypolicy corp-squid -o jsonpath='{.status.injectedPods}') == 1 ]] && break
  sleep 0.2
done
kubectl get proxypolicy corp-squid | sed 's/^/    /'

#!/usr/bin/env bash
# Quick-start command 1: installs what is missing, builds, brings up a proxy lab on 127.0.0.1,
# runs `agentproxy probe` through each proxy as a user would from a laptop, then runs the
# operator against the test API server and shows the result with kubectl.
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
cd "$root"
scripts/setup.sh
scripts/build.sh >/dev/null
source scripts/lib/lab.sh
source scripts/lib/apiserver.sh

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
echo "==> the operator: the test API server stands in for Kubernetes; agentproxy run and kubectl"
start_apiserver "$root"
trap 'stop_pid "${OPERATOR_PID:-}"; stop_apiserver; stop_lab' EXIT
kubectl apply -f crds/ | sed 's/^/    /'
kubectl create namespace agentproxy-system >/dev/null
kubectl -n agentproxy-system create configmap mgmt-ca --from-file=ca.crt="$LAB_TARGET_CA" >/dev/null
kubectl -n agentproxy-system create configmap squid-bump-ca --from-file=ca.crt="$LAB_SQUID_BUMP_CA" >/dev/null
kubectl -n agentproxy-system create configmap mitm-ca --from-file=ca.crt="$LAB_INTERCEPTOR_CA" >/dev/null
policy() {  # name proxy trust-configmap(optional)
  cat <<YAML
apiVersion: agentproxy.io/v1alpha1
kind: ProxyPolicy
metadata: {name: $1}
spec:
  proxy: {httpsProxy: "$2"}
$([[ -n ${3:-} ]] && printf '  trust:\n    caBundles: [{configMapRef: {namespace: agentproxy-system, name: %s, key: ca.crt}}]\n' "$3")
  targets:
    - address: "$LAB_INGRESS"
      serverName: $LAB_SERVER_NAME
      serverCA: {configMapRef: {namespace: agentproxy-system, name: mgmt-ca, key: ca.crt}}
      websocketPath: $LAB_WEBSOCKET_PATH
---
YAML
}
{ policy corp-squid "$LAB_SQUID"; policy corp-mitm "$LAB_INTERCEPTOR" mitm-ca
  policy corp-squid-bump "$LAB_SQUID_BUMP" squid-bump-ca; } | kubectl apply -f - | sed 's/^/    /'
"$agentproxy" run --metrics-addr 0 --health-addr 0 >"$API_WORK/operator.log" 2>&1 &
OPERATOR_PID=$!
for _ in $(seq 100); do
  classes=$(kubectl get proxypolicies -o jsonpath='{range .items[*]}{.status.classification}{" "}{end}')
  [[ $(wc -w <<<"$classes") -eq 3 ]] && break
  sleep 0.2
done
echo "    \$ kubectl get proxypolicies"
kubectl get proxypolicies | sed 's/^/    /'
echo
echo "    \$ kubectl describe proxypolicy corp-squid-bump"
kubectl describe proxypolicy corp-squid-bump | sed 's/^/    /'

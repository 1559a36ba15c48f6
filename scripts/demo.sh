#!/usr/bin/env bash
# Quick-start command 1: installs what is missing, builds, brings up a proxy lab on 127.0.0.1
# and runs `agentproxy probe` through each proxy, as a user would from a laptop.
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
cd "$root"
scripts/setup.sh
scripts/build.sh >/dev/null
source scripts/lib/lab.sh

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

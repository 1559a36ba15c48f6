# Sourced by the demo and the benchmarks: starts build/bin/proxy_lab (real Squid, tinyproxy,
# nginx, mitmproxy and a TLS gRPC server on 127.0.0.1), waits until it is ready, loads its
# addresses (LAB_*) into the environment, and stops it by PID when the caller exits.
source "$(dirname "${BASH_SOURCE[0]}")/process.sh"

start_lab() {
  local root=$1
  LAB_WORK=$(mktemp -d /tmp/agentproxy-lab.XXXXXX)
  "$root/build/bin/proxy_lab" --env-file "$LAB_WORK/lab.env" >"$LAB_WORK/stdout" 2>"$LAB_WORK/stderr" &
  LAB_PID=$!
  trap stop_lab EXIT
  wait_ready "$LAB_PID" 30 "$LAB_WORK/stderr" "the proxy lab" grep -q '^ready' "$LAB_WORK/stdout"
  set -a
  # shellcheck disable=SC1091
  source "$LAB_WORK/lab.env"
  set +a
}

stop_lab() {
  stop_pid "${LAB_PID:-}"
  [[ -n ${LAB_WORK:-} ]] && rm -rf "$LAB_WORK"
}

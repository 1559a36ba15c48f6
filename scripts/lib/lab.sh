# Sourced by the demo and the benchmarks: starts build/bin/proxy_lab (real Squid, tinyproxy,
# nginx, mitmproxy and a TLS gRPC server on 127.0.0.1), waits until it is ready, loads its
# addresses (LAB_*) into the environment, and stops it by PID when the caller exits.

start_lab() {
  local root=$1
  LAB_WORK=$(mktemp -d /tmp/agentproxy-lab.XXXXXX)
  "$root/build/bin/proxy_lab" --env-file "$LAB_WORK/lab.env" >"$LAB_WORK/stdout" 2>"$LAB_WORK/stderr" &
  LAB_PID=$!
  trap stop_lab EXIT
  local waited=0
  until grep -q '^ready' "$LAB_WORK/stdout" 2>/dev/null; do
    if ! kill -0 "$LAB_PID" 2>/dev/null || ((waited > 300)); then
      echo "the proxy lab did not start:" >&2
      cat "$LAB_WORK/stderr" >&2
      return 1
    fi
    sleep 0.1
    waited=$((waited + 1))
  done
  # shellcheck disable=SC1091
  set -a
  source "$LAB_WORK/lab.env"
  set +a
}

stop_lab() {
  if [[ -n ${LAB_PID:-} ]] && kill -0 "$LAB_PID" 2>/dev/null; then
    kill -TERM "$LAB_PID" 2>/dev/null || true
    wait "$LAB_PID" 2>/dev/null || true
  fi
  [[ -n ${LAB_WORK:-} ]] && rm -rf "$LAB_WORK"
}

# Sourced by the demo: starts the project's test API server (tests/apiserver, a stand-in for
# Kubernetes that the real kubectl and helm work against), points KUBECONFIG at it, and stops
# it by PID when the caller exits (after the proxy lab, if both run).

start_apiserver() {
  local root=$1
  API_WORK=$(mktemp -d /tmp/agentproxy-api.XXXXXX)
  /usr/bin/python3 -B "$root/tests/apiserver/kube_apiserver.py" --dir "$API_WORK" \
    >"$API_WORK/log" 2>&1 &
  API_PID=$!
  local waited=0
  until [[ -f $API_WORK/ready.json ]]; do
    if ! kill -0 "$API_PID" 2>/dev/null || ((waited > 100)); then
      echo "the test API server did not start:" >&2
      cat "$API_WORK/log" >&2
      return 1
    fi
    sleep 0.1
    waited=$((waited + 1))
  done
  export KUBECONFIG=$API_WORK/kubeconfig
  # kubectl keeps a discovery cache under HOME: one per run, so no stale API list.
  export HOME=$API_WORK/home
}

stop_apiserver() {
  if [[ -n ${API_PID:-} ]] && kill -0 "$API_PID" 2>/dev/null; then
    kill -TERM "$API_PID" 2>/dev/null || true
    wait "$API_PID" 2>/dev/null || true
  fi
  [[ -n ${API_WORK:-} ]] && rm -rf "$API_WORK"
}

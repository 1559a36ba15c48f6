# Sourced by the demo: starts the project's test API server (tests/apiserver, a stand-in for
# Kubernetes that the real kubectl and helm work against), points KUBECONFIG at it, and stops
# it by PID with stop_apiserver.
source "$(dirname "${BASH_SOURCE[0]}")/process.sh"

start_apiserver() {
  local root=$1
  API_WORK=$(mktemp -d /tmp/agentproxy-api.XXXXXX)
  /usr/bin/python3 -B "$root/tests/apiserver/kube_apiserver.py" --dir "$API_WORK" \
    >"$API_WORK/log" 2>&1 &
  API_PID=$!
  wait_ready "$API_PID" 10 "$API_WORK/log" "the test API server" test -f "$API_WORK/ready.json"
  export KUBECONFIG=$API_WORK/kubeconfig
  # kubectl keeps a discovery cache under HOME: one per run, so no stale API list.
  export HOME=$API_WORK/home
}

stop_apiserver() {
  stop_pid "${API_PID:-}"
  [[ -n ${API_WORK:-} ]] && rm -rf "$API_WORK"
}

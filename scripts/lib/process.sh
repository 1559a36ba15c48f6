# Sourced by lab.sh: waiting for a background process to be ready, and
# stopping it by PID.

# wait_ready PID SECONDS LOG WHAT CHECK...: runs CHECK every 0.1 s until it succeeds; fails
# with LOG's content when PID exits first or SECONDS pass.
wait_ready() {
  local pid=$1 seconds=$2 log=$3 what=$4
  shift 4
  local tries=$((seconds * 10))
  until "$@" 2>/dev/null; do
    if ! kill -0 "$pid" 2>/dev/null || ((tries-- <= 0)); then
      echo "$what did not start:" >&2
      cat "$log" >&2
      return 1
    fi
    sleep 0.1
  done
}

# stop_pid PID: SIGTERM, then wait for it.
stop_pid() {
  if [[ -n ${1:-} ]] && kill -0 "$1" 2>/dev/null; then
    kill -TERM "$1" 2>/dev/null || true
    wait "$1" 2>/dev/null || true
  fi
}

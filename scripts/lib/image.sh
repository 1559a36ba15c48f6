# Sourced by scripts/image.sh and the demo: podman as it works on this machine kind (runc, the
# host network, rlimits below the machine's: see FIELD-NOTES.md), the chart's securityContext
# as podman flags, and starting/stopping the operator from the image.
#
#   source scripts/lib/image.sh
#   image_podman_works || echo "no podman here"
#   start_operator_image NAME TOKEN_FILE CA_FILE API_HOST API_PORT [agentproxy run flags...]
#   image_wait_ready NAME HEALTH_PORT SECONDS
#   stop_operator_image NAME

AGENTPROXY_IMAGE=${AGENTPROXY_IMAGE:-agentproxy:dev}
# crun refuses this machine's hybrid cgroup layout; runc works.
IMAGE_PODMAN=(podman --runtime runc)
# The host network (127.0.0.1 is the machine's: the lab, the control plane), and rlimits the
# sandbox allows (podman's defaults are refused with "setrlimit: Operation not permitted").
IMAGE_RUN_FLAGS=(--network host --ulimit nofile=1024:1024 --ulimit nproc=1024:1024)
# The chart's securityContext (charts/agentproxy/values.yaml): runAsUser 65532,
# readOnlyRootFilesystem, capabilities drop ALL, allowPrivilegeEscalation false, seccomp
# RuntimeDefault (podman's default profile); its /tmp emptyDir (16Mi) as a tmpfs. podman's
# own tmpfs mounts for a read-only container (/run, /var/tmp) are turned off: a pod has none.
IMAGE_SECURITY_FLAGS=(--user 65532:65532 --read-only --read-only-tmpfs=false --cap-drop ALL
  --security-opt no-new-privileges --tmpfs /tmp:rw,size=16m,mode=1777)
# Where a pod finds its ServiceAccount.
IMAGE_SA_DIR=/var/run/secrets/kubernetes.io/serviceaccount

# image_podman_works: podman is installed and runs a container here (as root, with runc). Quiet.
image_podman_works() {
  command -v podman >/dev/null 2>&1 && command -v runc >/dev/null 2>&1 || return 1
  [[ $(id -u) -eq 0 ]] || return 1
  "${IMAGE_PODMAN[@]}" info >/dev/null 2>&1
}

# image_exists [IMAGE]: the image is in podman's local storage.
image_exists() {
  "${IMAGE_PODMAN[@]}" image exists "${1:-$AGENTPROXY_IMAGE}" 2>/dev/null
}

# start_operator_image NAME TOKEN_FILE CA_FILE API_HOST API_PORT [FLAGS...]: starts
# `agentproxy run FLAGS...` from $AGENTPROXY_IMAGE as a pod of the chart would run it: the
# chart's securityContext, the ServiceAccount's token and the cluster CA mounted at
# /var/run/secrets/kubernetes.io/serviceaccount (with the namespace file), and
# KUBERNETES_SERVICE_HOST/PORT set, so that the operator takes the in-cluster config path.
# POD_NAME is NAME, POD_NAMESPACE is $OPERATOR_NAMESPACE (default agentproxy-system). The
# container is detached and named NAME; its log is `podman logs NAME`. Sets OPERATOR_STARTED
# (epoch seconds with decimals) for image_wait_ready's timing.
start_operator_image() {
  local name=$1 token=$2 ca=$3 host=$4 port=$5
  shift 5
  local namespace=${OPERATOR_NAMESPACE:-agentproxy-system}
  local sa
  sa=$(mktemp -d /tmp/agentproxy-sa.XXXXXX)
  install -m 0644 "$token" "$sa/token"
  install -m 0644 "$ca" "$sa/ca.crt"
  printf '%s' "$namespace" >"$sa/namespace"
  chmod 0755 "$sa"
  OPERATOR_STARTED=$(date +%s.%N)
  # The label tells stop_operator_image, from any shell, what to remove with the container.
  "${IMAGE_PODMAN[@]}" run -d --name "$name" "${IMAGE_RUN_FLAGS[@]}" "${IMAGE_SECURITY_FLAGS[@]}" \
    --label "io.agentproxy.sa-dir=$sa" -v "$sa:$IMAGE_SA_DIR:ro" \
    -e KUBERNETES_SERVICE_HOST="$host" -e KUBERNETES_SERVICE_PORT="$port" \
    -e POD_NAME="$name" -e POD_NAMESPACE="$namespace" \
    "$AGENTPROXY_IMAGE" "$@" >/dev/null
}

# image_wait_ready NAME HEALTH_PORT SECONDS: waits for http://127.0.0.1:HEALTH_PORT/readyz to
# answer 200; prints the time since start_operator_image started the container. Fails with
# the container's log when it exits or SECONDS pass.
image_wait_ready() {
  local name=$1 port=$2 seconds=$3
  local deadline=$((SECONDS + seconds))
  until curl -fsS -o /dev/null "http://127.0.0.1:$port/readyz" 2>/dev/null; do
    if [[ $("${IMAGE_PODMAN[@]}" inspect -f '{{.State.Running}}' "$name" 2>/dev/null) != true ]] ||
      ((SECONDS >= deadline)); then
      echo "the operator's container $name did not become ready:" >&2
      "${IMAGE_PODMAN[@]}" logs "$name" >&2 2>&1 || true
      return 1
    fi
    sleep 0.1
  done
  awk -v s="$OPERATOR_STARTED" -v n="$(date +%s.%N)" \
    'BEGIN { printf "ready %.2f s after podman run\n", n - s }'
}

# stop_operator_image NAME: stops the container (SIGTERM, then SIGKILL after 10 s) and removes
# it with the ServiceAccount files start_operator_image wrote. The exit status is then gone:
# read it first (`podman wait NAME` after `podman stop`) when it matters.
stop_operator_image() {
  local sa
  sa=$("${IMAGE_PODMAN[@]}" inspect -f '{{index .Config.Labels "io.agentproxy.sa-dir"}}' "$1" \
    2>/dev/null) || return 0
  "${IMAGE_PODMAN[@]}" stop -t 10 "$1" >/dev/null 2>&1 || true
  "${IMAGE_PODMAN[@]}" rm -f "$1" >/dev/null 2>&1 || true
  [[ $sa == /tmp/agentproxy-sa.* ]] && rm -rf "$sa"
  return 0
}

# --- for the demo: the operator from the image when podman works here, else as a process ----
#
#   start_operator ROOT NAME SERVER CA_FILE TOKEN_FILE [agentproxy run flags...]
#   operator_wait_ready HEALTH_PORT SECONDS
#   operator_logs
#   stop_operator
#
# SERVER is the API server's https://HOST:PORT, CA_FILE its CA, TOKEN_FILE a ServiceAccount
# token (kubectl create token). From the image, the operator takes the in-cluster config path
# (start_operator_image); as a local process (ROOT/build/bin/agentproxy) a kubeconfig with the
# same token, so that it has the same rights either way. AGENTPROXY_OPERATOR=image or process
# forces one (image then fails when podman does not work). The image is first brought up to
# date with ROOT/build/bin/agentproxy (scripts/image.sh --runtime-only: a second or two, about
# 2 to 3 minutes when the Debian base is not cached yet). Prints which it chose; sets
# OPERATOR_MODE (image or process).
start_operator() {
  local root=$1 name=$2 server=$3 ca=$4 token=$5
  shift 5
  local why=""
  OPERATOR_NAME=$name OPERATOR_MODE=${AGENTPROXY_OPERATOR:-}
  if [[ -z $OPERATOR_MODE ]]; then
    image_podman_works || why="podman does not run containers here"
    OPERATOR_MODE=$([[ -z $why ]] && echo image || echo process)
  fi
  case $OPERATOR_MODE in
    image)
      # The image around the binary just built: its summary lines shown, the rest logged.
      local log
      log=$(mktemp /tmp/agentproxy-image-build.XXXXXX)
      echo "    \$ scripts/image.sh --runtime-only   # $AGENTPROXY_IMAGE around the binary"
      if ! "$root/scripts/image.sh" --runtime-only --tag "$AGENTPROXY_IMAGE" 2>&1 | tee "$log" |
        grep --line-buffered -E '^image: .*(making|still|base made|built|size)' |
        sed 's/^/    /'; then
        echo "scripts/image.sh failed:" >&2
        tail -30 "$log" >&2
        rm -f "$log"
        return 1
      fi
      rm -f "$log"
      local hostport=${server#https://}
      hostport=${hostport%%/*}
      echo "    the operator runs from the image $AGENTPROXY_IMAGE (podman, as the chart's pod:" \
        "uid 65532, read-only root, no capabilities, the ServiceAccount's token mounted)"
      start_operator_image "$name" "$token" "$ca" "${hostport%:*}" "${hostport##*:}" "$@"
      ;;
    process)
      echo "    the operator runs as a local process (build/bin/agentproxy${why:+; $why})"
      OPERATOR_WORK=$(mktemp -d /tmp/agentproxy-operator.XXXXXX)
      cat >"$OPERATOR_WORK/kubeconfig" <<KUBECONFIG
apiVersion: v1
kind: Config
clusters: [{name: cluster, cluster: {server: "$server", certificate-authority: "$ca"}}]
users: [{name: operator, user: {tokenFile: "$token"}}]
contexts: [{name: operator, context: {cluster: cluster, user: operator}}]
current-context: operator
KUBECONFIG
      OPERATOR_STARTED=$(date +%s.%N)
      POD_NAME=$name POD_NAMESPACE=${OPERATOR_NAMESPACE:-agentproxy-system} \
        "$root/build/bin/agentproxy" run --kubeconfig "$OPERATOR_WORK/kubeconfig" "$@" \
        >"$OPERATOR_WORK/log" 2>&1 &
      OPERATOR_PID=$!
      ;;
    *)
      echo "AGENTPROXY_OPERATOR must be image or process (got \"$OPERATOR_MODE\")" >&2
      return 1
      ;;
  esac
}

# operator_wait_ready HEALTH_PORT SECONDS: until /readyz answers; prints the time since
# start_operator started it. Fails with the operator's log when it exits or SECONDS pass.
operator_wait_ready() {
  if [[ $OPERATOR_MODE == image ]]; then
    image_wait_ready "$OPERATOR_NAME" "$1" "$2"
    return
  fi
  local deadline=$((SECONDS + $2))
  until curl -fsS -o /dev/null "http://127.0.0.1:$1/readyz" 2>/dev/null; do
    if ! kill -0 "$OPERATOR_PID" 2>/dev/null || ((SECONDS >= deadline)); then
      echo "the operator did not become ready:" >&2
      cat "$OPERATOR_WORK/log" >&2
      return 1
    fi
    sleep 0.1
  done
  awk -v s="$OPERATOR_STARTED" -v n="$(date +%s.%N)" \
    'BEGIN { printf "ready %.2f s after it started\n", n - s }'
}

operator_logs() {
  if [[ $OPERATOR_MODE == image ]]; then
    "${IMAGE_PODMAN[@]}" logs "$OPERATOR_NAME" 2>&1
  else
    cat "$OPERATOR_WORK/log"
  fi
}

# stop_operator: SIGTERM (and for the image, SIGKILL after 10 s), then cleans up.
stop_operator() {
  if [[ ${OPERATOR_MODE:-} == image ]]; then
    stop_operator_image "$OPERATOR_NAME"
  elif [[ -n ${OPERATOR_PID:-} ]]; then
    if kill -0 "$OPERATOR_PID" 2>/dev/null; then
      kill -TERM "$OPERATOR_PID" 2>/dev/null || true
      wait "$OPERATOR_PID" 2>/dev/null || true
    fi
    rm -rf "$OPERATOR_WORK"
  fi
  OPERATOR_MODE="" OPERATOR_PID=""
}

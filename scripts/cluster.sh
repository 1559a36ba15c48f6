#!/usr/bin/env bash
# A real local Kubernetes control plane for the tests, the demo and a person trying things:
# etcd (data on tmpfs), kube-apiserver on 127.0.0.1 (its own CA and serving certificate,
# client-certificate users, service-account signing keys, Node,RBAC authorization, an audit
# log) and kube-controller-manager (garbage collector, namespace, deployment, replicaset and
# service-account controllers), v1.36.3, built from Go modules by controlplane-build.sh.
# No scheduler and no kubelet run here, so pods are stored but stay Pending.
#
#   scripts/cluster.sh up [DIR] [--owner PID]   start one; the last line printed is the admin
#                                               kubeconfig's path. DIR defaults to a new
#                                               /tmp/agentproxy-cluster.XXXXXX. With --owner,
#                                               the cluster is stopped when PID exits.
#   scripts/cluster.sh down DIR                 stop everything it started, by PID; remove DIR
#   scripts/cluster.sh restart apiserver|etcd|controller-manager DIR
#                                               stop one component and start it again (faults)
#   scripts/cluster.sh stop apiserver|etcd|controller-manager DIR
#   scripts/cluster.sh start apiserver|etcd|controller-manager DIR
#   scripts/cluster.sh compact DIR              compact etcd at its current revision
#   scripts/cluster.sh bin                      print the folder of the control plane binaries
#
# Several clusters run at once: every port is chosen free. Environment for `up`:
#   CLUSTER_APISERVER_ARGS   extra kube-apiserver flags (e.g. --max-requests-inflight=5)
# DIR holds: admin.kubeconfig, ca.crt, audit.log, *.log, ports.env, *.pid.
set -euo pipefail
root="$(cd "$(dirname "$0")/.." && pwd)"

log() { echo "cluster: $*" >&2; }
die() { echo "cluster: $*" >&2; exit 1; }

free_port() {
  /usr/bin/python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'
}

# --- certificates (openssl) ----------------------------------------------------------------
make_certs() {
  local d=$1/pki
  mkdir -p "$d"
  openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:prime256v1 -nodes -days 3650 \
    -subj "/CN=agentproxy-local-cluster-ca" -keyout "$d/ca.key" -out "$d/ca.crt" 2>/dev/null
  # leaf NAME SUBJECT [EXTENSIONS]
  leaf() {
    local name=$1 subject=$2 ext=${3:-"extendedKeyUsage=clientAuth"}
    openssl req -newkey ec -pkeyopt ec_paramgen_curve:prime256v1 -nodes -subj "$subject" \
      -keyout "$d/$name.key" -out "$d/$name.csr" 2>/dev/null
    openssl x509 -req -in "$d/$name.csr" -CA "$d/ca.crt" -CAkey "$d/ca.key" -CAcreateserial \
      -days 3650 -out "$d/$name.crt" -extfile <(printf '%s\n' "basicConstraints=CA:FALSE" \
      "keyUsage=digitalSignature,keyEncipherment" "$ext") 2>/dev/null
    rm -f "$d/$name.csr"
  }
  leaf apiserver "/CN=kube-apiserver" "$(printf '%s\n' "extendedKeyUsage=serverAuth" \
    "subjectAltName=IP:127.0.0.1,IP:10.96.0.1,DNS:localhost,DNS:kubernetes,DNS:kubernetes.default,DNS:kubernetes.default.svc,DNS:kubernetes.default.svc.cluster.local")"
  leaf admin "/O=system:masters/CN=admin"
  leaf controller-manager "/CN=system:kube-controller-manager"
  # The service-account token signing key pair.
  openssl genpkey -algorithm RSA -pkeyopt rsa_keygen_bits:2048 -out "$d/sa.key" 2>/dev/null
  openssl pkey -in "$d/sa.key" -pubout -out "$d/sa.pub" 2>/dev/null
  cp "$d/ca.crt" "$1/ca.crt"
  chmod 600 "$d"/*.key
}

kubeconfig() {  # kubeconfig FILE USER
  local file=$1 user=$2 dir
  dir=$(dirname "$file")
  cat >"$file" <<EOF
apiVersion: v1
kind: Config
clusters:
- name: local
  cluster:
    server: https://127.0.0.1:$APISERVER_PORT
    certificate-authority: $dir/pki/ca.crt
users:
- name: $user
  user:
    client-certificate: $dir/pki/$user.crt
    client-key: $dir/pki/$user.key
contexts:
- name: local
  context: {cluster: local, user: $user, namespace: default}
current-context: local
EOF
  chmod 600 "$file"
}

# --- processes -----------------------------------------------------------------------------
# start_process DIR NAME ARGS...: runs in the background with its log, records its PID.
start_process() {
  local dir=$1 name=$2
  shift 2
  "$@" >>"$dir/$name.log" 2>&1 </dev/null &
  echo $! >"$dir/$name.pid"
}

stop_process() {  # stop_process DIR NAME: SIGTERM, up to 10 s, then SIGKILL
  local dir=$1 name=$2 pid
  [[ -f $dir/$name.pid ]] || return 0
  pid=$(cat "$dir/$name.pid")
  rm -f "$dir/$name.pid"
  kill -0 "$pid" 2>/dev/null || return 0
  kill -TERM "$pid" 2>/dev/null || true
  for _ in $(seq 100); do kill -0 "$pid" 2>/dev/null || return 0; sleep 0.1; done
  log "$name (PID $pid) did not stop in 10 s: SIGKILL"
  kill -KILL "$pid" 2>/dev/null || true
  while kill -0 "$pid" 2>/dev/null; do sleep 0.05; done
}

# wait_until DIR NAME SECONDS CHECK...: until CHECK succeeds; fails with the log's tail when
# the process exits first or time runs out.
wait_until() {
  local dir=$1 name=$2 seconds=$3 pid
  shift 3
  pid=$(cat "$dir/$name.pid")
  local deadline=$((SECONDS + seconds))
  until "$@" >/dev/null 2>&1; do
    if ! kill -0 "$pid" 2>/dev/null; then
      log "$name exited while starting; the end of $dir/$name.log:"
      tail -25 "$dir/$name.log" >&2
      return 1
    fi
    if ((SECONDS >= deadline)); then
      log "$name was not ready in $seconds s; the end of $dir/$name.log:"
      tail -25 "$dir/$name.log" >&2
      return 1
    fi
    sleep 0.2
  done
}

start_etcd() {
  local dir=$1
  # shellcheck disable=SC1091
  source "$dir/ports.env"
  mkdir -p "$ETCD_DATA"
  start_process "$dir" etcd "$BIN/etcd" --name local --data-dir "$ETCD_DATA" --unsafe-no-fsync \
    --listen-client-urls "http://127.0.0.1:$ETCD_PORT" \
    --advertise-client-urls "http://127.0.0.1:$ETCD_PORT" \
    --listen-peer-urls "http://127.0.0.1:$ETCD_PEER_PORT" \
    --initial-advertise-peer-urls "http://127.0.0.1:$ETCD_PEER_PORT" \
    --initial-cluster "local=http://127.0.0.1:$ETCD_PEER_PORT" \
    --listen-metrics-urls "http://127.0.0.1:$ETCD_METRICS_PORT" \
    --log-level warn
  wait_until "$dir" etcd 30 curl -fsS "http://127.0.0.1:$ETCD_PORT/health"
}

start_apiserver() {
  local dir=$1
  # shellcheck disable=SC1091
  source "$dir/ports.env"
  local extra=()
  [[ -f $dir/apiserver.args ]] && read -r -a extra <"$dir/apiserver.args"
  mkdir -p "$dir/apiserver-certs"
  start_process "$dir" apiserver "$BIN/kube-apiserver" \
    --etcd-servers "http://127.0.0.1:$ETCD_PORT" \
    --bind-address 127.0.0.1 --advertise-address 127.0.0.1 --secure-port "$APISERVER_PORT" \
    --cert-dir "$dir/apiserver-certs" \
    --tls-cert-file "$dir/pki/apiserver.crt" --tls-private-key-file "$dir/pki/apiserver.key" \
    --client-ca-file "$dir/pki/ca.crt" \
    --authorization-mode Node,RBAC \
    --service-account-issuer https://kubernetes.default.svc.cluster.local \
    --service-account-key-file "$dir/pki/sa.pub" \
    --service-account-signing-key-file "$dir/pki/sa.key" \
    --service-cluster-ip-range 10.96.0.0/12 \
    --endpoint-reconciler-type none \
    --allow-privileged \
    --audit-policy-file "$dir/audit-policy.yaml" --audit-log-path "$dir/audit.log" \
    --audit-log-maxsize 0 --audit-log-format json \
    --profiling=false \
    "${extra[@]}"
  wait_until "$dir" apiserver 90 curl -fsS --cacert "$dir/pki/ca.crt" \
    --cert "$dir/pki/admin.crt" --key "$dir/pki/admin.key" \
    "https://127.0.0.1:$APISERVER_PORT/readyz"
}

start_controller_manager() {
  local dir=$1
  # shellcheck disable=SC1091
  source "$dir/ports.env"
  start_process "$dir" controller-manager "$BIN/kube-controller-manager" \
    --kubeconfig "$dir/controller-manager.kubeconfig" \
    --leader-elect=false --bind-address 127.0.0.1 --secure-port 0 \
    --controllers garbage-collector-controller,namespace-controller,deployment-controller,replicaset-controller,serviceaccount-controller,serviceaccount-token-controller \
    --use-service-account-credentials \
    --service-account-private-key-file "$dir/pki/sa.key" --root-ca-file "$dir/pki/ca.crt" \
    --cluster-name local
  # Ready when it has created the default namespace's ServiceAccount.
  wait_until "$dir" controller-manager 60 "$BIN/kubectl" --kubeconfig "$dir/admin.kubeconfig" \
    -n default get serviceaccount default
}

# --- commands ------------------------------------------------------------------------------
cmd_up() {
  local dir="" owner=""
  while (($#)); do
    case $1 in
      --owner) owner=$2; shift 2 ;;
      -*) die "up: unknown option $1" ;;
      *) dir=$1; shift ;;
    esac
  done
  local start=$SECONDS
  if [[ -z $dir ]]; then dir=$(mktemp -d /tmp/agentproxy-cluster.XXXXXX); else mkdir -p "$dir"; fi
  dir=$(cd "$dir" && pwd)
  [[ ! -f $dir/apiserver.pid ]] || die "up: $dir already holds a cluster (scripts/cluster.sh down $dir)"
  command -v openssl >/dev/null && command -v curl >/dev/null || die "up: needs openssl and curl"
  echo "$BIN" >"$dir/bin"
  APISERVER_PORT=$(free_port)
  cat >"$dir/ports.env" <<EOF
APISERVER_PORT=$APISERVER_PORT
ETCD_PORT=$(free_port)
ETCD_PEER_PORT=$(free_port)
ETCD_METRICS_PORT=$(free_port)
ETCD_DATA=/dev/shm/agentproxy-etcd-${dir##*/}
EOF
  echo "${CLUSTER_APISERVER_ARGS:-}" >"$dir/apiserver.args"
  # Every request at Metadata level (who, verb, resource, subresource, namespace, code), once
  # it is answered: what the RBAC test reads. Long-running watches log when they end too.
  cat >"$dir/audit-policy.yaml" <<'EOF'
apiVersion: audit.k8s.io/v1
kind: Policy
omitStages: [RequestReceived]
rules:
  - level: Metadata
EOF
  make_certs "$dir"
  kubeconfig "$dir/admin.kubeconfig" admin
  kubeconfig "$dir/controller-manager.kubeconfig" controller-manager
  trap 'log "up failed: stopping what started"; cmd_down "$dir" >/dev/null 2>&1 || true' ERR
  log "etcd starting"
  start_etcd "$dir"
  log "kube-apiserver starting (port $APISERVER_PORT)"
  start_apiserver "$dir"
  log "kube-controller-manager starting"
  start_controller_manager "$dir"
  trap - ERR
  if [[ -n $owner ]]; then
    # A watchdog: when the owner dies (a test killed at its timeout), the cluster goes too.
    (
      trap '' HUP
      while kill -0 "$owner" 2>/dev/null && [[ -f $dir/apiserver.pid || -f $dir/etcd.pid ]]; do sleep 1; done
      [[ -f $dir/etcd.pid ]] && "$0" down "$dir" >/dev/null 2>&1
    ) </dev/null >/dev/null 2>&1 &
    disown
  fi
  log "up in $((SECONDS - start)) s: $("$BIN/kubectl" --kubeconfig "$dir/admin.kubeconfig" version -o json | /usr/bin/python3 -c 'import json,sys; print(json.load(sys.stdin)["serverVersion"]["gitVersion"])') at https://127.0.0.1:$APISERVER_PORT ($dir)"
  echo "$dir/admin.kubeconfig"
}

cluster_dir() {  # accepts DIR or DIR/admin.kubeconfig
  local d=$1
  [[ -f $d ]] && d=$(dirname "$d")
  [[ -f $d/ports.env ]] || die "$1 is not a cluster folder (no ports.env)"
  (cd "$d" && pwd)
}

cmd_down() {
  local dir
  dir=$(cluster_dir "${1:?down needs the cluster folder}")
  # shellcheck disable=SC1091
  source "$dir/ports.env"
  stop_process "$dir" controller-manager
  stop_process "$dir" apiserver
  stop_process "$dir" etcd
  rm -rf "$ETCD_DATA"
  [[ ${2:-} == --keep ]] || rm -rf "$dir"
}

component() {
  case $1 in
    apiserver) echo apiserver ;;
    etcd) echo etcd ;;
    controller-manager) echo controller-manager ;;
    *) die "unknown component $1 (apiserver, etcd or controller-manager)" ;;
  esac
}

cmd_stop() { stop_process "$(cluster_dir "$2")" "$(component "$1")"; }
cmd_start() {
  local dir name
  dir=$(cluster_dir "$2")
  name=$(component "$1")
  [[ ! -f $dir/$name.pid ]] || die "start: $name is running"
  "start_${name//-/_}" "$dir"
}

cmd_compact() {
  local dir revision
  dir=$(cluster_dir "$1")
  # shellcheck disable=SC1091
  source "$dir/ports.env"
  # etcd's JSON gateway: the current revision from a range read, then compact at it.
  revision=$(curl -fsS "http://127.0.0.1:$ETCD_PORT/v3/kv/range" -d '{"key": "AA=="}' |
    /usr/bin/python3 -c 'import json,sys; print(json.load(sys.stdin)["header"]["revision"])')
  curl -fsS "http://127.0.0.1:$ETCD_PORT/v3/kv/compaction" \
    -d "{\"revision\": \"$revision\", \"physical\": true}" >/dev/null
  echo "$revision"
}

cmd=${1:-}
[[ -n $cmd ]] || die "usage: cluster.sh up [DIR] [--owner PID] | down DIR | restart|stop|start COMPONENT DIR | compact DIR | bin"
shift
if [[ $cmd == up || $cmd == bin ]]; then
  BIN=$("$root/scripts/controlplane-build.sh" | tail -1)
else
  dir_arg=${*: -1}
  BIN=$(cat "$(cluster_dir "$dir_arg")/bin")
fi
case $cmd in
  up) cmd_up "$@" ;;
  down) cmd_down "$@" ;;
  stop) cmd_stop "$@" ;;
  start) cmd_start "$@" ;;
  restart) cmd_stop "$@"; cmd_start "$@" ;;
  compact) cmd_compact "$@" ;;
  bin) echo "$BIN" ;;
  *) die "unknown command $cmd" ;;
esac

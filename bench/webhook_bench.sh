#!/usr/bin/env bash
# Admission webhook benchmark (figures, not pass/fail), all on 127.0.0.1 over TLS, with
# bench/webhook_loadgen (OpenSSL, keep-alive) POSTing a ~3.7 KB AdmissionReview (a Pod with two
# containers, an init container, env, volumes, labels) to /mutate-v1-pod?timeout=10s:
#   closed loop  N keep-alive connections (default 32, 2 client threads), max answers/s
#   open loop    a steady 1,000 requests/s for 10 s on 16 connections, p50/p99/max latency
# against, in turn:
#   nginx        /usr/sbin/nginx answering every POST with a static ~3 KB JSON (the reference)
#   nginx-same   nginx answering with the very bytes AdmissionServer answers (~8.7 KB)
#   beast        webhook_bench_server --impl beast: AdmissionServer (the server the operator
#                ships), 2 threads, with the real mutation: webhook::admitPod(), the handler
#                `agentproxy run` installs, over 2 ProxyPolicies prepared as the operator does
#   cpprest      the same handler behind a cpprestsdk http_listener with a 2-thread pool
#   beast-static, cpprest-static
#                the same servers answering the mutation's answer computed once: the HTTPS
#                stacks alone, without the mutation's cost
# and prints req/s, the ratio to nginx (target >= 0.3), p99 at 1000 rps (target <= 2 ms) and the
# server's peak RSS, VmHWM (target <= 40 MB). Every process is started here and stopped by PID.
# Usage: bench/webhook_bench.sh [connections]
#   BUILD_DIR (default ./build), SECONDS_PER_RUN (10), RATE (1000), SERVERS (default all of the
#   above), AGENTPROXY_JOBS (build parallelism, 2), KEEP_WORK=1 keeps the temp dir.
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
build=${BUILD_DIR:-$root/build}
connections=${1:-32}
seconds=${SECONDS_PER_RUN:-10}
rate=${RATE:-1000}
servers=${SERVERS:-nginx nginx-same beast beast-static cpprest cpprest-static}

if [[ ! -f $build/build.ninja ]]; then
  cmake -S "$root" -B "$build" -G Ninja -DCMAKE_BUILD_TYPE=RelWithDebInfo >/dev/null
fi
cmake --build "$build" -j "${AGENTPROXY_JOBS:-2}" --target webhook_bench_server webhook_loadgen \
  >/dev/null
bin=$build/bin
python=/usr/bin/python3

work=$(mktemp -d /tmp/webhook-bench.XXXXXX)
[[ -n ${KEEP_WORK:-} ]] && echo "work dir: $work"
server_pid=""
stop_server() {
  if [[ -n $server_pid ]]; then
    kill -TERM "$server_pid" 2>/dev/null || true
    wait "$server_pid" 2>/dev/null || true
    server_pid=""
  fi
}
cleanup() {
  stop_server
  [[ -n ${KEEP_WORK:-} ]] || rm -rf "$work"
}
trap cleanup EXIT

free_port() {
  $python -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'
}
wait_for_port() {
  for _ in $(seq 100); do
    if (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null; then return 0; fi
    if ! kill -0 "$server_pid" 2>/dev/null; then break; fi
    sleep 0.1
  done
  echo "webhook_bench: the server on port $1 did not come up; its log:" >&2
  cat "$work/server.log" >&2
  return 1
}
# Peak RSS in MB of a process and its children (nginx's master and workers), from VmHWM.
peak_rss_mb() {
  local total=0 pid kb
  for pid in "$1" $(ps --ppid "$1" -o pid= 2>/dev/null); do
    kb=$(awk '/^VmHWM:/ {print $2}' "/proc/$pid/status" 2>/dev/null || echo 0)
    total=$((total + ${kb:-0}))
  done
  awk -v kb="$total" 'BEGIN {printf "%.1f", kb / 1024}'
}

# CPU seconds (user + system) used so far by a process and its children (nginx's workers).
cpu_seconds() {
  local ticks=0 pid
  for pid in "$1" $(ps --ppid "$1" -o pid= 2>/dev/null); do
    ticks=$((ticks + $(awk '{print $14 + $15}' "/proc/$pid/stat" 2>/dev/null || echo 0)))
  done
  awk -v t="$ticks" -v hz="$(getconf CLK_TCK)" 'BEGIN {printf "%.2f", t / hz}'
}

# Credentials shared by every server: EC P-256, as the operator's own certificate is.
openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -days 1 \
  -subj "/CN=agentproxy-webhook.agentproxy-system.svc" \
  -addext "subjectAltName=DNS:agentproxy-webhook.agentproxy-system.svc,IP:127.0.0.1" \
  -keyout "$work/key.pem" -out "$work/cert.pem" 2>/dev/null
"$bin/webhook_bench_server" --print-request >"$work/request.json"
"$bin/webhook_bench_server" --print-response >"$work/response.json"
# The reference answer: an AdmissionReview response of about 3 KB (a shortened patch).
$python - "$work" <<'EOF'
import json, sys
work = sys.argv[1]
answer = json.load(open(f"{work}/response.json"))
patch = answer["response"]["patch"]
answer["response"]["patch"] = patch[: 2800 - 2800 % 4]
open(f"{work}/response-3k.json", "w").write(json.dumps(answer, separators=(",", ":")))
EOF

# nginx config: `return` takes the body from variables of < 4 KB each (nginx's token limit).
nginx_conf() {
  local port=$1 body=$2 dir=$work/nginx
  mkdir -p "$dir/logs"
  $python - "$port" "$body" "$dir" "$work" >"$dir/nginx.conf" <<'EOF'
import sys
port, body, dir, work = sys.argv[1:]
text = open(body).read()
assert "'" not in text and "$" not in text and "\\" not in text
parts = [text[i:i + 3000] for i in range(0, len(text), 3000)]
sets = "\n".join(f"      set $part{i} '{p}';" for i, p in enumerate(parts))
joined = "".join(f"$part{i}" for i in range(len(parts)))
print(f"""worker_processes 2;
error_log {dir}/logs/error.log warn;
pid {dir}/nginx.pid;
events {{ worker_connections 1024; }}
http {{
  access_log off;
  client_body_temp_path {dir}/body;
  proxy_temp_path {dir}/proxy;
  fastcgi_temp_path {dir}/fastcgi;
  uwsgi_temp_path {dir}/uwsgi;
  scgi_temp_path {dir}/scgi;
  keepalive_requests 1000000;
  server {{
    listen 127.0.0.1:{port} ssl;
    ssl_certificate {work}/cert.pem;
    ssl_certificate_key {work}/key.pem;
    ssl_protocols TLSv1.2 TLSv1.3;
    location = /mutate-v1-pod {{
      default_type application/json;
{sets}
      return 200 "{joined}";
    }}
  }}
}}""")
EOF
}

start_server() {
  local name=$1 port=$2
  case $name in
    nginx | nginx-same)
      local body=$work/response-3k.json
      [[ $name == nginx-same ]] && body=$work/response.json
      nginx_conf "$port" "$body"
      /usr/sbin/nginx -p "$work/nginx" -c "$work/nginx/nginx.conf" -g "daemon off;" \
        >"$work/server.log" 2>&1 &
      ;;
    beast* | cpprest*)
      local impl=${name%%-*} handler=mutation
      [[ $name == *-* ]] && handler=${name#*-}
      "$bin/webhook_bench_server" --impl "$impl" --handler "$handler" --port "$port" \
        --cert "$work/cert.pem" --key "$work/key.pem" --threads 2 >"$work/server.log" 2>&1 &
      ;;
  esac
  server_pid=$!
  wait_for_port "$port"
}

loadgen() {
  local out
  out=$("$bin/webhook_loadgen" --port "$1" --body "$work/request.json" "${@:2}") || true
  [[ -n $out ]] || out='{"rps":0,"answered":0,"answered_all":0,"non200":-1,"p50_ms":0,"p99_ms":0,"max_ms":0}'
  echo "$out"
}

results=$work/results.jsonl
echo "webhook bench: $(nproc) cores, load average $(cut -d' ' -f1-3 /proc/loadavg) at start"
echo "request $(wc -c <"$work/request.json") bytes, answer $(wc -c <"$work/response.json") bytes;" \
  "the handlers alone, without a server:"
"$bin/webhook_bench_server" --time-handler | sed 's/^/  /'
for name in $servers; do
  port=$(free_port)
  start_server "$name" "$port"
  # The answer must be the right one before it is timed.
  curl -sk --fail -H 'Content-Type: application/json' --data-binary "@$work/request.json" \
    "https://127.0.0.1:$port/mutate-v1-pod?timeout=10s" >"$work/answer.json" || true
  expected=$work/response.json
  [[ $name == nginx ]] && expected=$work/response-3k.json
  if ! cmp -s "$work/answer.json" "$expected"; then
    echo "webhook_bench: $name does not answer the expected AdmissionReview" >&2
    exit 1
  fi
  cpu_before=$(cpu_seconds "$server_pid")
  closed=$(loadgen "$port" --mode closed --connections "$connections" --threads 2 \
    --duration "$seconds" --warmup 2)
  cpu_closed=$(awk -v a="$(cpu_seconds "$server_pid")" -v b="$cpu_before" 'BEGIN {print a - b}')
  open=$(loadgen "$port" --mode open --rate "$rate" --connections 16 --duration "$seconds" \
    --warmup 1)
  rss=$(peak_rss_mb "$server_pid")
  load=$(cut -d' ' -f1 /proc/loadavg)
  stop_server
  echo "{\"server\":\"$name\",\"closed\":$closed,\"open\":$open,\"rss_mb\":$rss,\"load\":$load,\"cpu_closed_s\":$cpu_closed}" \
    >>"$results"
  echo "  $name: done (load average $load)"
done

$python - "$results" "$connections" "$rate" <<'EOF'
import json, sys
rows = {}
for line in open(sys.argv[1]):
    row = json.loads(line)
    rows[row["server"]] = row
connections, rate = sys.argv[2], sys.argv[3]
print(f"\n{'server':<12}{'req/s (' + connections + ' conns)':>20}{'closed p99 ms':>15}"
      f"{'p50 @' + rate:>12}{'p99 @' + rate:>12}{'max @' + rate:>12}{'peak RSS MB':>13}"
      f"{'errors':>8}{'server CPU us/req':>19}")
for name, row in rows.items():
    c, o = row["closed"], row["open"]
    errors = c["non200"] + o["non200"]
    print(f"{name:<12}{c['rps']:>20.0f}{c['p99_ms']:>15.2f}{o['p50_ms']:>12.3f}"
          f"{o['p99_ms']:>12.3f}{o['max_ms']:>12.3f}{row['rss_mb']:>13.1f}{errors:>8}"
          f"{1e6 * row['cpu_closed_s'] / max(1, c['answered_all']):>19.0f}")
print()
if "nginx" in rows:
    reference = rows["nginx"]["closed"]["rps"]
    for name in rows:
        if not name.startswith("nginx"):
            ratio = rows[name]["closed"]["rps"] / reference
            line = f"ratio {name}/nginx: {ratio:.2f}"
            if "nginx-same" in rows:
                line += f", /nginx-same: {rows[name]['closed']['rps'] / rows['nginx-same']['closed']['rps']:.2f}"
            print(line + (" (target >= 0.3)" if name == "beast" else ""))
if "beast" in rows:
    b = rows["beast"]
    print(f"AdmissionServer p99 at {rate} rps: {b['open']['p99_ms']:.3f} ms (target <= 2 ms)")
    print(f"AdmissionServer peak RSS (VmHWM): {b['rss_mb']:.1f} MB (target <= 40 MB)")
EOF
echo "load average $(cut -d' ' -f1-3 /proc/loadavg) at the end"

#!/usr/bin/env bash
# Secrets benchmark: the operator's peak RSS and time to ready among 2,000 Secrets of 500 KB and
# 20,000 pods in 1,000 namespaces, on a real control plane (see secrets_bench.py for options).
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
"$root/scripts/build.sh" >/dev/null
AGENTPROXY_BIN="$root/build/bin/agentproxy" PROXY_LAB_BIN="$root/build/bin/proxy_lab" \
  /usr/bin/python3 -B "$root/bench/secrets_bench.py" "$@"

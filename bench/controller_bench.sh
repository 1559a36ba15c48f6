#!/usr/bin/env bash
# Controller benchmark: N policies (default 1000) created at once on a real control plane.
# Arguments: [N] [--runs K] [--mode both|running|cold] [--trusted] (see controller_bench.py).
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
"$root/scripts/build.sh" >/dev/null
AGENTPROXY_BIN="$root/build/bin/agentproxy" PROXY_LAB_BIN="$root/build/bin/proxy_lab" \
  /usr/bin/python3 -B "$root/bench/controller_bench.py" "$@"

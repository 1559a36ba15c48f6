#!/usr/bin/env bash
# Probe benchmarks (figures, not pass/fail), on the proxy lab on 127.0.0.1:
#  1. median wall time of `agentproxy probe` of one healthy target through Squid (plain
#     CONNECT) against `curl --http2 -x` through the same proxy to the same target,
#     alternating, N runs each (default 20);
#  2. one probe call with 200 targets through the same Squid: wall time and peak RSS.
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
cd "$root"
scripts/build.sh >/dev/null
source scripts/lib/lab.sh
start_lab "$root"
/usr/bin/python3 bench/probe_bench.py "$root/build/bin/agentproxy" "${1:-20}"

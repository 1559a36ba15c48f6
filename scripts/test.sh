#!/usr/bin/env bash
# Quick-start command 2: installs what is missing, builds, and runs every test
# (unit and integration, against real Squid, tinyproxy, nginx, mitmproxy and gRPC on 127.0.0.1).
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/setup.sh
scripts/build.sh
cd build
ctest --output-on-failure -j 2 "$@"

#!/usr/bin/env bash
# Quick-start command 2: installs what is missing, builds, and runs every test
# (unit and integration, against real Squid, tinyproxy, nginx, mitmproxy and gRPC on 127.0.0.1),
# then the unit tests of the threaded parts under ThreadSanitizer (scripts/tsan.sh).
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/setup.sh
scripts/build.sh
ctest --test-dir build --output-on-failure -j 2 "$@"
# The unit tests of the threaded parts again, under ThreadSanitizer (build-tsan/).
scripts/tsan.sh "$@"

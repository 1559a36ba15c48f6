#!/usr/bin/env bash
# The unit tests of the parts that run threads (runtime, kube, controller, webhook, serving,
# probe, cli), built with ThreadSanitizer into ./build-tsan and run: a data race that a test
# provokes fails it. scripts/test.sh runs this after the main suite; arguments go to ctest.
set -euo pipefail
cd "$(dirname "$0")/.."
if [[ ! -f build-tsan/build.ninja ]]; then
  cmake -S . -B build-tsan -G Ninja -DCMAKE_BUILD_TYPE=RelWithDebInfo \
    -DAGENTPROXY_TSAN=ON -DAGENTPROXY_STATIC_GRPC=OFF >/dev/null
fi
echo "==> ThreadSanitizer build (build-tsan/, the unit tests of the threaded parts)"
cmake --build build-tsan -j "${AGENTPROXY_JOBS:-2}"
echo "==> The same unit tests under ThreadSanitizer (suppressions: tests/tsan.supp)"
ctest --test-dir build-tsan --output-on-failure -j 2 -L unit "$@"

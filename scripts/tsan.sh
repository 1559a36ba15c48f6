#!/usr/bin/env bash
# The unit tests of the parts that run threads (runtime, kube, controller, webhook, serving,
# probe, cli), built with ThreadSanitizer into ./build-tsan and run: a data race that a test
# provokes fails it. scripts/test.sh runs this after the main suite; arguments go to ctest.
#
# scripts/tsan.sh --e2e [modules...]: the operator binary itself under TSan, end to end on the
# real control plane (by default the e2e modules operator_test, injection_test, faults_test; run
# scripts/test.sh once first, for build/bin/proxy_lab and the control plane). Any report fails
# it. Not part of scripts/test.sh: libcpprest's own hand-off of a pooled connection sometimes
# gives a report inside the library that cannot be named here (docs/testing.md).
set -euo pipefail
cd "$(dirname "$0")/.."
e2e=false
if [[ ${1:-} == --e2e ]]; then
  e2e=true
  shift
fi
if [[ ! -f build-tsan/build.ninja ]]; then
  cmake -S . -B build-tsan -G Ninja -DCMAKE_BUILD_TYPE=RelWithDebInfo \
    -DAGENTPROXY_TSAN=ON -DAGENTPROXY_STATIC_GRPC=OFF >/dev/null
fi
if $e2e; then
  echo "==> The operator under ThreadSanitizer, end to end (suppressions: tests/tsan_operator.supp)"
  root=$PWD
  cmake --build build-tsan -j "${AGENTPROXY_JOBS:-2}" --target agentproxy
  [[ -x build/bin/proxy_lab ]] || scripts/build.sh
  reports=$root/build-tsan/e2e-reports
  rm -rf "$reports"
  mkdir -p "$reports"
  cat tests/tsan_operator.supp tests/tsan.supp >"$reports/suppressions"
  (($#)) || set -- operator_test injection_test faults_test
  status=0
  (cd tests/e2e && AGENTPROXY_BIN="$root/build-tsan/bin/agentproxy" \
    PROXY_LAB_BIN="$root/build/bin/proxy_lab" AGENTPROXY_AUDIT_OUT="$reports/audit.jsonl" \
    TSAN_OPTIONS="suppressions=$reports/suppressions:log_path=$reports/report" \
    python3 -B -m unittest -v "$@") || status=$?
  if compgen -G "$reports/report.*" >/dev/null; then
    echo "ThreadSanitizer reported in the operator (all in $reports):" >&2
    for report in "$reports"/report.*; do head -n 60 "$report" >&2; done
    exit 1
  fi
  exit "$status"
fi
echo "==> ThreadSanitizer build (build-tsan/, the unit tests of the threaded parts)"
cmake --build build-tsan -j "${AGENTPROXY_JOBS:-2}"
echo "==> The same unit tests under ThreadSanitizer (suppressions: tests/tsan.supp)"
ctest --test-dir build-tsan --output-on-failure -j 2 -L unit "$@"

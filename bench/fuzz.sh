#!/usr/bin/env bash
# Fuzzes the parsers that read what comes from outside (tests/fuzz: AdmissionReviews with
# admitPod, ProxyPolicies, CONNECT answers, proxy URLs, NO_PROXY, durations, PEM bundles,
# kubeconfigs, watch events) with libFuzzer, ASan and UBSan, one target after another.
#
# usage: bench/fuzz.sh [seconds-per-target] [target...]   (default 600 s, every target)
#
# Builds with clang-14 in build-fuzz/ (AGENTPROXY_FUZZ=ON; ccache and ninja), starts each target
# from the committed seed corpus (tests/fuzz/corpus/<target>, read only) and a working corpus
# (build-fuzz/corpus/<target>, kept between runs), and prints per target the executions, the
# coverage (cov: edges, ft: features, from libFuzzer's final stats) and the crashes. A crash
# stops that target; its input is in build-fuzz/crashes/<target>/ and the log names it. Every
# crash becomes a fix plus a regression input in tests/fuzz/corpus/<target>/ (which CTest
# replays: fuzz_replay_<target>). Exit status 1 when any target crashed.
set -euo pipefail

seconds=${1:-600}
shift || true
root=$(cd "$(dirname "$0")/.." && pwd)
build=${AGENTPROXY_FUZZ_BUILD:-$root/build-fuzz}
cxx=${AGENTPROXY_FUZZ_CXX:-clang++-14}

command -v "$cxx" >/dev/null || { echo "fuzz.sh: $cxx is missing (scripts/setup.sh installs clang-14)" >&2; exit 2; }
mkdir -p "$build"
CXX=$cxx cmake -S "$root" -B "$build" -G Ninja -DCMAKE_BUILD_TYPE=RelWithDebInfo \
  -DAGENTPROXY_FUZZ=ON -DAGENTPROXY_BUILD_TESTS=OFF >"$build/configure.log" 2>&1 \
  || { tail -20 "$build/configure.log" >&2; exit 2; }

if (($# > 0)); then targets=("$@"); else mapfile -t targets <"$build/fuzz_targets.txt"; fi
ninja -C "$build" "${targets[@]/#/fuzz_}" >"$build/build.log" 2>&1 \
  || { tail -40 "$build/build.log" >&2; exit 2; }

symbolizer=$(command -v llvm-symbolizer-14 || command -v llvm-symbolizer || true)
[[ -n $symbolizer ]] && export ASAN_SYMBOLIZER_PATH=$symbolizer
export ASAN_OPTIONS=${ASAN_OPTIONS:-detect_leaks=1:abort_on_error=1}
export UBSAN_OPTIONS=${UBSAN_OPTIONS:-print_stacktrace=1:halt_on_error=1}

printf '%-18s %12s %10s %8s %8s %8s\n' target executions exec/s cov ft crashes
status=0
for target in "${targets[@]}"; do
  seeds=$root/tests/fuzz/corpus/$target
  work=$build/corpus/$target
  crashes=$build/crashes/$target
  log=$build/logs/$target.log
  mkdir -p "$work" "$crashes" "$(dirname "$log")"
  rc=0
  "$build/tests/fuzz/fuzz_$target" -max_total_time="$seconds" -print_final_stats=1 \
    -timeout=10 -rss_limit_mb=2048 -max_len=16384 -artifact_prefix="$crashes/" \
    "$work" "$seeds" >"$log" 2>&1 || rc=$?
  execs=$(sed -n 's/^stat::number_of_executed_units: *//p' "$log" | tail -1)
  rate=$(sed -n 's/^stat::average_exec_per_sec: *//p' "$log" | tail -1)
  cov=$(grep -oE 'cov: [0-9]+' "$log" | tail -1 | cut -d' ' -f2)
  ft=$(grep -oE 'ft: [0-9]+' "$log" | tail -1 | cut -d' ' -f2)
  found=$(find "$crashes" -type f | wc -l)
  printf '%-18s %12s %10s %8s %8s %8s\n' "$target" "${execs:-?}" "${rate:-?}" "${cov:-?}" \
    "${ft:-?}" "$found"
  if ((rc != 0 || found > 0)); then
    status=1
    echo "  $target: exit $rc; log $log; inputs in $crashes/" >&2
  fi
done
exit $status

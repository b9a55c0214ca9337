#!/usr/bin/env bash
# Builds the libFuzzer targets (tests/fuzz/, clang with ASan+UBSan) in build-fuzz/ and runs
# each for SECONDS (default 60) on its corpus: tests/fuzz/corpus/<target>/ (seeds, read
# only) plus build-fuzz/corpus/<target>/ (what the fuzzer adds). A crash, leak or
# undefined behaviour stops the run with the input in build-fuzz/crashes/; turn it into a
# seed under tests/fuzz/corpus/<target>/ with the fix, so every later run replays it.
#
#   scripts/fuzz.sh [SECONDS] [TARGET...]     targets: alertmanager native nagios config
#                                             form notify queue (default: all)
set -euo pipefail
cd "$(dirname "$0")/.."
ROOT=$PWD
SECS=${1:-60}
[[ $# -gt 0 ]] && shift
TARGETS=("$@")
[[ ${#TARGETS[@]} -gt 0 ]] || TARGETS=(alertmanager native nagios config form notify queue)
JOBS=${JOBS:-2}

CC=clang cmake -S "$ROOT" -B "$ROOT/build-fuzz" -DIHA_FUZZ=ON -DIHA_TESTS=OFF \
    -DCMAKE_BUILD_TYPE=RelWithDebInfo >/dev/null
cmake --build "$ROOT/build-fuzz" -j"$JOBS" --target $(printf 'fuzz_%s ' "${TARGETS[@]}") >/dev/null
mkdir -p "$ROOT/build-fuzz/crashes"
export ASAN_OPTIONS=${ASAN_OPTIONS:-detect_leaks=1:abort_on_error=0}
export UBSAN_OPTIONS=${UBSAN_OPTIONS:-print_stacktrace=1:halt_on_error=1}
status=0
for t in "${TARGETS[@]}"; do
    work="$ROOT/build-fuzz/corpus/$t"
    mkdir -p "$work"
    dict=()
    [[ -f "$ROOT/tests/fuzz/$t.dict" ]] && dict=(-dict="$ROOT/tests/fuzz/$t.dict")
    log="$ROOT/build-fuzz/$t.log"
    if "$ROOT/build-fuzz/tests/fuzz/fuzz_$t" "${dict[@]}" -max_total_time="$SECS" \
        -max_len=65536 -timeout=10 -rss_limit_mb=2048 \
        -artifact_prefix="$ROOT/build-fuzz/crashes/$t-" \
        "$work" "$ROOT/tests/fuzz/corpus/$t" >"$log" 2>&1; then
        printf 'fuzz %-13s ok   %s\n' "$t" "$(grep -E '^#[0-9]+.*(DONE|pulse)' "$log" | tail -1 |
            sed -E 's/.*(#[0-9]+).*cov: ([0-9]+).*exec\/s: ([0-9]+).*/\1 execs, cov \2, \3 exec\/s/')"
    else
        printf 'fuzz %-13s FAILED (see %s)\n' "$t" "$log"
        grep -E 'ERROR|SUMMARY|runtime error' "$log" | head -5
        status=1
    fi
done
exit $status

#!/usr/bin/env bash
# Fuzzes the parsers of untrusted input with libFuzzer (tests/fuzz, README "Fuzzing").
#
#   scripts/fuzz.sh [SECONDS] [TARGET...]
#
# Builds build-fuzz/ with clang and -DIHA_FUZZ=ON (ASan + UBSan + coverage), replays
# every seed corpus (tests/fuzz/corpus/TARGET), then runs each TARGET (default: all) for
# SECONDS (default 60; 0 = replay only). New inputs go to build-fuzz/corpus/TARGET, crash,
# leak and timeout inputs to build-fuzz/crashes/, logs to build-fuzz/logs/. Reproduce one
# with build-fuzz/fuzz/fuzz_TARGET FILE.
#
# Environment: FUZZ_JOBS targets fuzzed at once (default 1), JOBS build jobs (default 2),
# FUZZ_BUILD build directory (default build-fuzz). Exit status non-zero when a replay or a
# run failed (crash, leak, UB, timeout) or the build failed.
set -uo pipefail

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
SECS=${1:-60}
shift $(($# > 0 ? 1 : 0))
BUILD=${FUZZ_BUILD:-$ROOT/build-fuzz}
FUZZ_JOBS=${FUZZ_JOBS:-1}
JOBS=${JOBS:-2}
ALL=(alertmanager native nagios_record notify_cmd spool config rules matcher listen_addr
     queue_record form)
TARGETS=("$@")
[[ ${#TARGETS[@]} -eq 0 ]] && TARGETS=("${ALL[@]}")

if ! [[ $SECS =~ ^[0-9]+$ ]]; then
    echo "usage: $0 [SECONDS] [TARGET...]   (targets: ${ALL[*]})" >&2
    exit 2
fi
for t in "${TARGETS[@]}"; do
    if [[ ! -d $ROOT/tests/fuzz/corpus/$t ]]; then
        echo "fuzz.sh: unknown target '$t' (targets: ${ALL[*]})" >&2
        exit 2
    fi
done
command -v clang >/dev/null || { echo "fuzz.sh: clang is needed (libFuzzer)" >&2; exit 1; }

# Inputs big enough for the largest real input of each kind, small enough to stay fast.
max_len() {
    case $1 in
    alertmanager | rules | notify_cmd) echo 16384 ;;
    nagios_record | spool | config | queue_record) echo 8192 ;;
    native | form) echo 4096 ;;
    matcher) echo 1024 ;;
    listen_addr) echo 300 ;;
    *) echo 4096 ;;
    esac
}

dict_of() {
    case $1 in
    alertmanager | native | nagios_record | spool | queue_record) echo json ;;
    config | rules) echo yaml ;;
    matcher) echo matcher ;;
    esac
}

CC=clang cmake -S "$ROOT" -B "$BUILD" -DIHA_FUZZ=ON -DIHA_TESTS=OFF \
    -DCMAKE_BUILD_TYPE=RelWithDebInfo >/dev/null &&
    cmake --build "$BUILD" --target fuzz-targets --parallel "$JOBS" >/dev/null ||
    { echo "fuzz.sh: build failed (cmake --build $BUILD --target fuzz-targets)" >&2; exit 1; }
mkdir -p "$BUILD/crashes" "$BUILD/logs"

# Leaks are findings; UBSan stops at the first report (built -fno-sanitize-recover).
export ASAN_OPTIONS=${ASAN_OPTIONS:-detect_leaks=1}
export UBSAN_OPTIONS=${UBSAN_OPTIONS:-print_stacktrace=1:halt_on_error=1}

# run_target T: replays the seeds, then fuzzes; prints one line; status 0 when clean.
run_target() {
    local t=$1 bin="$BUILD/fuzz/fuzz_$1" log="$BUILD/logs/$1.log" dict opts=()
    dict=$(dict_of "$t")
    [[ -n $dict ]] && opts+=("-dict=$ROOT/tests/fuzz/dict/$dict.dict")
    opts+=("-max_len=$(max_len "$t")" -timeout=10 -rss_limit_mb=2048
        "-artifact_prefix=$BUILD/crashes/$t-")
    if ! "$bin" "${opts[@]}" -runs=0 "$ROOT/tests/fuzz/corpus/$t" >"$log" 2>&1; then
        printf '%-14s FAILED replaying tests/fuzz/corpus/%s (%s)\n' "$t" "$t" "$log"
        return 1
    fi
    [[ $SECS -eq 0 ]] && { printf '%-14s corpus replayed\n' "$t"; return 0; }
    mkdir -p "$BUILD/corpus/$t"
    if ! "$bin" "${opts[@]}" -max_total_time="$SECS" -print_final_stats=1 \
        "$BUILD/corpus/$t" "$ROOT/tests/fuzz/corpus/$t" >"$log" 2>&1; then
        printf '%-14s FAILED: %s (%s)\n' "$t" \
            "$(grep -m1 -E 'ERROR: |runtime error|SUMMARY' "$log" | cut -c1-120)" "$log"
        return 1
    fi
    # The last status line: executions, coverage (edges), features, corpus, speed.
    printf '%-14s %s\n' "$t" "$(grep -E '^#[0-9]+' "$log" | tail -1 |
        sed -E 's/^#([0-9]+)\s+\S+\s+/runs: \1 /; s/ lim: [0-9]+//; s/ rss: .*//')"
}

# Each target's outcome is a file: wait -n says that some job ended, not which.
for t in "${TARGETS[@]}"; do
    while [[ $(jobs -rp | wc -l) -ge $FUZZ_JOBS ]]; do
        wait -n
    done
    rm -f "$BUILD/logs/$t.failed"
    (run_target "$t" || touch "$BUILD/logs/$t.failed") &
done
wait
failed=0
for t in "${TARGETS[@]}"; do
    [[ -e $BUILD/logs/$t.failed ]] && failed=1
done
if [[ $failed -ne 0 ]]; then
    echo "fuzz.sh: FAILED; the failing inputs are in $BUILD/crashes/" >&2
fi
exit $failed

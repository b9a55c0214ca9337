#!/usr/bin/env bash
# The test command of iha-gateway:   sudo ./scripts/test.sh
# (as root it needs no sudo; without root it works when the packages are present).
#
#   1. deps    scripts/install-deps.sh --build --test (skipped apt when all present)
#   2. build   build/       RelWithDebInfo: the gateway, unit and integration tests
#   3. test    ctest --output-on-failure in build/ (unit + integration against real
#              masakari-api and prometheus-alertmanager on 127.0.0.1)
#   4. asan    build-asan/  -DIHA_SANITIZE=ON (ASan + UBSan), ctest -L unit
#   5. release build-release/  Release (-O3: other warnings than -O2, all errors), ctest -L unit
#   6. tsan    build-tsan/  -DIHA_TSAN=ON (ThreadSanitizer), ctest -L unit: every unit test,
#              the threaded ones (queue committer, delivery, Keystone renewal, HTTP
#              server, reload) are what it is for
#   7. analyze build-scan/  scan-build --status-bugs (clang static analyzer) over the
#              gateway, iha-notify and the benchmarks; any report fails the step
#   8. format  scripts/check-source.sh: banned functions, and clang-format --dry-run
#              -Werror over src/ adapters/ tests/unit/ (only the latter if the script
#              is missing)
#   9. fuzz    build-fuzz/  scripts/fuzz.sh: clang -DIHA_FUZZ=ON (libFuzzer, ASan, UBSan),
#              replays every seed corpus in tests/fuzz/corpus, then fuzzes each parser of
#              untrusted input for FUZZ_SECONDS (default 20), two at a time; any crash,
#              leak, UB or timeout fails the step (inputs in build-fuzz/crashes/)
#
# Every step runs even when an earlier one failed (except what depends on a failed
# build); the exit status is non-zero when any step failed.
#
# Environment: JOBS (parallel build/test jobs, default nproc), IHA_TEST_STEPS (space
# separated subset of the step names above, default all), FUZZ_SECONDS (per fuzz target).
set -uo pipefail

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
cd "$ROOT" || exit 1
JOBS=${JOBS:-$(nproc 2>/dev/null || echo 2)}
STEPS=${IHA_TEST_STEPS:-deps build test asan release tsan analyze format fuzz}
export CTEST_OUTPUT_ON_FAILURE=1
# Sanitizer reports must fail the unit tests, with stacks.
export ASAN_OPTIONS=${ASAN_OPTIONS:-detect_leaks=1:abort_on_error=0:strict_string_checks=1}
export UBSAN_OPTIONS=${UBSAN_OPTIONS:-print_stacktrace=1:halt_on_error=1}
export TSAN_OPTIONS=${TSAN_OPTIONS:-halt_on_error=1:second_deadlock_stack=1}

T_START=$SECONDS
results=()
failed=0

want() { [[ " $STEPS " == *" $1 "* ]]; }

# step NAME COMMAND...: runs COMMAND, records status and duration.
step() {
    local name=$1 t0=$SECONDS rc
    shift
    printf '\n==> %s: %s\n' "$name" "$*"
    "$@"
    rc=$?
    local dt=$((SECONDS - t0))
    if [[ $rc -eq 0 ]]; then
        results+=("$(printf '%-10s ok      %4ds' "$name" "$dt")")
    else
        results+=("$(printf '%-10s FAILED  %4ds (exit %d)' "$name" "$dt" "$rc")")
        failed=1
    fi
    return $rc
}

skip() {
    results+=("$(printf '%-10s skipped       (%s)' "$1" "$2")")
    failed=1
}

build_tree() { # DIR CMAKE_ARGS...
    local dir=$1
    shift
    cmake -S "$ROOT" -B "$ROOT/$dir" "$@" && cmake --build "$ROOT/$dir" --parallel "$JOBS"
}

analyze_tree() {
    local out
    out=$(mktemp -d) || return 1
    scan-build -o "$out" cmake -S "$ROOT" -B "$ROOT/build-scan" -DCMAKE_BUILD_TYPE=Debug \
        -DIHA_TESTS=OFF >/dev/null &&
        scan-build -o "$out" --status-bugs cmake --build "$ROOT/build-scan" --parallel "$JOBS"
    local rc=$?
    rm -rf "$out"
    return $rc
}

format_check() {
    local files=()
    mapfile -t files < <(find src adapters tests/unit -type f \( -name '*.c' -o -name '*.h' \) \
        2>/dev/null | sort)
    if [[ ${#files[@]} -eq 0 ]]; then
        echo "no C files to check"
        return 0
    fi
    echo "checking ${#files[@]} files with $(clang-format --version)"
    clang-format --dry-run -Werror "${files[@]}"
}

if want deps; then
    if ! step deps bash "$ROOT/scripts/install-deps.sh" --build --test; then
        echo "test.sh: dependencies could not be installed; stopping" >&2
        printf '\n==> summary\n'
        printf '  %s\n' "${results[@]}"
        exit 1
    fi
fi

built=1
if want build; then
    step build build_tree build -DCMAKE_BUILD_TYPE=RelWithDebInfo || built=0
fi
if want test; then
    if [[ $built -eq 1 ]]; then
        step test ctest --test-dir "$ROOT/build" --output-on-failure --no-tests=error \
            --parallel "$JOBS"
    else
        skip test "build failed"
    fi
fi
if want asan; then
    if step asan-build build_tree build-asan -DIHA_SANITIZE=ON -DCMAKE_BUILD_TYPE=Debug; then
        step asan ctest --test-dir "$ROOT/build-asan" -L unit --output-on-failure \
            --no-tests=error --parallel "$JOBS"
    else
        skip asan "sanitizer build failed"
    fi
fi
if want release; then
    if step release-build build_tree build-release -DCMAKE_BUILD_TYPE=Release; then
        step release ctest --test-dir "$ROOT/build-release" -L unit --output-on-failure \
            --no-tests=error --parallel "$JOBS"
    else
        skip release "Release build failed"
    fi
fi
if want tsan; then
    if step tsan-build build_tree build-tsan -DIHA_TSAN=ON -DCMAKE_BUILD_TYPE=RelWithDebInfo; then
        step tsan ctest --test-dir "$ROOT/build-tsan" -L unit --output-on-failure \
            --no-tests=error --parallel "$JOBS"
    else
        skip tsan "ThreadSanitizer build failed"
    fi
fi
if want analyze; then
    # A fresh tree each time: scan-build only analyses what it sees compiled.
    rm -rf "$ROOT/build-scan"
    step analyze analyze_tree
fi
if want format; then
    if [[ -f "$ROOT/scripts/check-source.sh" ]]; then
        step format bash "$ROOT/scripts/check-source.sh"
    else
        step format format_check
    fi
fi
if want fuzz; then
    # Two targets at a time: 11 targets x 20 s stay near two minutes on two cores.
    step fuzz env FUZZ_JOBS="${FUZZ_JOBS:-2}" JOBS="$JOBS" bash "$ROOT/scripts/fuzz.sh" \
        "${FUZZ_SECONDS:-20}"
fi

printf '\n==> summary (%ds in total)\n' $((SECONDS - T_START))
printf '  %s\n' "${results[@]}"
if [[ $failed -ne 0 ]]; then
    echo "test.sh: FAILED"
    exit 1
fi
echo "test.sh: all steps passed"

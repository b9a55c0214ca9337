#!/usr/bin/env bash
# Tests of `iha-gateway test-rules` itself: a passing file passes, wrong expectations fail
# with exit 1 and the right diff, and errors in a test file carry file:line:column.
set -uo pipefail
BIN=${IHA_GATEWAY_BIN:?set IHA_GATEWAY_BIN to the iha-gateway binary}
cd "$(dirname "${BASH_SOURCE[0]}")" || exit 1
failures=0

check() { # DESCRIPTION COMMAND...
    local what=$1
    shift
    if "$@"; then
        echo "ok    $what"
    else
        echo "FAIL  $what"
        failures=$((failures + 1))
    fi
}
has() { grep -qF -- "$1" <<<"$out"; }
hasnt() { ! grep -qF -- "$1" <<<"$out"; }

out=$("$BIN" test-rules pass_test.yml 2>&1)
rc=$?
check "passing file exits 0" test "$rc" -eq 0
check "passing file ends with SUCCESS" test "$(tail -n1 <<<"$out")" = "SUCCESS"
check "passing file reports its tests" has "  SUCCESS (4 tests)"

out=$("$BIN" test-rules fail_test.yml 2>&1)
rc=$?
check "failing file exits 1" test "$rc" -eq 1
check "summary line" test "$(tail -n1 <<<"$out")" = "FAILED: 5 of 6 tests failed"
check "policy expectation: names the test" has "  FAILED  one failure is not held"
check "policy expectation: what was expected and obtained" \
    has "    got:                           sent 1, held 0, cancelled 0"
check "names the failing test with its position" \
    has "  FAILED  wrong hostname and host_status  (fail_test.yml:4:5)"
check "diff shows the hostname" has '        hostname: expected "compute-1:9100", got "compute-1"'
check "diff shows the payload field" \
    has '        payload.host_status: expected "UNKNOWN", got "NORMAL"'
check "shows what was obtained" \
    has '      - COMPUTE_HOST compute-1 {"cluster_status":"OFFLINE","event":"STOPPED","host_status":"NORMAL"} (rule node-down, input 1)'
check "unexpected notification when a drop was expected" \
    has '      + unexpected: COMPUTE_HOST compute-2 {"cluster_status":"OFFLINE","event":"STOPPED","host_status":"NORMAL"} (rule node-down, input 1)'
check "missing drop" has "      - missing:    a dropped input"
check "missing notification" \
    has '      - missing:    COMPUTE_HOST compute-3 {"cluster_status":"OFFLINE","event":"STOPPED","host_status":"NORMAL"}'
check "the obtained drop is shown" has "      dropped input 1: no rule matched"
check "wrong drop reason" \
    has '      ~ input 1: drop reason "rule node-down sends nothing for resolved alerts" does not contain "no rule matched"'
check "wrong drop rule" has '      ~ input 1: dropped by rule "node-down", expected rule "other-rule"'
check "the right test is not reported" hasnt "right notification"

out=$("$BIN" test-rules broken_test.yml 2>&1)
rc=$?
check "broken file exits 1" test "$rc" -eq 1
check "missing rule file" has "broken_test.yml:1:25: error: rule_files: 'missing.yml' matches no file"
check "unknown key with did-you-mean" \
    has "broken_test.yml:4:5: error: test: unknown key 'imput' (did you mean 'input'?)"
check "bad status" has "broken_test.yml:10:17: error: input.status: expected firing or resolved, got 'firng'"
check "bad type" \
    has "broken_test.yml:12:16: error: exp_notifications.type: unknown type 'COMPUTE_HOTS' (did you mean 'COMPUTE_HOST'?)"
check "broken summary" test "$(tail -n1 <<<"$out")" = "FAILED: 0 of 0 tests failed; 1 file(s) with errors"

out=$("$BIN" test-rules pass_test.yml fail_test.yml 2>&1)
rc=$?
check "one failing file fails the run" test "$rc" -eq 1
check "summary over files" test "$(tail -n1 <<<"$out")" = "FAILED: 5 of 10 tests failed"

"$BIN" test-rules >/dev/null 2>&1
check "no file is a usage error" test "$?" -eq 2

if [[ $failures -ne 0 ]]; then
    echo "$failures check(s) failed"
    exit 1
fi
echo "all checks passed"

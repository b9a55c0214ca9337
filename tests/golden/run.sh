#!/usr/bin/env bash
# Golden tests of check-config messages: for each tests/golden/NAME.yml, the output of
# `iha-gateway check-config NAME.yml` (stderr then stdout) plus its exit status must equal
# NAME.expected. A first line `# args: ...` adds flags. IHA_GOLDEN_UPDATE=1 rewrites the
# .expected files (review the diff before committing).
set -uo pipefail
BIN=${IHA_GATEWAY_BIN:?set IHA_GATEWAY_BIN to the iha-gateway binary}
cd "$(dirname "${BASH_SOURCE[0]}")" || exit 1
failures=0
count=0
for f in *.yml; do
    name=${f%.yml}
    args=()
    first=$(head -n1 "$f")
    if [[ $first == "# args: "* ]]; then
        read -r -a args <<<"${first#\# args: }"
    fi
    got=$("$BIN" check-config "${args[@]}" "$f" 2>&1; echo "exit $?")
    count=$((count + 1))
    if [[ ${IHA_GOLDEN_UPDATE:-0} == 1 ]]; then
        printf '%s\n' "$got" >"$name.expected"
        continue
    fi
    if ! diff -u "$name.expected" <(printf '%s\n' "$got"); then
        echo "FAIL  $f (see the diff above: - expected, + got)"
        failures=$((failures + 1))
    else
        echo "ok    $f"
    fi
done
[[ $count -gt 0 ]] || { echo "no golden files"; exit 1; }
if [[ $failures -ne 0 ]]; then
    echo "$failures of $count golden file(s) differ"
    exit 1
fi
echo "all $count golden files match"

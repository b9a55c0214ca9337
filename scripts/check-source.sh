#!/usr/bin/env bash
# Source checks run by the test suite: banned functions and formatting.
set -euo pipefail
cd "$(dirname "$0")/.."

files=$(find src adapters bench tests/unit tests/fuzz -type f \( -name '*.c' -o -name '*.h' \) | sort)
if [[ $(grep -c . <<<"$files") -lt 50 ]]; then
    echo "check-source: found only $(grep -c . <<<"$files") C files; is the tree complete?" >&2
    exit 1
fi
status=0

# Unbounded or error-blind functions; see the style guide.
banned='\b(sprintf|vsprintf|strcpy|strcat|strtok|gets|atoi|atol|atof|sscanf)[[:space:]]*\('
if grep -nE "$banned" $files; then
    echo "check-source: banned function used (use snprintf, memcpy with a length, strtoull...)" >&2
    status=1
fi

# An empty block after an if hides a discarded result (a lost notification hid in one):
# handle the result, or discard it visibly with IHA_IGNORE(call, "why").
# shellcheck disable=SC2086
if grep -lPz '(?s)\bif\s*\((?:[^{};]|\n)*\)\s*\{\s*\}' $files; then
    echo "check-source: empty if block; handle the result or use IHA_IGNORE(call, \"why\")" >&2
    status=1
fi

# A function longer than 100 lines almost always does two jobs: it says why it is long in
# the comment just above it ("Long because ..."), and none is longer than 150.
# shellcheck disable=SC2086
if ! awk '
    FNR == 1 { why = 0; start = 0 }
    /^\/\*|^ \*/ { if ($0 ~ /Long because/) why = 1 }
    /^\{$/ { start = FNR; sig = prev }
    /^\}$/ && start {
        n = FNR - start + 1
        if (n > 150 || (n > 100 && !why)) {
            printf "%s:%d: function is %d lines: %s\n", FILENAME, start, n, sig
            bad = 1
        }
        start = 0; why = 0
    }
    /^[A-Za-z_]/ && !start { prev = $0 }
    /^$/ && !start { }
    END { exit bad }' $(grep '\.c$' <<<"$files"); then
    echo "check-source: split the functions above into steps (or say why one is long)" >&2
    status=1
fi

if command -v clang-format >/dev/null; then
    if ! clang-format --dry-run -Werror $files; then
        echo "check-source: run clang-format -i on the files above" >&2
        status=1
    fi
else
    echo "check-source: clang-format not installed, formatting not checked" >&2
    status=1
fi
exit $status

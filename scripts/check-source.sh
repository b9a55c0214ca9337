#!/usr/bin/env bash
# Source checks run by the test suite: banned functions and formatting.
set -euo pipefail
cd "$(dirname "$0")/.."

files=$(ls src/*.c src/*.h src/notify/*.c src/notify/*.h adapters/*.c adapters/*.h bench/*.c tests/unit/*.c tests/unit/*.h 2>/dev/null)
status=0

# Unbounded or error-blind functions; see the style guide.
banned='\b(sprintf|vsprintf|strcpy|strcat|strtok|gets|atoi|atol|atof|sscanf)[[:space:]]*\('
if grep -nE "$banned" $files; then
    echo "check-source: banned function used (use snprintf, memcpy with a length, strtoull...)" >&2
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

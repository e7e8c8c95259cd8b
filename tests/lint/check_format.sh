#!/usr/bin/env bash
# Fails when a C++ file differs from what the repo's .clang-format makes of it.
# Fix with: clang-format -i FILE...   Usage: tests/lint/check_format.sh [REPO_ROOT]
set -euo pipefail
cd "${1:-$(dirname "$0")/../..}"
command -v clang-format >/dev/null || { echo "clang-format not installed (scripts/setup.sh)"; exit 1; }
mapfile -t files < <(find common io daemon ctl tests -name '*.cpp' -o -name '*.hpp' -o -name '*.h' | sort)
if ! clang-format --dry-run -Werror "${files[@]}"; then
    echo "format: the files above differ from .clang-format (clang-format -i FILE)"
    exit 1
fi
echo "format: ${#files[@]} files match .clang-format"

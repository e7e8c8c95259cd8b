#!/usr/bin/env bash
# Installs what is missing, builds ghost twice (normal, and ASan+UBSan) and runs every
# test with ctest in both builds; then builds only the libFuzzer targets with clang and
# runs each briefly from its seed corpus (label fuzz). Usage: scripts/test.sh [ctest args...]
set -euo pipefail
cd "$(dirname "$0")/.."

./scripts/setup.sh

JOBS=${JOBS:-2}
build() {
    local dir=$1
    shift
    cmake -S . -B "$dir" -DGHOST_WERROR=ON "$@" >/dev/null
    cmake --build "$dir" -j"$JOBS"
}
run_tests() {
    local dir=$1
    shift
    echo "== ctest in $dir"
    (cd "$dir" && ctest --output-on-failure -j"$JOBS" "$@")
}

build build/release -DCMAKE_BUILD_TYPE=RelWithDebInfo
run_tests build/release "$@"

build build/asan -DCMAKE_BUILD_TYPE=Debug -DGHOST_SANITIZE=ON
ASAN_OPTIONS=${ASAN_OPTIONS:-detect_leaks=1:abort_on_error=0} \
UBSAN_OPTIONS=${UBSAN_OPTIONS:-print_stacktrace=1:halt_on_error=1} \
    run_tests build/asan "$@"

# libFuzzer needs clang; this build dir holds only the fuzz targets (tests/fuzz/README.md).
CC=clang CXX=clang++ cmake -S . -B build/fuzz -DGHOST_WERROR=ON \
    -DCMAKE_BUILD_TYPE=RelWithDebInfo >/dev/null
cmake --build build/fuzz -j"$JOBS" --target fuzz
run_tests build/fuzz -L fuzz "$@"

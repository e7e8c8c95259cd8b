#!/usr/bin/env bash
# Installs what is missing, builds ghost twice (normal, and ASan+UBSan) and runs every
# test with ctest in both builds; then builds only the libFuzzer targets with clang and
# runs each briefly from its seed corpus (label fuzz). Usage: scripts/test.sh [ctest args...]
#
# Tests mostly wait on networks and timers, builds want the CPU: each next build runs
# (at low priority, its output in a log) while the previous build's tests run. The WAN
# test (label wan: gigabytes through an emulated long link) runs in the normal build only.
set -euo pipefail
cd "$(dirname "$0")/.."

./scripts/setup.sh

JOBS=${JOBS:-2}
configure() {
    local dir=$1
    shift
    cmake -S . -B "$dir" -DGHOST_WERROR=ON "$@" >/dev/null
}
build() { cmake --build "$1" -j"$JOBS" "${@:2}"; }
# build_behind DIR [ARGS]: builds DIR in the background at low priority; BEHIND is its pid.
build_behind() {
    local dir=$1
    shift
    mkdir -p "$dir"
    nice -n 15 cmake --build "$dir" -j"$JOBS" "$@" >"$dir/build.log" 2>&1 &
    BEHIND=$!
}
# wait_behind DIR: waits for the background build; shows its log when it failed.
wait_behind() {
    if ! wait "$BEHIND"; then
        tail -n 100 "$1/build.log"
        echo "build of $1 failed" >&2
        exit 1
    fi
}
run_tests() {
    local dir=$1
    shift
    echo "== ctest in $dir"
    (cd "$dir" && ctest --output-on-failure -j"$JOBS" "$@")
}

configure build/release -DCMAKE_BUILD_TYPE=RelWithDebInfo
build build/release
configure build/asan -DCMAKE_BUILD_TYPE=Debug -DGHOST_SANITIZE=ON
# libFuzzer needs clang; this build dir holds only the fuzz targets (tests/fuzz/README.md).
CC=clang CXX=clang++ configure build/fuzz -DCMAKE_BUILD_TYPE=RelWithDebInfo

build_behind build/asan
status=0
run_tests build/release "$@" || status=$?
wait_behind build/asan
((status == 0)) || exit "$status"

build_behind build/fuzz --target fuzz
ASAN_OPTIONS=${ASAN_OPTIONS:-detect_leaks=1:abort_on_error=0} \
UBSAN_OPTIONS=${UBSAN_OPTIONS:-print_stacktrace=1:halt_on_error=1} \
    run_tests build/asan -LE "wan|lint" "$@" || status=$?
wait_behind build/fuzz
((status == 0)) || exit "$status"

run_tests build/fuzz -L fuzz "$@"

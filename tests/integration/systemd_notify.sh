#!/usr/bin/env bash
# ghostd speaks the sd_notify protocol the way ghostd.service (Type=notify, WatchdogSec=)
# expects: READY=1 only once the control socket listens, WATCHDOG=1 every half interval,
# RELOADING=1 … READY=1 around SIGHUP, STOPPING=1 on SIGTERM. This script plays systemd.
#
#   ghostd ──AF_UNIX datagrams──▶ $T/notify (python3 receiver, one line per datagram)
#     └── NOTIFY_SOCKET=$T/notify WATCHDOG_USEC=2000000
set -euo pipefail

GHOSTD=${GHOSTD:?path to ghostd}
T=$(mktemp -d /tmp/ghost-notify.XXXXXX)
PID= RECV=

cleanup() {
    set +e  # a killed child's status must not become the script's
    [[ -n "$PID" ]] && kill "$PID" 2>/dev/null && wait "$PID" 2>/dev/null
    [[ -n "$RECV" ]] && kill "$RECV" 2>/dev/null && wait "$RECV" 2>/dev/null
    rm -rf "$T"
}
trap cleanup EXIT

fail() {
    echo "FAIL: $*" >&2
    echo "--- notifications" >&2; cat "$T/notify.log" >&2 || true
    echo "--- ghostd log" >&2; tail -n 30 "$T/ghostd.log" >&2 || true
    exit 1
}
wait_for() {  # wait_for SECONDS COMMAND...: poll until the command succeeds
    local deadline=$((SECONDS + $1)); shift
    until "$@" >/dev/null 2>&1; do
        ((SECONDS < deadline)) || return 1
        sleep 0.1
    done
}
count() { grep -c -- "$1" "$T/notify.log" 2>/dev/null || true; }
more_than() { (($(count "$1") > $2)); }  # more_than PATTERN N: more than N datagrams match

mkdir -p "$T/etc/profiles" "$T/run" "$T/state"
echo '{}' >"$T/etc/ghostd.json"
echo '{ "server": "127.0.0.1:1", "ssh": { "user": "test" } }' >"$T/etc/profiles/alpha.json"

# The receiver notes, for every datagram, whether the control socket existed when it came.
python3 - "$T/notify" "$T/run/ghostd.sock" >"$T/notify.log" <<'PY' &
import os, socket, sys, time
path, control = sys.argv[1], sys.argv[2]
s = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
s.bind(path)
start = time.monotonic()
while True:
    data = s.recv(4096).decode(errors="replace")
    sock = "socket=yes" if os.path.exists(control) else "socket=no"
    print(f"{time.monotonic() - start:7.3f} {sock} {data.replace(chr(10), ' | ')}", flush=True)
PY
RECV=$!
wait_for 5 test -S "$T/notify" || fail "receiver did not start"

echo "# start ghostd under a fake service manager"
NOTIFY_SOCKET="$T/notify" WATCHDOG_USEC=2000000 "$GHOSTD" --foreground --config-dir "$T/etc" \
    --runtime-dir "$T/run" --state-dir "$T/state" >"$T/ghostd.log" 2>&1 &
PID=$!

echo "# READY=1 after the control socket listens"
wait_for 10 grep -q "READY=1" "$T/notify.log" || fail "no READY=1"
grep -m1 "READY=1" "$T/notify.log" | grep -q "socket=yes" || fail "READY=1 before the control socket existed"
grep -m1 "READY=1" "$T/notify.log" | grep -q "STATUS=" || fail "READY=1 without a STATUS= line"

echo "# WATCHDOG=1 every half interval (1 s) from the main loop"
wait_for 6 more_than WATCHDOG=1 3 || fail "expected >= 4 WATCHDOG=1 within ~4 s, got $(count WATCHDOG=1)"

echo "# SIGHUP: RELOADING=1 then READY=1 again"
ready_before=$(count READY=1)
kill -HUP "$PID"
wait_for 5 grep -q "RELOADING=1" "$T/notify.log" || fail "no RELOADING=1 on SIGHUP"
wait_for 5 more_than READY=1 "$ready_before" || fail "no READY=1 after the reload"

echo "# the watchdog keeps going after a reload"
wd=$(count WATCHDOG=1)
wait_for 4 more_than WATCHDOG=1 "$((wd + 1))" || fail "watchdog stopped after reload"

echo "# SIGTERM: STOPPING=1 and a clean exit"
kill -TERM "$PID"
wait "$PID" || fail "ghostd exited non-zero on SIGTERM"
PID=
grep -q "STOPPING=1" "$T/notify.log" || fail "no STOPPING=1"
stop_line=$(grep -n "STOPPING=1" "$T/notify.log" | head -1 | cut -d: -f1)
ready_line=$(grep -n "READY=1" "$T/notify.log" | head -1 | cut -d: -f1)
((stop_line > ready_line)) || fail "STOPPING=1 came before READY=1"

echo "# without NOTIFY_SOCKET ghostd runs the same (nothing sent, no errors)"
: >"$T/notify.log"
rm -f "$T/run/ghostd.sock"  # wait for this run's socket, not a leftover of the last one
env -u NOTIFY_SOCKET WATCHDOG_USEC=2000000 "$GHOSTD" --foreground --config-dir "$T/etc" \
    --runtime-dir "$T/run" --state-dir "$T/state" >"$T/ghostd.log" 2>&1 &
PID=$!
wait_for 10 test -S "$T/run/ghostd.sock" || fail "no control socket without systemd"
kill -TERM "$PID"
wait "$PID" || fail "ghostd (no systemd) exited non-zero"
PID=
[[ ! -s "$T/notify.log" ]] || fail "notifications sent without NOTIFY_SOCKET"
echo "PASS"

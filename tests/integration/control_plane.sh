#!/usr/bin/env bash
# Control plane end to end: a real ghostd in a temp dir driven by the real ghostctl over the
# JSON-RPC socket, including bad profiles, bad RPC input and an unprivileged caller.
#
#   ghostctl (root / nobody) ──unix socket──▶ ghostd ──tcp──▶ 127.0.0.1:$DEAD (nothing listens)
#   rpc_probe.py (bad input) ──unix socket──┘
set -euo pipefail

GHOSTD=${GHOSTD:?path to ghostd}
GHOSTCTL=${GHOSTCTL:?path to ghostctl}
HERE=$(cd "$(dirname "$0")" && pwd)
T=$(mktemp -d /tmp/ghost-cp.XXXXXX)
chmod 755 "$T"
PID=

cleanup() {
    set +e  # a killed child's status must not become the script's
    [[ -n "$PID" ]] && kill "$PID" 2>/dev/null && wait "$PID" 2>/dev/null
    rm -rf "$T"
}
trap cleanup EXIT

fail() { echo "FAIL: $*" >&2; echo "--- ghostd log" >&2; tail -n 50 "$T/ghostd.log" >&2 || true; exit 1; }
wait_for() {  # wait_for SECONDS COMMAND...: poll until the command succeeds
    local deadline=$((SECONDS + $1)); shift
    until "$@" >/dev/null 2>&1; do
        ((SECONDS < deadline)) || return 1
        sleep 0.1
    done
}
ctl() { "$GHOSTCTL" --socket "$T/run/ghostd.sock" "$@"; }
free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }
expect_rc() {  # expect_rc CODE COMMAND...
    local want=$1 rc=0; shift
    "$@" >"$T/out" 2>"$T/err" || rc=$?
    [[ $rc == "$want" ]] || fail "'$*' exited $rc, expected $want: $(cat "$T/out" "$T/err")"
}

DEAD=$(free_port)
mkdir -p "$T/etc/profiles" "$T/run" "$T/state"
cat >"$T/etc/ghostd.json" <<JSON
// test daemon config
{ "rpc": { "max_clients": 64, "idle_timeout": 3 } }
JSON
cat >"$T/etc/profiles/alpha.json" <<JSON
{ "server": "127.0.0.1:$DEAD", "ssh": { "user": "test" } }
JSON
echo '{ "server": "127.0.0.1:1", ' >"$T/etc/profiles/broken.json"
cat >"$T/etc/profiles/wrongkey.json" <<JSON
{ "server": "127.0.0.1:$DEAD", "sock5": { "listen": "127.0.0.1:1080" } }
JSON
cat >"$T/etc/profiles/slow.json" <<JSON
{ "server": "127.0.0.1:$DEAD" }
JSON
cp "$T/etc/profiles/alpha.json" "$T/etc/profiles/Bad..Name.json"

echo "# --check-config names every bad file and key"
rc=0; "$GHOSTD" --check-config --config-dir "$T/etc" >"$T/check" 2>&1 || rc=$?
[[ $rc == 1 ]] || fail "--check-config exited $rc"
grep -q "broken.json" "$T/check" || fail "check-config does not name broken.json"
grep -q "wrongkey.json: sock5" "$T/check" || fail "check-config does not name the unknown key: $(cat "$T/check")"
grep -q "Bad..Name.json" "$T/check" || fail "check-config does not reject the bad name"

echo "# ghostctl check runs the same validator without a daemon"
expect_rc 6 ctl check "$T/etc/profiles/wrongkey.json"
grep -q "did you mean 'socks5'" "$T/err" || fail "check: no suggestion: $(cat "$T/err")"
expect_rc 0 ctl check "$T/etc/profiles/alpha.json"

echo "# daemon not running: helpful error"
expect_rc 3 ctl list
grep -q "systemctl start ghostd" "$T/err" || fail "no hint how to start ghostd"

echo "# start ghostd"
"$GHOSTD" --foreground --config-dir "$T/etc" --runtime-dir "$T/run" --state-dir "$T/state" \
    --log-level debug >"$T/ghostd.log" 2>&1 &
PID=$!
wait_for 10 test -S "$T/run/ghostd.sock" || fail "control socket did not appear"
[[ $(stat -c %a "$T/run/ghostd.sock") == 666 ]] || fail "socket is not world-connectable"

echo "# list: valid and invalid profiles, the bad one does not stop the others"
ctl list >"$T/list" || fail "list failed"
grep -q "^alpha .*down" "$T/list" || fail "alpha not listed: $(cat "$T/list")"
grep -q "^broken .*invalid" "$T/list" || fail "broken not listed as invalid: $(cat "$T/list")"
ctl --json list | python3 -c 'import json,sys; d=json.load(sys.stdin); assert {p["name"] for p in d} == {"alpha","broken","slow","wrongkey"}, d'

echo "# up of a profile whose server refuses: failed with a real reason"
expect_rc 1 ctl up alpha
grep -q "127.0.0.1:$DEAD" "$T/err" || fail "up error does not name the server: $(cat "$T/err")"
grep -qi "refused" "$T/err" || fail "up error does not say refused: $(cat "$T/err")"
ctl --json status alpha | python3 -c 'import json,sys; s=json.load(sys.stdin); assert s["state"]=="failed" and "refused" in s["last_error"].lower(), s'

echo "# up of an invalid profile: config error naming file and key"
expect_rc 6 ctl up wrongkey
grep -q "wrongkey.json: sock5" "$T/err" || fail "config error not named: $(cat "$T/err")"
expect_rc 6 ctl up broken

echo "# missing profile, bad names, down when down"
expect_rc 5 ctl up nosuch
expect_rc 2 ctl up ../etc/passwd
expect_rc 5 ctl status nosuch
expect_rc 0 ctl down slow
expect_rc 0 ctl down slow

echo "# up --no-wait twice is idempotent"
expect_rc 0 ctl up slow --no-wait
expect_rc 0 ctl up slow --no-wait
wait_for 20 sh -c "'$GHOSTCTL' --socket '$T/run/ghostd.sock' --json status slow | grep -q '\"state\": \"failed\"'" ||
    fail "slow did not settle"

echo "# events: monitor sees state changes"
ctl --json monitor --count 3 >"$T/events" &
MON=$!
wait_for 5 grep -q subscribe "$T/ghostd.log" || sleep 0.5
ctl up alpha >/dev/null 2>&1 || true
wait "$MON" || fail "monitor failed"
grep -q '"state":"connecting"' "$T/events" || fail "no connecting event: $(cat "$T/events")"
grep -q '"state":"failed"' "$T/events" || fail "no failed event: $(cat "$T/events")"

echo "# RPC bad input"
python3 "$HERE/tools/rpc_probe.py" "$T/run/ghostd.sock" not_json || fail "not_json"
python3 "$HERE/tools/rpc_probe.py" "$T/run/ghostd.sock" huge_line || fail "huge_line"
python3 "$HERE/tools/rpc_probe.py" "$T/run/ghostd.sock" unknown_method || fail "unknown_method"
python3 "$HERE/tools/rpc_probe.py" "$T/run/ghostd.sock" wrong_params || fail "wrong_params"
python3 "$HERE/tools/rpc_probe.py" "$T/run/ghostd.sock" disconnect_mid_request || fail "disconnect_mid_request"
python3 "$HERE/tools/rpc_probe.py" "$T/run/ghostd.sock" many_clients 200 || fail "many_clients"
python3 "$HERE/tools/rpc_probe.py" "$T/run/ghostd.sock" silent_clients 60 || fail "silent_clients"
python3 "$HERE/tools/rpc_probe.py" "$T/run/ghostd.sock" idle_timeout 3 || fail "idle_timeout"
kill -0 "$PID" || fail "ghostd died under bad input"

echo "# unprivileged caller: reads allowed, changes refused with a hint"
as_nobody() { setpriv --reuid=nobody --regid=nogroup --clear-groups "$GHOSTCTL" --socket "$T/run/ghostd.sock" "$@"; }
as_nobody list >/dev/null || fail "nobody cannot list"
as_nobody status alpha >/dev/null || fail "nobody cannot read status"
rc=0; as_nobody up alpha 2>"$T/err" || rc=$?
[[ $rc == 4 ]] || fail "nobody up exited $rc"
grep -q "group ghost" "$T/err" || fail "denial does not name the group: $(cat "$T/err")"
rc=0; as_nobody down alpha 2>/dev/null || rc=$?
[[ $rc == 4 ]] || fail "nobody down exited $rc"

echo "# control-group members may change state"
GID=$(getent group nogroup | cut -d: -f3)
sed -i 's/{ "rpc"/{ "control_group": "nogroup", "rpc"/' "$T/etc/ghostd.json"
# The control group is read at start: restart ghostd.
kill "$PID"; wait "$PID" || true
"$GHOSTD" --foreground --config-dir "$T/etc" --runtime-dir "$T/run" --state-dir "$T/state" >>"$T/ghostd.log" 2>&1 &
PID=$!
wait_for 10 test -S "$T/run/ghostd.sock" || fail "no socket after restart"
rc=0; setpriv --reuid=nobody --regid=nogroup --groups="$GID" "$GHOSTCTL" --socket "$T/run/ghostd.sock" down alpha || rc=$?
[[ $rc == 0 ]] || fail "group member refused ($rc)"

echo "# reload: new and removed profiles"
cp "$T/etc/profiles/alpha.json" "$T/etc/profiles/gamma.json"
rm "$T/etc/profiles/slow.json"
ctl --json reload >"$T/reload" || true
grep -q gamma "$T/reload" || fail "reload did not add gamma: $(cat "$T/reload")"
ctl list | grep -q "^gamma" || fail "gamma not listed"
ctl list | grep -q "^slow" && fail "slow still listed"
rm "$T/etc/profiles/gamma.json"
kill -HUP "$PID"
wait_for 5 sh -c "! '$GHOSTCTL' --socket '$T/run/ghostd.sock' list | grep -q '^gamma'" || fail "SIGHUP did not reload"

echo "# SIGTERM: clean stop, socket removed"
kill -TERM "$PID"
wait "$PID" || fail "ghostd exited non-zero on SIGTERM"
PID=
[[ ! -e "$T/run/ghostd.sock" ]] || fail "socket left behind"
grep -q "stopped" "$T/ghostd.log" || fail "no clean stop message"
echo "PASS"

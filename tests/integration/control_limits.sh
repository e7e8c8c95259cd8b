#!/usr/bin/env bash
# Control socket limits per user: no unprivileged user can lock root out (docs/rpc.md).
#
#   nobody: rpc_flood.py hold 1,000 ──────┐  8 kept (4 subscribed), 992 refused at the door
#   nobody: rpc_flood.py churn ───────────┤  connects and is refused, all along
#   bin sys games man lp: hold 8 each ────┤  the rest of the unprivileged share (48 of 64)
#   root: ghostctl list / down / up ──────┼──unix socket──▶ ghostd ── server profile "srv"
#   daemon (+group staff): ghostctl ──────┤                 (control_group "staff")       127.0.0.1:$SRV
#   root: rpc_flood.py subscribe 1,000 ───┤  second start, max_clients 1100: fan-out
#   root: rpc_flood.py slow ──────────────┤  never reads its answers: dropped
#   root: rpc_flood.py idle 100 ──────────┘  with ghostd's descriptor limit lowered (prlimit)
#
# Group staff stands in for group ghost, which the test machine need not have.
. "$(dirname "$0")/lib.sh"

HERE=$(cd "$(dirname "$0")" && pwd)
FLOOD=$HERE/tools/rpc_flood.py
PY=/usr/bin/python3  # the unprivileged users run the system python
CTL_GROUP=staff
CTL_GID=$(getent group "$CTL_GROUP" | cut -d: -f3) || { echo "SKIP: no group $CTL_GROUP"; exit 77; }
for u in nobody daemon bin sys games man lp mail; do
    id "$u" >/dev/null 2>&1 || { echo "SKIP: no user $u"; exit 77; }
done
id -nG nobody | grep -qw "$CTL_GROUP" && { echo "SKIP: nobody is in $CTL_GROUP"; exit 77; }

SRV=$(free_port)
mkdir -m 1777 "$T/flood"  # reports written by the unprivileged flooders
ssh-keygen -q -t ed25519 -N '' -f "$T/user"
cp "$T/user.pub" "$T/authorized_keys"
ghost_dirs
write_profile srv "{ \"role\": \"server\", \"listen\": [ { \"address\": \"127.0.0.1:$SRV\" } ],
  \"authorized_keys\": \"$T/authorized_keys\" }"

as_user() {  # as_user USER [GROUP-ID] CMD...: CMD as USER, with GROUP-ID as supplementary group
    local user=$1 groups=--clear-groups; shift
    [[ $1 =~ ^[0-9]+$ ]] && { groups=--groups=$1; shift; }
    setpriv --reuid="$user" --regid="$(id -g "$user")" "$groups" "$@"
}
ctl_as() {  # ctl_as USER [GROUP-ID] ARGS...: ghostctl as USER
    local u=$1 g=(); shift
    [[ $1 =~ ^[0-9]+$ ]] && { g=("$1"); shift; }
    as_user "$u" "${g[@]}" "$GHOSTCTL" --socket "$GHOST_RUN/ghostd.sock" --timeout 10 "$@"
}
hold() {  # hold USER N NAME: USER opens N connections (each subscribes) and keeps them
    as_user "$1" "$PY" "$FLOOD" "$GHOST_RUN/ghostd.sock" hold "$2" "$T/flood/$3.json" \
        >"$T/flood-$3.out" 2>&1 &
    track_pid $!
    wait_for 60 "$3 holds its connections" test -f "$T/flood/$3.json"
}
release() { for n in "$@"; do touch "$T/flood/$n.json.release"; done; }
field() { jq -r "$2" "$T/flood/$1.json"; }
fds() { ls "/proc/$GHOSTD_PID/fd" | wc -l; }
no_leaks() { (($(fds) <= BASE_FDS)); }

# ---------------------------------------------------------------- defaults: 64 / 16 / 8 / 4
echo "{ \"control_group\": \"$CTL_GROUP\" }" >"$GHOST_ETC/ghostd.json"
start_ghostd
gctl up srv >/dev/null || fail "up srv: $(gctl status srv 2>&1)"
BASE_FDS=$(fds)

log "nobody opens 1,000 connections, each asking for events"
hold nobody 1000 nobody
[[ $(field nobody .held) == 8 && $(field nobody .subscribed) == 4 ]] ||
    fail "nobody kept more than its share: $(cat "$T/flood/nobody.json")"
[[ $(field nobody .refused_connection) == 992 && $(field nobody .refused_closed) == 992 ]] ||
    fail "refused connections not closed with an answer: $(cat "$T/flood/nobody.json")"
field nobody '.connection_errors[]' |
    has -Fx -- "-32007 too many control connections for uid 65534 (limit 8 per user); close some and try again" ||
    fail "connection refusal: $(field nobody .connection_errors)"
field nobody '.subscription_errors[]' |
    has -F "too many event subscriptions for uid 65534 (limit 4 per user)" ||
    fail "subscription refusal: $(field nobody .subscription_errors)"
(($(fds) <= BASE_FDS + 8)) || fail "ghostd holds $(fds) descriptors (base $BASE_FDS + 8 connections)"
pass "nobody: 8 connections kept, 4 subscribed, 992 refused with the limit named"

log "while nobody keeps knocking, root acts 20 times"
as_user nobody "$PY" "$FLOOD" "$GHOST_RUN/ghostd.sock" churn 20 >"$T/churn.out" 2>&1 &
CHURN=$!
track_pid $CHURN
worst=0
for round in $(seq 20); do
    start=$(date +%s%N)
    gctl --timeout 10 list | has "^srv " || fail "round $round: root's list"
    [[ $(gctl --timeout 10 down srv) == "srv: down" ]] || fail "round $round: root's down srv"
    [[ $(gctl --timeout 10 up srv) == "srv: up" ]] || fail "round $round: root's up srv"
    ms=$((($(date +%s%N) - start) / 1000000))
    ((ms > worst)) && worst=$ms
done
pass "root: list, down, up 20/20 (slowest round ${worst} ms)"

log "the control group gets in too, also under the flooding uid"
[[ $(ctl_as daemon "$CTL_GID" down srv) == "srv: down" ]] || fail "group member's down"
[[ $(ctl_as daemon "$CTL_GID" up srv) == "srv: up" ]] || fail "group member's up"
ctl_as nobody "$CTL_GID" list | has "^srv " || fail "nobody with the control group refused"
rc=0; ctl_as nobody list >/dev/null 2>"$T/err" || rc=$?
[[ $rc == 7 ]] && has -F "too many control connections for uid 65534 (limit 8 per user)" <"$T/err" ||
    fail "nobody's extra ghostctl: rc $rc: $(cat "$T/err")"
pass "group member: down/up; nobody's own ghostctl: '$(cat "$T/err")'"

log "five more users fill the unprivileged share: only root and the group get the rest"
for u in bin sys games man lp; do hold "$u" 8 "$u"; done
for u in bin sys games man lp; do [[ $(field "$u" .held) == 8 ]] || fail "$u: $(cat "$T/flood/$u.json")"; done
rc=0; ctl_as mail list >/dev/null 2>"$T/err" || rc=$?
[[ $rc == 7 ]] && has -F "from users outside the control group (limit 48; 16 more are kept for root and the control group)" <"$T/err" ||
    fail "mail past the unprivileged share: rc $rc: $(cat "$T/err")"
gctl --timeout 10 list | has "^srv " || fail "root refused with the share full"
[[ $(ctl_as daemon "$CTL_GID" down srv) == "srv: down" ]] || fail "group member refused with the share full"
gctl up srv >/dev/null || fail "up srv"
pass "share full: mail refused ('$(cat "$T/err")'), root and the group served"

wait $CHURN || fail "churn: $(cat "$T/churn.out")"
jq -e 'has("accepted") | not' "$T/churn.out" >/dev/null || fail "nobody got past its limit: $(cat "$T/churn.out")"
refusals=$(jq '[.[]] | add' "$T/churn.out")
release nobody bin sys games man lp
wait_for 20 "flooders to leave" bash -c "[[ \$(cat '$T'/flood-*.out | grep -c still_open) == 6 ]]"
jq -e '.still_open == 8' "$T/flood-nobody.out" >/dev/null || fail "ghostd dropped held connections: $(cat "$T/flood-nobody.out")"
wait_for 10 "descriptors back to $BASE_FDS" no_leaks
lines=$(grep -c "control: refused" "$T/ghostd.log" || true)
((lines <= 5)) || fail "$lines refusal lines logged: not rate-limited"
kill -0 "$GHOSTD_PID" || fail "ghostd died"
pass "churn: $refusals refusals, $lines log line(s); descriptors back to $BASE_FDS"

# ---------------------------------------------------------------- fan-out: 1,000 subscribers
stop_ghostd
echo "{ \"control_group\": \"$CTL_GROUP\", \"rpc\": { \"max_clients\": 1100 } }" >"$GHOST_ETC/ghostd.json"
rm -f "$T"/flood/*
start_ghostd
gctl up srv >/dev/null || fail "up srv"
hold nobody 1000 nobody2
[[ $(field nobody2 .held) == 8 ]] || fail "nobody with max_clients 1100: $(cat "$T/flood/nobody2.json")"
"$PY" "$FLOOD" "$GHOST_RUN/ghostd.sock" subscribe 1000 "$T/flood/subs.json" 20 >"$T/subs.out" 2>&1 &
SUBS=$!
track_pid $SUBS
wait_for 60 "1,000 subscribers" test -f "$T/flood/subs.json"
cpu() { awk '{print $14 + $15}' "/proc/$GHOSTD_PID/stat"; }
cpu0=$(cpu)
start=$(date +%s%N)
for round in $(seq 5); do  # 4 state events a round
    [[ $(gctl --timeout 10 down srv) == "srv: down" ]] || fail "fan-out round $round: down"
    [[ $(gctl --timeout 10 up srv) == "srv: up" ]] || fail "fan-out round $round: up"
done
ms=$((($(date +%s%N) - start) / 1000000))
cpu_ms=$((($(cpu) - cpu0) * 1000 / $(getconf CLK_TCK)))
wait $SUBS || fail "subscribers: $(cat "$T/subs.out")"
jq -e '.complete == 1000' "$T/subs.out" >/dev/null || fail "not every subscriber saw every event: $(cat "$T/subs.out")"
release nobody2
pass "1,000 subscribers got all 20 events; 5 down/up rounds took $ms ms, ghostd CPU $cpu_ms ms"

log "a client that never reads its answers is dropped, not buffered without end"
"$PY" "$FLOOD" "$GHOST_RUN/ghostd.sock" slow 20000 >"$T/slow.out" || fail "slow: $(cat "$T/slow.out")"
jq -e '.end != "still open"' "$T/slow.out" >/dev/null || fail "slow reader kept: $(cat "$T/slow.out")"
grep -q "dropping client root .*not reading its replies or events (4096 lines" "$T/ghostd.log" ||
    fail "drop not logged"
gctl list | has "^srv " || fail "list after the slow reader"
kill -0 "$GHOSTD_PID" || fail "ghostd died"
pass "slow reader dropped at 4096 queued lines: $(cat "$T/slow.out")"

log "out of descriptors: ghostd waits for them instead of spinning, then serves again"
limit=$(($(fds) + 10))
prlimit --pid "$GHOSTD_PID" --nofile="$limit:$limit"
"$PY" "$FLOOD" "$GHOST_RUN/ghostd.sock" idle 100 3 >"$T/idle.out" 2>&1 &
IDLE=$!
track_pid $IDLE
wait_for 10 "accept to run out of descriptors" grep -q "control: accept: Too many open files" "$T/ghostd.log"
cpu0=$(cpu)
sleep 1
busy_ms=$((($(cpu) - cpu0) * 1000 / $(getconf CLK_TCK)))
((busy_ms < 500)) || fail "ghostd spun for $busy_ms ms of CPU in 1 s while out of descriptors"
wait $IDLE || fail "idle clients: $(cat "$T/idle.out")"
wait_for 10 "service after the descriptors came back" bash -c "'$GHOSTCTL' --socket '$GHOST_RUN/ghostd.sock' list | grep -q '^srv '"
(($(grep -c "control: accept:" "$T/ghostd.log") == 1)) || fail "accept failures not logged once"
pass "at $limit descriptors: ${busy_ms} ms CPU in 1 s, logged once, served again afterwards"
echo PASS

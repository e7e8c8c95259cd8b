#!/usr/bin/env bash
# Up/down hooks of a client profile against a stock OpenSSH sshd on loopback:
#
#   ghostd "hk" ──ssh──▶ sshd 127.0.0.1:$SSHD_PORT
#     hooks.up / hooks.down: scripts that record their environment
#
# Checks: the up hook runs with GHOST_PROFILE/GHOST_STATE/GHOST_HOOK (and nothing of
# ghostd's environment); the down hook runs on `down` and when the session is lost
# (GHOST_STATE=reconnecting); a failing hook, a hook that outlives hooks.timeout and a
# group-writable hook are reported (status last_hook, event) while the profile stays up.
. "$(dirname "$0")/lib.sh"

start_sshd
export GHOST_SECRET_FROM_TEST=leak  # must not reach the hooks
start_ghostd
ssh-keygen -q -t ed25519 -N '' -f "$T/id"
authorize_key "$T/id.pub"

H=$T/hooks
mkdir -p "$H"
chmod 755 "$H"
hook() {  # hook NAME BODY
    printf '#!/bin/sh\n%s\n' "$2" >"$H/$1"
    chmod 755 "$H/$1"
}
hook up 'env | sort >"'"$T"'/up.$GHOST_STATE.env"'
hook down 'env | sort >"'"$T"'/down.$GHOST_STATE.env"'
hook fail 'echo "cannot reach the printer" >&2; exit 3'
hook slow 'sleep 30'

profile() {  # profile UP_HOOK DOWN_HOOK [TIMEOUT]
    write_profile hk "{ \"server\": \"127.0.0.1:$SSHD_PORT\",
      \"ssh\": { \"user\": \"$(id -un)\", \"identity_file\": \"$T/id\", \"host_key\": \"$SSHD_FP\" },
      \"reconnect\": { \"initial_delay\": 1, \"max_delay\": 2 },
      \"hooks\": { \"up\": \"$1\", \"down\": \"$2\", \"timeout\": ${3:-10} } }"
    gctl reload >/dev/null
}
last_hook() { gctl --json status hk | jq -c '.last_hook'; }

# --- up and down, with the documented environment only
profile "$H/up" "$H/down"
gctl up hk >/dev/null || fail "up: $(gctl status hk)"
wait_for 10 "up hook" test -s "$T/up.up.env"
grep -qx "GHOST_PROFILE=hk" "$T/up.up.env" || fail "up hook env: $(cat "$T/up.up.env")"
grep -qx "GHOST_HOOK=up" "$T/up.up.env" || fail "up hook env: $(cat "$T/up.up.env")"
grep -q "GHOST_SECRET_FROM_TEST" "$T/up.up.env" && fail "ghostd's environment leaked into the hook"
gctl down hk >/dev/null
wait_for 10 "down hook" test -s "$T/down.down.env"
grep -qx "GHOST_STATE=down" "$T/down.down.env" || fail "down hook env: $(cat "$T/down.down.env")"
pass "up and down hooks run with GHOST_PROFILE, GHOST_STATE, GHOST_HOOK and nothing else of ghostd's"

# --- session lost: down hook with GHOST_STATE=reconnecting; back up: up hook again
rm -f "$T"/up.*.env
gctl up hk >/dev/null || fail "up again"
wait_for 10 "up hook" test -s "$T/up.up.env"
rm -f "$T/up.up.env"
stop_sshd
wait_for 20 "down hook on session loss" test -s "$T/down.reconnecting.env"
start_sshd
wait_for 30 "up hook after reconnect" test -s "$T/up.up.env"
pass "session lost -> down hook (GHOST_STATE=reconnecting); reconnected -> up hook"

# --- failing hook: reported, profile stays up
gctl --json monitor >"$T/events" 2>&1 &
ev=$!
track_pid $ev
sleep 0.3
profile "$H/fail" "$H/down"
wait_state hk up
_failed() { [[ $(last_hook | jq -r '.hook + ":" + (.ok|tostring)') == "up:false" ]]; }
wait_for 15 "failed hook in status" _failed
lh=$(last_hook)
[[ $(jq -r .exit_code <<<"$lh") == 3 && $(jq -r .output <<<"$lh") == "cannot reach the printer" ]] ||
    fail "failed hook status: $lh"
[[ $(gctl --json status hk | jq -r .state) == up ]] || fail "a failing hook took the profile down"
wait_for 5 "hook.failed event" grep -q '"hook.failed"' "$T/events"
grep -q "up hook $H/fail failed: exited with status 3" "$T/ghostd.log" || fail "failure not logged"
pass "failing hook: status last_hook (exit 3, its output), event and log; profile stays up"

# --- a hook that outlives the timeout is killed
profile "$H/slow" "$H/down" 1
wait_state hk up
_killed() { [[ $(last_hook | jq -r .message) == *"killed after the 1 s timeout"* ]]; }
wait_for 15 "slow hook killed" _killed
pgrep -f "$H/slow" >/dev/null && fail "slow hook still running"
pass "hook past hooks.timeout killed and reported: $(last_hook | jq -r .message)"

# --- a group-writable hook is refused
hook gw 'touch "'"$T"'/gw.ran"'
chmod 775 "$H/gw"
profile "$H/gw" "$H/down"
wait_state hk up
_refused() { [[ $(last_hook | jq -r .message) == *"writable by group or others"* ]]; }
wait_for 15 "group-writable hook refused" _refused
[[ ! -e $T/gw.ran ]] || fail "group-writable hook was run"
pass "group-writable hook refused: $(last_hook | jq -r .message)"

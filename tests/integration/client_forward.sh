#!/usr/bin/env bash
# Local (-L) and remote (-R) forwards of a client profile through a stock OpenSSH sshd:
#
#   socat --> ghostd 127.0.0.1:$L_UP   ==ssh==> sshd --> socat sink   (upload, 100 MB)
#   socat <-- ghostd 127.0.0.1:$L_DOWN ==ssh==> sshd <-- socat source (download, 100 MB)
#   socat --> ghostd 127.0.0.1:$L_BAD  ==ssh==> sshd --x closed port  (only this flow fails)
#   socat --> sshd 127.0.0.1:$R_PORT   ==ssh==> ghostd --> echo       (remote forward)
#
# Then sshd is killed and restarted: the profile reconnects, the local listeners are never
# unbound, and new flows work again.
. "$(dirname "$0")/lib.sh"

MB=${GHOST_TEST_MB:-100}
start_sshd
start_ghostd
ssh-keygen -q -t ed25519 -N '' -f "$T/id"
authorize_key "$T/id.pub"

T_UP=$(free_port) T_DOWN=$(free_port) T_ECHO=$(free_port) T_CLOSED=$(free_port)
L_UP=$(free_port) L_DOWN=$(free_port) L_BAD=$(free_port) R_PORT=$(free_port)
make_blob "$T/blob" "$MB"
want=$(sha_of "$T/blob")

write_profile fw "{
  \"server\": \"127.0.0.1:$SSHD_PORT\",
  \"ssh\": { \"user\": \"$(id -un)\", \"identity_file\": \"$T/id\", \"host_key\": \"$SSHD_FP\" },
  \"forward\": [
    { \"listen\": \"127.0.0.1:$L_UP\", \"target\": \"127.0.0.1:$T_UP\" },
    { \"listen\": \"127.0.0.1:$L_DOWN\", \"target\": \"127.0.0.1:$T_DOWN\" },
    { \"listen\": \"127.0.0.1:$L_BAD\", \"target\": \"127.0.0.1:$T_CLOSED\" }
  ],
  \"remote_forward\": [ { \"listen\": \"127.0.0.1:$R_PORT\", \"target\": \"127.0.0.1:$T_ECHO\" } ],
  \"reconnect\": { \"initial_delay\": 1, \"max_delay\": 2 }
}"
gctl reload >/dev/null
if ! out=$(gctl up fw 2>&1); then
    if [[ $out == *"not yet supported"* ]]; then
        log "SKIP: this ghostd does not enable forwards yet: $out"
        exit 0
    fi
    fail "up failed: $out"
fi
status_json() { gctl --json status fw; }
state_is() { [[ $(status_json | jq -r '.state') == "$1" ]]; }

# --- -L upload and download, byte-exact
socat -u TCP-LISTEN:"$T_UP",bind=127.0.0.1,reuseaddr OPEN:"$T/up.recv",creat,trunc 2>>"$T/socat.log" &
sink=$!
socat -u OPEN:"$T/blob" TCP-LISTEN:"$T_DOWN",bind=127.0.0.1,reuseaddr 2>>"$T/socat.log" &
track_pid $sink
track_pid $!
wait_for 5 "source" port_listening "$T_DOWN"
wait_for 5 "sink" port_listening "$T_UP"
start=$SECONDS
socat -u OPEN:"$T/blob" TCP:127.0.0.1:"$L_UP" 2>>"$T/socat.log"
wait $sink || true
[[ $(sha_of "$T/up.recv") == "$want" ]] || fail "upload through -L is not byte-exact"
pass "-L upload of $MB MB byte-exact ($((SECONDS - start)) s)"
start=$SECONDS
socat -u TCP:127.0.0.1:"$L_DOWN" CREATE:"$T/down.recv" 2>>"$T/socat.log"
[[ $(sha_of "$T/down.recv") == "$want" ]] || fail "download through -L is not byte-exact"
pass "-L download of $MB MB byte-exact ($((SECONDS - start)) s)"

# --- target refused: only that flow fails
got=$(timeout 10 socat -u TCP:127.0.0.1:"$L_BAD" - 2>/dev/null || true)
[[ -z $got ]] || fail "refused target produced data"
state_is up || fail "profile left up after a refused target: $(status_json)"
[[ $(status_json | jq '.forwards[2].failed') == 1 ]] || fail "refused flow not counted: $(status_json)"
pass "refused target fails only that flow"

# --- -R
socat TCP-LISTEN:"$T_ECHO",bind=127.0.0.1,fork,reuseaddr EXEC:cat 2>>"$T/socat.log" &
track_pid $!
wait_for 10 "remote forward listening" bash -c \
    "[[ \$($GHOSTCTL --socket $GHOST_RUN/ghostd.sock --json status fw | jq -r '.remote_forwards[0].state') == listening ]]"
got=$(echo hello-remote | timeout 10 socat -t 3 - TCP:127.0.0.1:"$R_PORT")
[[ $got == hello-remote ]] || fail "remote forward echo: '$got'"
pass "-R forward reaches the local target"

# --- sshd restart: reconnect, listeners stay bound
watch_listener() {  # fails the test if the -L listener ever stops accepting
    while :; do port_open "$L_UP" || { echo unbound >"$T/unbound"; return; }; sleep 0.2; done
}
watch_listener &
watcher=$!
track_pid $watcher
stop_sshd
wait_for 20 "reconnecting" state_is reconnecting
pass "sshd killed -> reconnecting"
start_sshd
wait_for 30 "up again" state_is up
kill $watcher 2>/dev/null || true
[[ ! -e $T/unbound ]] || fail "-L listener was unbound during reconnect"
head -c 1048576 /dev/urandom >"$T/small"
socat -u TCP-LISTEN:"$T_UP",bind=127.0.0.1,reuseaddr OPEN:"$T/up2.recv",creat,trunc 2>>"$T/socat.log" &
sink=$!
track_pid $sink
wait_for 5 "sink" port_listening "$T_UP"
socat -u OPEN:"$T/small" TCP:127.0.0.1:"$L_UP"
wait $sink || true
[[ $(sha_of "$T/up2.recv") == $(sha_of "$T/small") ]] || fail "flow after reconnect corrupted"
wait_for 10 "remote forward re-requested" bash -c \
    "[[ \$($GHOSTCTL --socket $GHOST_RUN/ghostd.sock --json status fw | jq -r '.remote_forwards[0].state') == listening ]]"
got=$(echo again | timeout 10 socat -t 3 - TCP:127.0.0.1:"$R_PORT")
[[ $got == again ]] || fail "remote forward after reconnect: '$got'"
pass "reconnected: listener kept, new -L flow and re-requested -R work"

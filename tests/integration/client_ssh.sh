#!/usr/bin/env bash
# Client profile against a stock OpenSSH sshd on loopback, through a real ghostd:
#
#   ghostctl --unix--> ghostd --tcp 127.0.0.1:$SSHD_PORT--> sshd (temp dir, own config)
#
# Checks: generated key shown in status and refused until authorised; host key pinned by
# fingerprint; wrong host key -> failed with both fingerprints; a non-SSH server -> clear
# error; sshd killed and restarted -> reconnecting, then up again.
. "$(dirname "$0")/lib.sh"

start_sshd
start_ghostd

profile() {  # profile NAME PORT HOST_KEY
    write_profile "$1" "{ \"server\": \"127.0.0.1:$2\", \"ssh\": { \"user\": \"$(id -un)\",
        \"host_key\": \"$3\", \"connect_timeout\": 5 },
        \"reconnect\": { \"initial_delay\": 1, \"max_delay\": 2 } }"
}
status_of() { gctl --json status "$1"; }
field() { status_of "$1" | jq -r "$2"; }

# --- 1. generated key: refused until authorised, then up
profile p1 "$SSHD_PORT" "$SSHD_FP"
gctl reload >/dev/null
out=$(gctl up p1 2>&1) && fail "up succeeded with an unauthorised key: $out"
[[ $out == *"authentication rejected by server for user $(id -un) (key SHA256:"* ]] ||
    fail "unexpected auth error: $out"
[[ $(stat -c %a "$GHOST_STATE/p1/id_ed25519") == 600 ]] || fail "generated key is not mode 600"
[[ $(stat -c %a "$GHOST_STATE/p1") == 700 ]] || fail "key directory is not mode 700"
pub=$(cat "$GHOST_STATE/p1/id_ed25519.pub")
[[ $pub == ssh-ed25519\ * ]] || fail "no generated public key"
pass "unauthorised key refused with its fingerprint"

authorize_key "$pub"
gctl up p1 >/dev/null || fail "up failed after authorising the key: $(status_of p1)"
spub=$(status_of p1 | jq -r '.. | .public_key? // empty' | head -1)
[[ $spub == "$pub" ]] || fail "status public_key '$spub' != generated '$pub'"
fp=$(status_of p1 | jq -r '.. | .host_key_fingerprint? // empty' | head -1)
[[ $fp == "$SSHD_FP" ]] || fail "host_key_fingerprint '$fp' != '$SSHD_FP'"
pass "profile up, host key fingerprint reported"

# --- 2. wrong host key
bad=SHA256:AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA
profile p2 "$SSHD_PORT" "$bad"
gctl reload >/dev/null
out=$(gctl up p2 2>&1) && fail "up succeeded with a wrong host key"
[[ $out == *"host key mismatch for 127.0.0.1:$SSHD_PORT: expected $bad, got $SSHD_FP"* ]] ||
    fail "unexpected mismatch message: $out"
pass "wrong host key -> failed with both fingerprints"

# --- 3. something that is not an SSH server
HTTP_PORT=$(free_port)
socat TCP-LISTEN:"$HTTP_PORT",bind=127.0.0.1,fork,reuseaddr \
    SYSTEM:'read -r line; printf "HTTP/1.1 400 Bad Request\r\nContent-Length: 0\r\n\r\n"' \
    2>>"$T/http.log" &
track_pid $!
wait_for 5 "fake http server" port_open "$HTTP_PORT"
profile p3 "$HTTP_PORT" "$SSHD_FP"
gctl reload >/dev/null
out=$(gctl up p3 2>&1) && fail "up succeeded against an HTTP server"
[[ $out == *"SSH handshake with 127.0.0.1:$HTTP_PORT failed"*"an SSH server?"* ]] ||
    fail "unclear error for a non-SSH server: $out"
pass "non-SSH server -> clear error"

# --- 4. connection refused
DEAD_PORT=$(free_port)
profile p4 "$DEAD_PORT" "$SSHD_FP"
gctl reload >/dev/null
out=$(gctl up p4 2>&1) && fail "up succeeded against a closed port"
[[ $out == *"connection refused to 127.0.0.1:$DEAD_PORT"* ]] || fail "unexpected: $out"
pass "closed port -> connection refused"

# --- 5. sshd killed and restarted -> reconnect
state_of() { status_of "$1" | jq -r '.. | .state? // empty' | head -1; }
stop_sshd
wait_for 20 "p1 reconnecting" bash -c "[[ \$($GHOSTCTL --socket $GHOST_RUN/ghostd.sock --json status p1 | jq -r '.. | .state? // empty' | head -1) == reconnecting ]]"
pass "sshd gone -> reconnecting"
start_sshd
wait_for 30 "p1 up again" bash -c "[[ \$($GHOSTCTL --socket $GHOST_RUN/ghostd.sock --json status p1 | jq -r '.. | .state? // empty' | head -1) == up ]]"
pass "sshd back -> up again"

# --- 6. autostart while the server is not there yet (boot before the network):
# the first connection's failure is retried, and the profile comes up once sshd is back.
# An interactive up of the same situation fails at once (section 4).
stop_ghostd
stop_sshd
profile p5 "$SSHD_PORT" "$SSHD_FP"
jq --arg id "$GHOST_STATE/p1/id_ed25519" '. + {autostart: true} | .ssh.identity_file = $id' "$GHOST_ETC/profiles/p5.json" >"$T/p5.json"
mv "$T/p5.json" "$GHOST_ETC/profiles/p5.json"
rm -f "$GHOST_ETC/profiles/p2.json" "$GHOST_ETC/profiles/p3.json" "$GHOST_ETC/profiles/p4.json"
start_ghostd
wait_state p5 reconnecting 20
err=$(profile_field p5 '.last_error')
[[ $err == *"connection refused to 127.0.0.1:$SSHD_PORT"* ]] || fail "autostart retry without the reason: $err"
[[ $(state_of p1) == down ]] || fail "p1 (no autostart) is $(state_of p1)"
pass "autostart with the server down -> reconnecting ($err)"
start_sshd
wait_state p5 up 30
pass "server appears -> autostarted profile up"

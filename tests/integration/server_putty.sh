#!/usr/bin/env bash
# PuTTY (plink) against a ghost server profile: one plink session carries 10 rounds of
# -D (curl through SOCKS) and -L (byte-exact) transfers and survives all of them.
# PuTTY asks for window adjustments with "winadj@putty.projects.tartarus.org" channel
# requests (want-reply); a reply to one that arrives after the server's CHANNEL_CLOSE is a
# fatal protocol error for plink ("Received SSH2_MSG_CHANNEL_FAILURE for nonexistent
# channel"), so the server must never answer on a channel it has closed (RFC 4254 5.3).
#
#   plink -N -D :$D -L :$L ──tcp──▶ ghostd "edge" 127.0.0.1:$EDGE ──▶ http.server 127.0.0.1:$HTTP
#   ssh -N -L :$L2 (OpenSSH, same server, alongside) ─────────┘
#
# All on loopback; every process and file lives in the test's temp dir.
. "$(dirname "$0")/lib.sh"

command -v plink >/dev/null && command -v puttygen >/dev/null || {
    log "SKIP: plink/puttygen not installed (Debian putty-tools; scripts/setup.sh installs it)"
    exit 77
}

HTTP=$(free_port) BLOB=$(free_port) EDGE=$(free_port) D=$(free_port) L=$(free_port) L2=$(free_port)
PROBE=$(dirname "$0")/tools/socks_probe.py
ROUNDS=${GHOST_TEST_PUTTY_ROUNDS:-10}

mkdir -p "$T/www"
make_blob "$T/www/blob" 8
make_blob "$T/www/small" 1
want=$(sha_of "$T/www/blob")
(cd "$T/www" && exec python3 -m http.server --bind 127.0.0.1 "$HTTP" >"$T/http.log" 2>&1) &
track_pid $!
# The blob server sends the file and closes: with a client that half-closes first, the
# server ends the channel (EOF + CLOSE) right after the last data, while plink is still
# asking for window with winadj requests.
socat -U TCP-LISTEN:"$BLOB",bind=127.0.0.1,fork,reuseaddr OPEN:"$T/www/blob" 2>"$T/socat.log" &
track_pid $!
wait_for 10 "http target" port_open "$HTTP"
wait_for 10 "blob target" port_listening "$BLOB"

ssh-keygen -q -t ed25519 -N '' -C putty-user -f "$T/user"
puttygen "$T/user" -O private -o "$T/user.ppk" || fail "puttygen could not convert the key"
cp "$T/user.pub" "$T/authorized_keys"

start_ghostd
write_profile edge "{
  \"role\": \"server\",
  \"listen\": [ { \"address\": \"127.0.0.1:$EDGE\" } ],
  \"authorized_keys\": \"$T/authorized_keys\",
  \"acl\": { \"deny_loopback\": false }
}"
gctl reload >/dev/null
gctl up edge >/dev/null || fail "up edge: $(gctl status edge 2>&1)"
wait_state edge up
FP=$(gctl --json status edge | jq -r '[.. | objects | select(has("fingerprint"))][0].fingerprint')
[[ $FP == SHA256:* ]] || fail "no host key fingerprint in status"
gctl --json status edge | jq -r '.. | objects | select(has("known_hosts")) | .known_hosts[]' >"$T/known_hosts"

# ---------------------------------------------------------------- one plink session
plink -v -ssh -batch -noagent -N -P "$EDGE" -i "$T/user.ppk" -hostkey "$FP" \
    -D "127.0.0.1:$D" -L "127.0.0.1:$L:127.0.0.1:$BLOB" ghost@127.0.0.1 \
    </dev/null >"$T/plink.out.log" 2>"$T/plink.log" &
PLINK=$!
track_pid "$PLINK"
wait_for 15 "plink -D listener" port_listening "$D"
wait_for 15 "plink -L listener" port_listening "$L"
wait_for 10 "plink's session on the server" bash -c \
    "[[ \$('$GHOSTCTL' --socket '$GHOST_RUN/ghostd.sock' --json sessions edge | jq length) -ge 1 ]]"

# An OpenSSH session beside it must be unaffected throughout.
ssh -F /dev/null -o BatchMode=yes -o StrictHostKeyChecking=yes -o UserKnownHostsFile="$T/known_hosts" \
    -o IdentitiesOnly=yes -i "$T/user" -p "$EDGE" -N -L "127.0.0.1:$L2:127.0.0.1:$HTTP" ghost@127.0.0.1 \
    2>"$T/ssh.log" &
track_pid $!
wait_for 15 "ssh -L listener" port_listening "$L2"

alive() { kill -0 "$PLINK" 2>/dev/null || fail "plink died in round $1: $(cat "$T/plink.log")"; }
for ((i = 1; i <= ROUNDS; i++)); do
    curl -fsS -m 30 --socks5-hostname "127.0.0.1:$D" "http://127.0.0.1:$HTTP/blob" -o "$T/got_d" \
        || fail "round $i: -D download failed: $(cat "$T/plink.log")"
    [[ $(sha_of "$T/got_d") == "$want" ]] || fail "round $i: -D transfer not byte-exact"
    # Several short flows at once: channels close while plink still has requests in flight.
    pids=()
    for j in 1 2 3 4; do
        curl -fsS -m 30 --socks5-hostname "127.0.0.1:$D" "http://127.0.0.1:$HTTP/small" -o "$T/got_s$j" &
        pids+=($!)
    done
    for pid in "${pids[@]}"; do wait "$pid" || fail "round $i: a parallel -D download failed"; done
    # Half-close first, then read the whole blob: through -L and through -D.
    timeout 30 python3 - "$L" >"$T/got_l" <<'PY' || fail "round $i: -L download failed: $(cat "$T/plink.log")"
import socket, sys
s = socket.create_connection(("127.0.0.1", int(sys.argv[1])))
s.shutdown(socket.SHUT_WR)
while chunk := s.recv(1 << 16):
    sys.stdout.buffer.write(chunk)
PY
    [[ $(sha_of "$T/got_l") == "$want" ]] || fail "round $i: -L transfer not byte-exact"
    timeout 30 python3 "$PROBE" pipe "$D" 127.0.0.1 "$BLOB" </dev/null >"$T/got_p" \
        || fail "round $i: -D half-closed download failed: $(cat "$T/plink.log")"
    [[ $(sha_of "$T/got_p") == "$want" ]] || fail "round $i: -D half-closed transfer not byte-exact"
    alive "$i"
done
# The OpenSSH transfer also gives replies still in flight after the last close time to
# reach plink before it is checked once more.
curl -fsS -m 30 "http://127.0.0.1:$L2/blob" -o "$T/got_l2" || fail "OpenSSH -L beside plink failed"
[[ $(sha_of "$T/got_l2") == "$want" ]] || fail "OpenSSH -L transfer not byte-exact"
alive "after the last round"
grep -i "nonexistent channel\|fatal\|disconnect" "$T/plink.log" | has . && fail "plink reported: $(cat "$T/plink.log")"
[[ $(gctl --json sessions edge | jq length) == 2 ]] || fail "want 2 sessions (plink, ssh): $(gctl --json sessions edge)"
kill -0 "$GHOSTD_PID" || fail "ghostd died"
crossed=$(grep -c "request on a closed channel: not answered" "$T/ghostd.log" || true)
log "requests that crossed the server's CLOSE (left unanswered): $crossed"
pass "$ROUNDS rounds of -D and -L through one plink session; plink and an OpenSSH session beside it still connected; ghostd up"

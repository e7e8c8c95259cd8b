#!/usr/bin/env bash
# A client floods a ghost server profile with channel requests. The server takes every
# request from libssh's message queue and empties it after each read, so the flood costs
# the server no memory to speak of, the flooding session still works afterwards, and a
# transfer in another session runs meanwhile.
#
#   ssh_flood.py (paramiko) ──▶ ghostd "edge" 127.0.0.1:$EDGE ──▶ http.server 127.0.0.1:$HTTP
#   ssh -N -L :$L (OpenSSH) ───┘
. "$(dirname "$0")/lib.sh"

/usr/bin/python3 -c 'import paramiko' 2>/dev/null || {
    log "SKIP: python3-paramiko not installed (scripts/setup.sh installs it)"
    exit 77
}
N=${GHOST_TEST_FLOOD_REQUESTS:-100000}
HTTP=$(free_port) EDGE=$(free_port) L=$(free_port)

mkdir -p "$T/www"
make_blob "$T/www/blob" 64
echo "hello" >"$T/www/index.html"
(cd "$T/www" && exec python3 -m http.server --bind 127.0.0.1 "$HTTP" >"$T/http.log" 2>&1) &
track_pid $!
wait_for 10 "http target" port_open "$HTTP"

ssh-keygen -q -t ed25519 -N '' -C user -f "$T/user"
cp "$T/user.pub" "$T/authorized_keys"
start_ghostd
write_profile edge "{ \"role\": \"server\", \"listen\": [ { \"address\": \"127.0.0.1:$EDGE\" } ],
  \"authorized_keys\": \"$T/authorized_keys\", \"acl\": { \"deny_loopback\": false } }"
gctl reload >/dev/null
gctl up edge >/dev/null || fail "up edge: $(gctl status edge 2>&1)"
wait_state edge up
FP=$(gctl --json status edge | jq -r '[.. | objects | select(has("fingerprint"))][0].fingerprint')
gctl --json status edge | jq -r '.. | objects | select(has("known_hosts")) | .known_hosts[]' >"$T/known_hosts"

ssh -F /dev/null -o BatchMode=yes -o StrictHostKeyChecking=yes -o UserKnownHostsFile="$T/known_hosts" \
    -o IdentitiesOnly=yes -i "$T/user" -p "$EDGE" -N -L "127.0.0.1:$L:127.0.0.1:$HTTP" ghost@127.0.0.1 \
    2>"$T/ssh.log" &
track_pid $!
wait_for 15 "ssh -L listener" port_listening "$L"
curl -fsS "http://127.0.0.1:$L/" -o /dev/null || fail "ssh -L does not work before the flood"

rss_kb() { awk '/^VmRSS/ {print $2}' "/proc/$GHOSTD_PID/status"; }
before=$(rss_kb)
/usr/bin/python3 "$(dirname "$0")/tools/ssh_flood.py" "$EDGE" "$T/user" "$FP" "$HTTP" "$N" >"$T/flood.out" 2>"$T/flood.log" &
FLOOD=$!
track_pid "$FLOOD"
(while kill -0 "$FLOOD" 2>/dev/null; do rss_kb; sleep 0.1; done >"$T/rss") &
track_pid $!
# A 64 MiB transfer in another session while the flood runs.
curl -fsS -m 120 "http://127.0.0.1:$L/blob" -o "$T/got" || fail "ssh -L transfer during the flood failed"
[[ $(sha_of "$T/got") == $(sha_of "$T/www/blob") ]] || fail "ssh -L transfer during the flood not byte-exact"
wait "$FLOOD" || fail "flooding client: $(cat "$T/flood.out" "$T/flood.log")"
grep -q "^ok $N " "$T/flood.out" || fail "flood: $(cat "$T/flood.out" "$T/flood.log")"
kill -0 "$GHOSTD_PID" || fail "ghostd died"
peak=$(sort -n "$T/rss" | tail -1)
# Under AddressSanitizer freed memory stays in its quarantine: RSS says nothing there.
if ldd "$GHOSTD" | has libasan; then
    log "ghostd built with AddressSanitizer: its RSS ($before -> peak $peak KiB) is not judged"
else
    ((peak - before < 32768)) || fail "ghostd grew from $before to $peak KiB during the flood"
fi
curl -fsS "http://127.0.0.1:$L/" -o /dev/null || fail "ssh -L does not work after the flood"
pass "$N channel requests in one session ($(cut -d' ' -f3 "$T/flood.out") s): the session still works, RSS $before -> peak $peak KiB; a 64 MiB transfer in another session meanwhile"

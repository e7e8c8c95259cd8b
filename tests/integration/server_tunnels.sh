#!/usr/bin/env bash
# Server role end to end: ghostd serves stock OpenSSH clients (ssh -N -L / -D / -R) on
# loopback, and every bad input of the "Server role" issue is fed and checked.
#
#   ssh -N -L/-D/-R (OpenSSH) ──tcp──▶ ghostd "edge"  127.0.0.1:$EDGE ──▶ http.server 127.0.0.1:$HTTP
#                                       (acl.deny_loopback=false)
#   ssh -N -L ─────────────────────────▶ ghostd "strict" 127.0.0.1:$STRICT (default ACL: loopback denied)
#   helper.py (garbage, 1000 stalled pre-auth from 127.0.0.2, 10,000 channels through one -L)
. "$(dirname "$0")/lib.sh"

HTTP=$(free_port) EDGE=$(free_port) STRICT=$(free_port)

# ---------------------------------------------------------------- helpers

cat >"$T/helper.py" <<'PY'
import socket, sys, time
mode = sys.argv[1]
if mode == "stall":   # stall N PORT SRC: N connections that never speak
    n, port, src = int(sys.argv[2]), int(sys.argv[3]), sys.argv[4]
    socks = []
    for _ in range(n):
        s = socket.socket(); s.bind((src, 0))
        try:
            s.connect(("127.0.0.1", port)); socks.append(s)
        except OSError:
            pass
    print("connected", len(socks), flush=True)
    time.sleep(float(sys.argv[5]))
elif mode == "garbage":  # garbage PORT: sends junk instead of a banner, reports what came back
    s = socket.create_connection(("127.0.0.1", int(sys.argv[2])), timeout=10)
    s.sendall(b"GET / HTTP/1.0\r\n\r\n" + b"\x00\xff" * 2000)
    t0 = time.time(); data = b""
    while True:
        try:
            chunk = s.recv(4096)
        except OSError:
            break
        if not chunk:
            break
        data += chunk
    print("closed after %.1fs; got %r" % (time.time() - t0, data[:40]))
elif mode == "hold":  # hold N PORT SECONDS: N connections through a -L port, count the live ones
    n, port, secs = int(sys.argv[2]), int(sys.argv[3]), float(sys.argv[4])
    socks = [socket.create_connection(("127.0.0.1", port)) for _ in range(n)]
    for s in socks:
        try:
            s.sendall(b"GET /hold HTTP/1.1\r\nHost: x\r\n")  # incomplete request: server waits
        except OSError:
            pass  # the channel was refused and ssh closed this one already
    time.sleep(secs)
    live = 0
    for s in socks:
        s.setblocking(False)
        try:
            live += 0 if s.recv(1) == b"" else 1
        except BlockingIOError:
            live += 1
        except OSError:
            pass
    print(live)
PY

mkdir -p "$T/www"
make_blob "$T/www/blob" 8
(cd "$T/www" && exec python3 -m http.server --bind 127.0.0.1 "$HTTP" >"$T/http.log" 2>&1) &
track_pid $!
wait_for 10 "http target" port_open "$HTTP"

key() { ssh-keygen -q -t ed25519 -N '' -C "$1" -f "$T/$1"; }
for k in alice bob restricted unknown expired wrongsrc; do key "$k"; done
AK=$T/authorized_keys.d
mkdir -p "$AK"
{
    echo "# good keys"
    cat "$T/alice.pub"
    echo "from=\"127.0.0.0/8\" $(cat "$T/bob.pub")"
    echo "restrict,port-forwarding,permitopen=\"127.0.0.1:$HTTP\",permitlisten=\"localhost:1\" $(cat "$T/restricted.pub")"
    echo "expiry-time=\"20200101\" $(cat "$T/expired.pub")"
    echo "from=\"10.9.9.9\" $(cat "$T/wrongsrc.pub")"
    echo "bogus-option $(cat "$T/unknown.pub")"
} >"$AK/main"

start_ghostd
# The hostile inputs below (refused keys, garbage) come from 127.0.0.1 like the real
# clients: exempt it from penalties here (server_preauth_flood.sh tests them).
write_profile edge "{
  \"role\": \"server\",
  \"listen\": [ { \"address\": \"127.0.0.1:$EDGE\" } ],
  \"authorized_keys\": \"$AK\",
  \"banner\": \"ghost test edge\\n\",
  \"acl\": { \"deny_loopback\": false },
  \"limits\": { \"max_channels\": 8, \"max_startups\": 10, \"max_startups_total\": 40,
                \"login_grace_time\": 5, \"max_forwards\": 2,
                \"penalties\": { \"exempt\": [ \"127.0.0.1\" ] } }
}"
write_profile strict "{
  \"role\": \"server\",
  \"listen\": [ { \"address\": \"127.0.0.1:$STRICT\" } ],
  \"authorized_keys\": \"$AK/main\"
}"
gctl reload >/dev/null
gctl up edge >/dev/null || fail "ghostctl up edge failed: $(gctl status edge)"
gctl up strict >/dev/null || fail "ghostctl up strict failed"
wait_state edge up
wait_state strict up

jqs() { gctl --json status "$1" | jq -r "$2"; }
jqs edge '.. | objects | select(has("known_hosts")) | .known_hosts[]' >"$T/known_hosts"
jqs strict '.. | objects | select(has("known_hosts")) | .known_hosts[]' >>"$T/known_hosts"
grep -q "^\[127.0.0.1\]:$EDGE ssh-ed25519 " "$T/known_hosts" || fail "no known_hosts line: $(cat "$T/known_hosts")"
FP=$(jqs edge '[.. | objects | select(has("fingerprint"))][0].fingerprint')
[[ $FP == SHA256:* ]] || fail "no host key fingerprint in status"
HK=$GHOST_STATE/edge/host_ed25519
[[ $(stat -c %a "$HK") == 600 ]] || fail "host key $HK mode $(stat -c %a "$HK"), want 600"
[[ $(ssh-keygen -l -E sha256 -f "$HK" | awk '{print $2}') == "$FP" ]] || fail "status fingerprint differs from key file"
jqs edge '.. | objects | select(has("authorized_keys_errors")) | .authorized_keys_errors[]' | has "unknown option 'bogus-option'" \
    || fail "status does not report the bad authorized_keys line"
pass "server profiles up; host key 0600; known_hosts line and fingerprint in status"

SSH_COMMON=(-F /dev/null -o BatchMode=yes -o StrictHostKeyChecking=yes -o UserKnownHostsFile="$T/known_hosts"
    -o IdentitiesOnly=yes -o ConnectTimeout=10 -o ExitOnForwardFailure=yes -o ServerAliveInterval=0)
# tunnel NAME KEY PORT ARGS...: ssh -N in the background; pid in $TUN_PID, stderr in $T/NAME.ssh.log
tunnel() {
    local name=$1 k=$2 port=$3
    shift 3
    ssh "${SSH_COMMON[@]}" -i "$T/$k" -p "$port" -N "$@" ghost@127.0.0.1 2>"$T/$name.ssh.log" &
    TUN_PID=$!
    track_pid "$TUN_PID"
}
# ssh_rc KEY PORT ARGS...: foreground ssh, prints exit code
ssh_fg() {
    local k=$1 port=$2
    shift 2
    timeout 20 ssh "${SSH_COMMON[@]}" -i "$T/$k" -p "$port" "$@" ghost@127.0.0.1
}
session_count() { gctl --json sessions edge | jq 'length'; }

# ---------------------------------------------------------------- -L byte exact, banner
L1=$(free_port)
tunnel l1 alice "$EDGE" -L "$L1:127.0.0.1:$HTTP"
wait_for 15 "-L listener" port_open "$L1"
curl -fsS "http://127.0.0.1:$L1/blob" -o "$T/got_l" || fail "-L download failed"
[[ $(sha_of "$T/got_l") == $(sha_of "$T/www/blob") ]] || fail "-L transfer not byte-exact"
grep -q "ghost test edge" "$T/l1.ssh.log" || fail "banner not shown to the client: $(cat "$T/l1.ssh.log")"
pass "ssh -N -L: 8 MiB byte-exact; banner shown"

# ---------------------------------------------------------------- -D
D1=$(free_port)
tunnel d1 bob "$EDGE" -D "127.0.0.1:$D1"
D1_PID=$TUN_PID
wait_for 15 "-D listener" port_open "$D1"
curl -fsS --socks5-hostname "127.0.0.1:$D1" "http://localhost:$HTTP/blob" -o "$T/got_d" || fail "-D download failed"
[[ $(sha_of "$T/got_d") == $(sha_of "$T/www/blob") ]] || fail "-D transfer not byte-exact"
pass "ssh -N -D: SOCKS through the server, name resolved server-side"

# ---------------------------------------------------------------- sessions
wait_for 5 "two sessions" test "$(session_count)" -ge 2
gctl --json sessions edge >"$T/sessions.json"
jq -e '.[] | select(.key_name == "alice" and (.key_fingerprint | startswith("SHA256:")) and (.peer | startswith("127.0.0.1:")) and .bytes_out > 8000000)' \
    "$T/sessions.json" >/dev/null || fail "sessions does not show alice's session: $(cat "$T/sessions.json")"
pass "server.sessions lists key name, fingerprint, peer and bytes"

# ---------------------------------------------------------------- -R
R1=$(free_port)
tunnel r1 alice "$EDGE" -R "$R1:127.0.0.1:$HTTP"
R1_PID=$TUN_PID
wait_for 15 "-R listener on the server" port_open "$R1"
curl -fsS "http://127.0.0.1:$R1/blob" -o "$T/got_r" || fail "-R download failed"
[[ $(sha_of "$T/got_r") == $(sha_of "$T/www/blob") ]] || fail "-R transfer not byte-exact"
pass "ssh -N -R: forwarded-tcpip back to the client, byte-exact"

rc=0; ssh_fg alice "$EDGE" -N -R "$HTTP:127.0.0.1:$HTTP" 2>"$T/r_inuse.log" || rc=$?
[[ $rc != 0 ]] && grep -qi "remote port forwarding failed" "$T/r_inuse.log" || fail "-R to a port in use did not fail (rc $rc): $(cat "$T/r_inuse.log")"
grep -q "remote forward.*refused: cannot listen" "$T/ghostd.log" || fail "no log for the port in use"
rc=0; ssh_fg restricted "$EDGE" -N -R "$(free_port):127.0.0.1:$HTTP" 2>"$T/r_deny.log" || rc=$?
[[ $rc != 0 ]] || fail "-R to a port outside permitlisten succeeded"
grep -q "refused: not permitted for key 'restricted'" "$T/ghostd.log" || fail "no log for permitlisten refusal"
pass "-R to a port in use and outside permitlisten fail cleanly"

# ---------------------------------------------------------------- kick
RID=$(gctl --json sessions edge | jq -r "[.[] | select(.key_name == \"alice\")] | last | .id")
gctl kick edge "$RID" >/dev/null || fail "kick $RID failed"
wait_for 10 "kicked ssh exits" bash -c "! kill -0 $R1_PID"
wait_for 5 "-R listener closed after kick" bash -c "! (exec 3<>/dev/tcp/127.0.0.1/$R1) 2>/dev/null"
curl -fsS "http://127.0.0.1:$L1/" -o /dev/null || fail "the other alice session broke after the kick"
pass "server.kick drops one session and its listeners, others untouched"

# ---------------------------------------------------------------- bad keys
for k in unknown expired wrongsrc; do
    rc=0; ssh_fg "$k" "$EDGE" -N 2>"$T/$k.log" || rc=$?
    [[ $rc == 255 ]] && grep -q "Permission denied" "$T/$k.log" || fail "key $k was not refused (rc $rc): $(cat "$T/$k.log")"
    fp=$(ssh-keygen -l -E sha256 -f "$T/$k.pub" | awk '{print $2}')
    grep -q "authentication refused for key $fp" "$T/ghostd.log" || fail "refusal of $k not logged with its fingerprint"
done
grep -q "expired (expiry-time)" "$T/ghostd.log" || fail "expiry reason not logged"
grep -q "not allowed from 127.0.0.1 (from=)" "$T/ghostd.log" || fail "from= reason not logged"
pass "unknown key, expired key and from= mismatch are refused and logged with fingerprints"

# ---------------------------------------------------------------- permitopen and ACL
L2=$(free_port)
tunnel l2 restricted "$EDGE" -L "$L2:127.0.0.1:$EDGE"
wait_for 15 "-L (restricted) listener" port_open "$L2"
out=$(curl -sS -m 5 "http://127.0.0.1:$L2/" 2>&1 || true)
grep -q "direct-tcpip to 127.0.0.1:$EDGE refused: not permitted for key 'restricted'" "$T/ghostd.log" \
    || fail "permitopen violation not refused: $out"
grep -q "open failed" "$T/l2.ssh.log" || fail "client did not see an open failure"
pass "permitopen violation refused with an open failure"

L3=$(free_port)
tunnel l3 alice "$STRICT" -L "$L3:127.0.0.1:$HTTP"
wait_for 15 "-L (strict) listener" port_open "$L3"
curl -sS -m 5 "http://127.0.0.1:$L3/" -o /dev/null 2>/dev/null && fail "default ACL let a loopback destination through"
grep -q "127.0.0.1 is a loopback address (acl.deny_loopback)" "$T/ghostd.log" || fail "ACL refusal not logged"
D3=$(free_port)
tunnel d3 alice "$STRICT" -D "127.0.0.1:$D3"
wait_for 15 "-D (strict) listener" port_open "$D3"
curl -sS -m 5 --socks5-hostname "127.0.0.1:$D3" "http://localhost:$HTTP/" -o /dev/null 2>/dev/null \
    && fail "default ACL let the name localhost through"
grep -q "denied by ACL: .* is a loopback address" "$T/ghostd.log" || fail "name-based ACL refusal not logged"
pass "default ACL denies loopback, by address and by name (resolved server-side)"

# ---------------------------------------------------------------- session channel, exec
out=$(ssh_fg alice "$EDGE" -T 2>&1 </dev/null || true)
grep -q "this server provides tunnels only" <<<"$out" || fail "plain ssh did not get the explanation: $out"
rc=0; out=$(ssh_fg alice "$EDGE" id 2>&1) || rc=$?
[[ $rc != 0 ]] || fail "exec was not refused: $out"
pass "plain ssh gets one explanatory line; exec is refused"

# ---------------------------------------------------------------- garbage, stalled pre-auth
out=$(timeout 20 python3 "$T/helper.py" garbage "$EDGE")
grep -q "closed after" <<<"$out" || fail "garbage client: $out"
pass "garbage instead of a banner: connection closed ($out)"

python3 "$T/helper.py" stall 1000 "$EDGE" 127.0.0.2 30 >"$T/stall.out" 2>&1 &
STALL_PID=$!
track_pid "$STALL_PID"
wait_for 20 "stalled connections made" grep -q connected "$T/stall.out"
t0=$SECONDS
out=$(ssh_fg alice "$EDGE" -b 127.0.0.1 -o ConnectTimeout=5 -T 2>&1 </dev/null || true)
grep -q "tunnels only" <<<"$out" || fail "real client could not get in during the flood: $out"
((SECONDS - t0 <= 5)) || fail "real client took $((SECONDS - t0)) s during the flood"
dropped=$(jqs edge '.. | objects | select(has("connections_dropped")) | .connections_dropped')
((dropped >= 900)) || fail "only $dropped of 1000 stalled connections were dropped"
kill "$STALL_PID" 2>/dev/null || true
pass "1000 stalled pre-auth connections: $dropped dropped, a real client still got in within $((SECONDS - t0)) s"

# ---------------------------------------------------------------- many channels
# FLOOD connections through one ssh -L: one session asks for FLOOD channels.
FLOOD=${GHOST_TEST_CHANNEL_FLOOD:-10000}
ulimit -n "$(( $(ulimit -Hn) < FLOOD + 1000 ? $(ulimit -Hn) : FLOOD + 1000 ))"
(( $(ulimit -n) > FLOOD + 100 )) || FLOOD=$(( $(ulimit -n) - 200 ))
L4=$(free_port)
tunnel l4 bob "$EDGE" -L "$L4:127.0.0.1:$HTTP"
L4_PID=$TUN_PID
wait_for 15 "-L (bob) listener" port_open "$L4"
live=$(timeout 300 python3 "$T/helper.py" hold "$FLOOD" "$L4" 3)
((live <= 8)) || fail "$live channels alive with limits.max_channels 8"
grep -q "too many channels (limits.max_channels 8)" "$T/ghostd.log" || fail "channel limit not logged"
curl -fsS "http://127.0.0.1:$L4/blob" -o "$T/got_l4" || fail "session unusable after the channel flood"
kill -0 "$GHOSTD_PID" || fail "ghostd died"
pass "$FLOOD channels at once: $live kept (limit 8), session and daemon fine"

# ---------------------------------------------------------------- reload drops removed keys
grep -v "$(awk '{print $2}' "$T/bob.pub")" "$AK/main" >"$T/main.new" && mv "$T/main.new" "$AK/main"
gctl reload >/dev/null
wait_for 10 "bob's sessions closed" bash -c "! kill -0 $D1_PID && ! kill -0 $L4_PID"
curl -fsS "http://127.0.0.1:$L1/" -o /dev/null || fail "alice's session broke on reload"
gctl --json sessions edge | jq -e 'all(.[]; .key_name != "bob")' >/dev/null || fail "bob still has sessions after reload"
pass "reload closes the sessions of a removed key, others untouched"

kill -0 "$GHOSTD_PID" || fail "ghostd died"
gctl down edge >/dev/null
gctl down strict >/dev/null
pass "all server tests passed"

#!/usr/bin/env bash
# Server role with real peers: ghost client <-> ghost server, upstream proxies for outbound,
# and the limits the other server test does not reach.
#
#   ghost client "c1" (SOCKS :$C1_SOCKS, -L :$C1_L, -R) ──▶ ghost server "hub" :$HUB ──direct──▶ http.server :$HTTP
#   ghost client "c2" (SOCKS :$C2_SOCKS) ──▶ "viasocks" :$VS ──▶ microsocks :$MS (user/pass) ──▶ http.server
#   ghost client "c3" (SOCKS :$C3_SOCKS) ──▶ "viahttp"  :$VH ──▶ tinyproxy  :$TP (CONNECT)   ──▶ http.server
#   ssh -N (OpenSSH) ──▶ "tight" :$TIGHT  (max_sessions 2, idle_timeout 2 s, gateway_ports false)
#
# All on loopback; every process and file lives in the test's temp dir.
. "$(dirname "$0")/lib.sh"

HTTP=$(free_port) HUB=$(free_port) VS=$(free_port) VH=$(free_port) TIGHT=$(free_port)
MS=$(free_port) TP=$(free_port) ECHO=$(free_port)
C1_SOCKS=$(free_port) C1_L=$(free_port) C1_R=$(free_port) C2_SOCKS=$(free_port) C3_SOCKS=$(free_port)

# ---------------------------------------------------------------- peers
mkdir -p "$T/www"
make_blob "$T/www/blob" 32
want=$(sha_of "$T/www/blob")
echo "hello from the target" >"$T/www/index.html"
(cd "$T/www" && exec python3 -m http.server --bind 127.0.0.1 "$HTTP" >"$T/http.log" 2>&1) &
track_pid $!
microsocks -i 127.0.0.1 -p "$MS" -u proxyuser -P proxypass >"$T/microsocks.log" 2>&1 &
track_pid $!
cat >"$T/tinyproxy.conf" <<EOF
Port $TP
Listen 127.0.0.1
Timeout 30
LogLevel Connect
LogFile "$T/tinyproxy.log"
MaxClients 20
Allow 127.0.0.1
ConnectPort $HTTP
EOF
tinyproxy -d -c "$T/tinyproxy.conf" >>"$T/tinyproxy.out.log" 2>&1 &
track_pid $!
socat TCP-LISTEN:"$ECHO",bind=127.0.0.1,fork,reuseaddr EXEC:cat 2>>"$T/socat.log" &
track_pid $!
wait_for 10 "http target" port_open "$HTTP"
wait_for 10 "microsocks" port_listening "$MS"
wait_for 10 "tinyproxy" port_listening "$TP"
wait_for 10 "echo" port_listening "$ECHO"

# ---------------------------------------------------------------- server profiles
ssh-keygen -q -t ed25519 -N '' -C ghost-client -f "$T/client"
ssh-keygen -q -t ed25519 -N '' -C openssh-user -f "$T/user"
cat "$T/client.pub" "$T/user.pub" >"$T/authorized_keys"

start_ghostd
server() {  # server NAME PORT EXTRA_JSON
    write_profile "$1" "{ \"role\": \"server\", \"listen\": [ { \"address\": \"127.0.0.1:$2\" } ],
      \"authorized_keys\": \"$T/authorized_keys\", \"acl\": { \"deny_loopback\": false } $3 }"
}
server hub "$HUB" ', "gateway_ports": true'
server viasocks "$VS" ", \"outbound\": { \"type\": \"socks5\", \"proxy\": \"127.0.0.1:$MS\",
      \"username\": \"proxyuser\", \"password\": \"proxypass\" }"
server viahttp "$VH" ", \"outbound\": { \"type\": \"http\", \"proxy\": \"127.0.0.1:$TP\" }"
server tight "$TIGHT" ', "limits": { "max_sessions": 2, "idle_timeout": 2 }'
gctl reload >/dev/null
for p in hub viasocks viahttp tight; do
    gctl up "$p" >/dev/null || fail "up $p: $(gctl status "$p" 2>&1)"
done
fp_of() { gctl --json status "$1" | jq -r '[.. | objects | select(has("fingerprint"))][0].fingerprint'; }
known_hosts_of() { gctl --json status "$1" | jq -r '.. | objects | select(has("known_hosts")) | .known_hosts[]'; }
known_hosts_of tight >"$T/known_hosts"
known_hosts_of hub >>"$T/known_hosts"

# ---------------------------------------------------------------- client profiles
client() {  # client NAME SERVER_PORT SERVER_PROFILE EXTRA_JSON
    write_profile "$1" "{ \"server\": \"127.0.0.1:$2\",
      \"ssh\": { \"user\": \"ghost\", \"identity_file\": \"$T/client\", \"host_key\": \"$(fp_of "$3")\" }
      $4 }"
}
client c1 "$HUB" hub ", \"socks5\": { \"listen\": \"127.0.0.1:$C1_SOCKS\" },
      \"forward\": [ { \"listen\": \"127.0.0.1:$C1_L\", \"target\": \"127.0.0.1:$HTTP\" } ],
      \"remote_forward\": [ { \"listen\": \"127.0.0.1:$C1_R\", \"target\": \"127.0.0.1:$ECHO\" } ]"
client c2 "$VS" viasocks ", \"socks5\": { \"listen\": \"127.0.0.1:$C2_SOCKS\" }"
client c3 "$VH" viahttp ", \"socks5\": { \"listen\": \"127.0.0.1:$C3_SOCKS\" }"
gctl reload >/dev/null
for p in c1 c2 c3; do
    gctl up "$p" >/dev/null || fail "up $p: $(gctl status "$p" 2>&1)"
done
pass "ghost client profiles up against ghost server profiles (host keys pinned from status)"

# ---------------------------------------------------------------- ghost client <-> ghost server
got=$(curl -sS --max-time 10 --socks5-hostname "127.0.0.1:$C1_SOCKS" "http://localhost:$HTTP/index.html")
[[ $got == "hello from the target" ]] || fail "SOCKS through ghost server: '$got'"
curl -sS --max-time 60 -o "$T/l.recv" "http://127.0.0.1:$C1_L/blob" || fail "-L download failed"
[[ $(sha_of "$T/l.recv") == "$want" ]] || fail "-L download through ghost server is not byte-exact"
curl -sS --max-time 60 -o "$T/s.recv" --socks5-hostname "127.0.0.1:$C1_SOCKS" "http://127.0.0.1:$HTTP/blob" ||
    fail "SOCKS download failed"
[[ $(sha_of "$T/s.recv") == "$want" ]] || fail "SOCKS download through ghost server is not byte-exact"
wait_for 10 "c1 remote forward" bash -c \
    "[[ \$('$GHOSTCTL' --socket '$GHOST_RUN/ghostd.sock' --json status c1 | jq -r '.remote_forwards[0].state') == listening ]]"
got=$(echo ghost-to-ghost | timeout 10 socat -t 3 - TCP:127.0.0.1:"$C1_R")
[[ $got == ghost-to-ghost ]] || fail "-R through ghost server: '$got'"
sess=$(gctl --json sessions hub)
[[ $(jq -r '.[0].key_name' <<<"$sess") == ghost-client ]] || fail "hub sessions: $sess"
pass "ghost-to-ghost: SOCKS (name resolved server-side), -L and SOCKS 32 MiB byte-exact, -R echo"

# ---------------------------------------------------------------- outbound through upstream proxies
got=$(curl -sS --max-time 10 --socks5-hostname "127.0.0.1:$C2_SOCKS" "http://localhost:$HTTP/index.html")
[[ $got == "hello from the target" ]] || fail "outbound socks5: '$got'"
got=$(curl -sS --max-time 10 --socks5-hostname "127.0.0.1:$C3_SOCKS" "http://127.0.0.1:$HTTP/index.html")
[[ $got == "hello from the target" ]] || fail "outbound http: '$got'"
grep -q "CONNECT" "$T/tinyproxy.log" || fail "tinyproxy saw no CONNECT: $(cat "$T/tinyproxy.log")"
# The proxy gets the address the server resolved and checked, never the name.
grep -q "127.0.0.1:$HTTP" "$T/tinyproxy.log" || fail "tinyproxy was not asked for the resolved address"
curl -sS --max-time 60 -o "$T/p.recv" --socks5-hostname "127.0.0.1:$C2_SOCKS" "http://127.0.0.1:$HTTP/blob" ||
    fail "download through microsocks failed"
[[ $(sha_of "$T/p.recv") == "$want" ]] || fail "download through the socks5 upstream is not byte-exact"
pass "outbound socks5 (microsocks, username/password) and http (tinyproxy CONNECT) work, byte-exact"

# A proxy that refuses: only that flow fails, with an open failure; the session stays.
got=$(curl -sS --max-time 10 --socks5-hostname "127.0.0.1:$C3_SOCKS" "http://127.0.0.1:$ECHO/" 2>&1) &&
    fail "tinyproxy CONNECT to a port it forbids succeeded: $got"
got=$(curl -sS --max-time 10 --socks5-hostname "127.0.0.1:$C3_SOCKS" "http://127.0.0.1:$HTTP/index.html")
[[ $got == "hello from the target" ]] || fail "c3 broken after a refused CONNECT: '$got'"
pass "upstream proxy refusal fails only that flow"

# ---------------------------------------------------------------- limits on "tight"
SSH_COMMON=(-F /dev/null -o BatchMode=yes -o StrictHostKeyChecking=yes -o UserKnownHostsFile="$T/known_hosts"
    -o IdentitiesOnly=yes -o ConnectTimeout=10 -o ServerAliveInterval=0 -i "$T/user")
sessions_of() { gctl --json sessions "$1" | jq 'length'; }

# max_sessions 2: a third login is refused, the first two stay.
ssh "${SSH_COMMON[@]}" -p "$TIGHT" -N ghost@127.0.0.1 2>"$T/s1.log" &
s1=$!
track_pid $s1
ssh "${SSH_COMMON[@]}" -p "$TIGHT" -N ghost@127.0.0.1 2>"$T/s2.log" &
s2=$!
track_pid $s2
wait_for 10 "two sessions on tight" bash -c "[[ \$('$GHOSTCTL' --socket '$GHOST_RUN/ghostd.sock' --json sessions tight | jq length) == 2 ]]"
out=$(timeout 15 ssh "${SSH_COMMON[@]}" -p "$TIGHT" -N ghost@127.0.0.1 2>&1) &&
    fail "third session accepted beyond max_sessions"
kill -0 $s1 && kill -0 $s2 || fail "existing sessions dropped by the refused third"
[[ $(sessions_of tight) == 2 ]] || fail "sessions after refusal: $(sessions_of tight)"
grep -q "max_sessions\|too many sessions" "$T/ghostd.log" || fail "refusal not logged"
pass "max_sessions 2: third login refused ($(tail -1 <<<"$out")), first two untouched"
kill $s2
wait $s2 2>/dev/null || true

# idle_timeout 2 s: an idle channel is closed; a busy one on the same session is not.
IDLE_L=$(free_port) BUSY_L=$(free_port)
ssh "${SSH_COMMON[@]}" -p "$TIGHT" -N -o ExitOnForwardFailure=yes -L "127.0.0.1:$IDLE_L:127.0.0.1:$ECHO" \
    -L "127.0.0.1:$BUSY_L:127.0.0.1:$ECHO" ghost@127.0.0.1 2>"$T/idle.ssh.log" &
idle_ssh=$!
track_pid $idle_ssh
wait_for 10 "-L on tight" port_listening "$IDLE_L"
cat >"$T/idle.py" <<'PY'
import socket, sys, time
idle = socket.create_connection(("127.0.0.1", int(sys.argv[1])))
busy = socket.create_connection(("127.0.0.1", int(sys.argv[2])))
idle.settimeout(0.5); busy.settimeout(2)
idle_closed_at = None
t0 = time.time()
while time.time() - t0 < 6:
    busy.sendall(b"ping\n")
    assert busy.recv(16) == b"ping\n", "busy channel broke"
    if idle_closed_at is None:
        try:
            if idle.recv(1) == b"":
                idle_closed_at = time.time() - t0
        except socket.timeout:
            pass
    else:
        time.sleep(0.5)
print("idle closed after %.1f s; busy alive for 6 s" % idle_closed_at if idle_closed_at else "idle never closed")
sys.exit(0 if idle_closed_at and idle_closed_at < 5.5 else 1)
PY
out=$(python3 "$T/idle.py" "$IDLE_L" "$BUSY_L") || fail "idle_timeout: $out"
pass "idle_timeout 2 s: $out"
kill $s1 $idle_ssh
wait $s1 $idle_ssh 2>/dev/null || true
wait_for 10 "tight sessions gone" bash -c "[[ \$('$GHOSTCTL' --socket '$GHOST_RUN/ghostd.sock' --json sessions tight | jq length) == 0 ]]"

# gateway_ports: ssh -R for all addresses; false binds loopback only, true what was asked.
bound_for_all() {  # bound_for_all SERVER_PORT: ssh -R 0.0.0.0:P; BOUND = the address bound
    local p
    p=$(free_port)
    ssh "${SSH_COMMON[@]}" -p "$1" -N -o ExitOnForwardFailure=yes -R "0.0.0.0:$p:127.0.0.1:$ECHO" \
        ghost@127.0.0.1 >/dev/null 2>"$T/gw-$1.ssh.log" &
    track_pid $!
    wait_for 10 "-R on port $1" port_listening "$p"
    BOUND=$(ss -Hltn "sport = :$p" | awk -v p=":$p" '{sub(p "$", "", $4); print $4}')
}
bound_for_all "$TIGHT"
[[ $BOUND == 127.0.0.1 ]] || fail "gateway_ports false bound $BOUND"
bound_for_all "$HUB"
[[ $BOUND == 0.0.0.0 ]] || fail "gateway_ports true bound $BOUND"
pass "gateway_ports: false binds 127.0.0.1, true binds the requested 0.0.0.0"

# ---------------------------------------------------------------- hostile clients
# A 100 kB line instead of an SSH banner: closed promptly, the daemon and sessions carry on.
out=$(python3 - "$HUB" <<'PY'
import socket, sys, time
s = socket.create_connection(("127.0.0.1", int(sys.argv[1])), timeout=15)
t0 = time.time()
try:
    s.sendall(b"SSH-2.0-" + b"A" * 100000 + b"\r\n")
    while s.recv(4096):
        pass
except OSError:
    pass
print("closed after %.1f s" % (time.time() - t0))
PY
)
got=$(curl -sS --max-time 10 --socks5-hostname "127.0.0.1:$C1_SOCKS" "http://127.0.0.1:$HTTP/index.html")
[[ $got == "hello from the target" ]] || fail "c1 broken after a 100 kB banner"
pass "100 kB banner: $out; other sessions fine"

# A client that vanishes mid-transfer: its channels, listeners and fds are released.
fds() { ls "/proc/$(pgrep -f -- "--runtime-dir $GHOST_RUN ")/fd" | wc -l; }
base=$(fds)
VAN_L=$(free_port) VAN_R=$(free_port)
ssh "${SSH_COMMON[@]}" -p "$HUB" -N -o ExitOnForwardFailure=yes -L "127.0.0.1:$VAN_L:127.0.0.1:$HTTP" \
    -R "127.0.0.1:$VAN_R:127.0.0.1:$ECHO" ghost@127.0.0.1 2>"$T/van.ssh.log" &
van=$!
track_pid $van
wait_for 10 "vanishing client's -L" port_listening "$VAN_L"
wait_for 10 "vanishing client's -R" port_listening "$VAN_R"
for _ in 1 2 3 4; do
    curl -sS --limit-rate 2M --max-time 30 -o /dev/null "http://127.0.0.1:$VAN_L/blob" 2>/dev/null &
done
sleep 1
kill -9 $van
wait $van 2>/dev/null || true
wait_for 15 "vanished client's -R listener closed" bash -c "! ss -Hltn 'sport = :$VAN_R' | grep -q ."
_fds_back() { (($(fds) <= base)); }
wait_for 20 "ghostd fd count back to $base (now $(fds))" _fds_back
pass "client killed mid-transfer: -R listener closed, fd count back to baseline ($base)"

# A privileged port for -R without a permitlisten naming it: refused, nothing bound.
rc=0
timeout 20 ssh "${SSH_COMMON[@]}" -p "$HUB" -N -o ExitOnForwardFailure=yes -R "127.0.0.1:81:127.0.0.1:$ECHO" \
    ghost@127.0.0.1 2>"$T/priv.ssh.log" || rc=$?
[[ $rc != 0 ]] && grep -qi "remote port forwarding failed" "$T/priv.ssh.log" ||
    fail "-R to port 81 was not refused (rc $rc): $(cat "$T/priv.ssh.log")"
grep -q "privileged port (name it in permitlisten to allow)" "$T/ghostd.log" || fail "privileged -R not logged"
ss -Hltn 'sport = :81' | has . && fail "something listens on port 81"
pass "-R to privileged port 81 refused and logged; nothing bound"

gctl status hub >/dev/null || fail "daemon unhealthy at the end"
pass "all server peer tests passed"

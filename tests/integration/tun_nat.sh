#!/usr/bin/env bash
# TUN mode NAT engine and routing, without SSH: tun_nat_probe runs the NAT engine with
# a handler that connects accepted flows directly to their original destination.
#
#   ns C (client)                                          ns S (server)
#   curl/socat ──▶ ghost0 (TUN) ──▶ NAT ──▶ listener        lo: 10.77.0.2, fd77::2
#                  198.18.0.1/30            │ connect       http.server :8080 (v4+v6)
#                  fdc7:6768:6f73:7400::1   ▼ (bind-dev     socat echo  :9000
#                                           veth / mark)
#   vC 10.99.0.1/24 fd99::1/64 ══════ veth ══════ vS 10.99.0.2/24 fd99::2/64
#   default via 10.99.0.2 / fd99::2
#
# Checks: byte-exact download (IPv4, IPv6) and upload through the NAT, UDP refused with
# ICMP, UDP and ping through TunDatagrams to a stand-in for the datagram channel (answers,
# ICMP errors, path MTU; --datagrams), split-tunnel excludes, full tunnel (fwmark rules), and that teardown — clean
# (SIGTERM) or after SIGKILL plus `--cleanup` — leaves rules, routes of all tables,
# addresses and links exactly as before.
. "$(dirname "$0")/lib.sh"

PROBE=${TUN_NAT_PROBE:-$GHOST_BUILD_DIR/tests/tools/tun_nat_probe}
[[ -x $PROBE ]] || fail "tun_nat_probe not built at $PROBE (tests/CMakeLists.txt needs add_subdirectory(tools))"
[[ -c /dev/net/tun ]] || fail "/dev/net/tun missing"

C=$(netns_create c)
S=$(netns_create s)
VC=vc$RUN_ID VS=vs$RUN_ID
ip link add "$VC" netns "$C" type veth peer name "$VS" netns "$S"
ip -n "$C" addr add 10.99.0.1/24 dev "$VC"
ip -n "$S" addr add 10.99.0.2/24 dev "$VS"
ip -n "$C" -6 addr add fd99::1/64 dev "$VC" nodad
ip -n "$S" -6 addr add fd99::2/64 dev "$VS" nodad
ip -n "$C" link set "$VC" up
ip -n "$S" link set "$VS" up
ip -n "$C" route add default via 10.99.0.2
ip -n "$C" -6 route add default via fd99::2
ip -n "$S" addr add 10.77.0.2/32 dev lo
ip -n "$S" addr add 10.77.0.3/32 dev lo
ip -n "$S" -6 addr add fd77::2/128 dev lo nodad

mkdir -p "$T/www"
make_blob "$T/www/blob" 8
ip netns exec "$S" python3 -m http.server --bind :: --directory "$T/www" 8080 >"$T/http.log" 2>&1 &
track_pid $!
ip netns exec "$S" socat -T 30 TCP6-LISTEN:9000,ipv6only=0,fork,reuseaddr EXEC:cat >"$T/echo.log" 2>&1 &
track_pid $!
in_s_port_open() { ip netns exec "$S" bash -c "exec 3<>/dev/tcp/10.77.0.2/$1" 2>/dev/null; }
wait_for 10 "http server in $S" in_s_port_open 8080
wait_for 10 "echo server in $S" in_s_port_open 9000

snapshot() { net_snapshot "$C"; }
BEFORE=$(snapshot)

# expect_same_as_before WHAT: the client namespace's network state equals the snapshot.
expect_same_as_before() {
    local now
    now=$(snapshot)
    if [[ $now != "$BEFORE" ]]; then
        diff <(echo "$BEFORE") <(echo "$now") >&2 || true
        fail "$1: network state differs from before"
    fi
    pass "$1: rules, routes (all tables), addresses and links as before"
}

PROBE_PID=
# start_probe NAME ARGS...: runs the probe in ns C until it reports ready.
start_probe() {
    local name=$1
    shift
    rm -f "$T/ready"
    ip netns exec "$C" "$PROBE" --ready "$T/ready" "$@" >"$T/$name.out" 2>"$T/$name.log" &
    PROBE_PID=$!
    track_pid "$PROBE_PID"
    wait_for 10 "probe $name ready" test -s "$T/ready"
}

# stop_probe SIGNAL: stops the probe and waits for it.
stop_probe() {
    kill -"$1" "$PROBE_PID"
    wait "$PROBE_PID" 2>/dev/null || [[ $1 == KILL ]] || fail "probe exited with an error: $(tail -3 "$T"/*.log)"
}

fetch() { ip netns exec "$C" curl -sS --max-time 20 -o "$2" "$1"; }

check_download() {
    local url=$1 what=$2
    fetch "$url" "$T/got" || fail "$what: curl $url failed"
    [[ $(sha_of "$T/got") == $(sha_of "$T/www/blob") ]] || fail "$what: download differs"
    pass "$what: 8 MiB download byte-exact"
}

check_upload() {
    head -c 3000000 /dev/urandom >"$T/up"
    ip netns exec "$C" socat -t 10 -T 20 - "TCP:$1:9000" <"$T/up" >"$T/echoed" ||
        fail "$2: socat to $1:9000 failed"
    [[ $(sha_of "$T/echoed") == $(sha_of "$T/up") ]] || fail "$2: echo differs"
    pass "$2: 3 MB echo byte-exact"
}

check_udp_refused() {
    ip netns exec "$C" python3 - "$1" <<'PY' || fail "UDP to $1 was not refused"
import socket, sys
s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
s.settimeout(5)
s.connect((sys.argv[1], 5353))
s.send(b"x")
try:
    s.recv(100)
except ConnectionRefusedError:
    sys.exit(0)
sys.exit(1)
PY
    pass "UDP to $1: ICMP port unreachable"
}

route_dev() { ip -n "$C" route get "$1" | grep -o 'dev [^ ]*' | head -1 | cut -d' ' -f2; }

# ---------------------------------------------------------------- split tunnel
start_probe split --route 10.77.0.0/24 --route fd77::/64 --exclude 10.77.0.3/32 --bind-dev "$VC"
[[ $(route_dev 10.77.0.2) == ghost0 ]] || fail "10.77.0.2 not routed via ghost0"
[[ $(route_dev 10.77.0.3) == "$VC" ]] || fail "excluded 10.77.0.3 routed via $(route_dev 10.77.0.3)"
[[ $(route_dev fd77::2) == ghost0 ]] || fail "fd77::2 not routed via ghost0"
pass "split tunnel routes: 10.77.0.2 and fd77::2 via ghost0, excluded 10.77.0.3 via $VC"
check_download http://10.77.0.2:8080/blob "split IPv4"
check_download "http://[fd77::2]:8080/blob" "split IPv6"
check_upload 10.77.0.2 "split IPv4"
check_download http://10.77.0.3:8080/blob "excluded prefix (direct)"
check_udp_refused 10.77.0.2
stop_probe TERM
grep -q '^accepted [1-9]' "$T/split.out" || fail "probe accepted nothing: $(cat "$T/split.out")"
grep -q '^accepted_unknown 0$' "$T/split.out" || fail "accepted unknown flows"
expect_same_as_before "split tunnel teardown"

# ---------------------------------------------------------------- UDP and ping
# The probe's stand-in channel echoes UDP, answers port 9 with port unreachable and port 8
# with "fragmentation needed" / "packet too big" (MTU 1300), and answers echo requests.
check_udp_datagrams() {
    ip netns exec "$C" python3 - "$1" <<'PY' || fail "UDP datagrams to $1"
import errno, socket, sys, time
dst = sys.argv[1]
fam = socket.AF_INET6 if ":" in dst else socket.AF_INET
s = socket.socket(fam, socket.SOCK_DGRAM)
s.settimeout(5)
s.connect((dst, 7000))
for size in (0, 1, 1400, 60000):
    msg = bytes(i % 251 for i in range(size))
    s.send(msg)
    assert s.recv(65535) == msg, f"echo of {size} bytes differs"
r = socket.socket(fam, socket.SOCK_DGRAM)
r.settimeout(5)
r.connect((dst, 9))
r.send(b"x")
try:
    r.recv(10)
    sys.exit("port 9 answered instead of port unreachable")
except ConnectionRefusedError:
    pass
m = socket.socket(fam, socket.SOCK_DGRAM)
m.connect((dst, 8))
m.send(b"y" * 1350)
opt = (socket.IPPROTO_IPV6, 24) if fam == socket.AF_INET6 else (socket.IPPROTO_IP, 14)  # *_MTU
deadline = time.time() + 5
while m.getsockopt(*opt) != 1300:
    if time.time() > deadline:
        sys.exit(f"path MTU {m.getsockopt(*opt)}, not 1300")
    time.sleep(0.05)
PY
    pass "UDP to $1: echoed (0 to 60000 bytes), port unreachable, path MTU 1300"
}

check_ping() {
    ip netns exec "$C" python3 - "$1" <<'PY' || fail "ping $1"
import socket, struct, sys
dst = sys.argv[1]
v6 = ":" in dst
s = socket.socket(socket.AF_INET6 if v6 else socket.AF_INET, socket.SOCK_DGRAM,
                  socket.IPPROTO_ICMPV6 if v6 else socket.IPPROTO_ICMP)
s.settimeout(5)
request, reply = (128, 129) if v6 else (8, 0)
for seq in (1, 2, 3):
    data = bytes([seq]) * 56
    s.sendto(struct.pack("!BBHHH", request, 0, 0, 0, seq) + data, (dst, 0))
    got = s.recv(2000)
    kind, _, _, _, got_seq = struct.unpack("!BBHHH", got[:8])
    assert (kind, got_seq, got[8:]) == (reply, seq, data), (kind, got_seq)
PY
    pass "ping $1: 3 echo replies"
}

# Ping sockets for root in ns C (the kernel then checks the replies' checksums); the
# setting goes with the namespace.
ip netns exec "$C" sysctl -qw net.ipv4.ping_group_range="0 0"
start_probe datagrams --route 10.77.0.0/24 --route fd77::/64 --mtu 65000 --datagrams \
    --bind-dev "$VC"
check_udp_datagrams 10.77.0.2
check_udp_datagrams fd77::2
check_ping 10.77.0.2
check_ping fd77::2
check_download http://10.77.0.2:8080/blob "TCP beside datagrams"
stop_probe TERM
grep -q '^udp_datagrams [1-9]' "$T/datagrams.out" || fail "no UDP handed over: $(cat "$T/datagrams.out")"
grep -q '^icmp_echo 6$' "$T/datagrams.out" || fail "echo requests: $(cat "$T/datagrams.out")"
grep -q '"icmp_errors":4' "$T/datagrams.out" || fail "ICMP errors: $(cat "$T/datagrams.out")"
pass "datagram counters: $(grep -o '"udp_out":[0-9]*' "$T/datagrams.out"), 6 echo requests, 4 ICMP errors"
expect_same_as_before "datagrams teardown"

# ---------------------------------------------------------------- full tunnel
MARK=0x67686f
start_probe full --full --mark "$MARK"
ip -n "$C" rule | has "not from all fwmark $MARK lookup" || fail "full tunnel rule missing: $(ip -n "$C" rule)"
ip -n "$C" rule | has "lookup main suppress_prefixlength 0" || fail "suppress rule missing"
[[ $(route_dev 10.77.0.2) == ghost0 ]] || fail "full tunnel: 10.77.0.2 not via ghost0"
[[ $(route_dev 10.99.0.2) == "$VC" ]] || fail "full tunnel: on-link 10.99.0.2 not via $VC"
check_download http://10.77.0.2:8080/blob "full IPv4"
check_download "http://[fd77::2]:8080/blob" "full IPv6"
check_upload 10.77.0.2 "full IPv4"
stop_probe TERM
grep -q '^accepted [3-9]' "$T/full.out" || fail "full tunnel: probe accepted too few: $(cat "$T/full.out")"
expect_same_as_before "full tunnel teardown"

# ---------------------------------------------------------------- crash + cleanup
start_probe crash --full --mark "$MARK" --exclude 10.77.0.3/32
stop_probe KILL
[[ $(ip -n "$C" rule | grep -c "lookup") -gt 3 ]] || fail "expected leftover rules after SIGKILL"
ip netns exec "$C" "$PROBE" --cleanup >"$T/cleanup.out" 2>&1 || fail "cleanup failed: $(cat "$T/cleanup.out")"
grep -q '^removed [1-9]' "$T/cleanup.out" || fail "cleanup removed nothing: $(cat "$T/cleanup.out")"
expect_same_as_before "cleanup after SIGKILL"
ip netns exec "$C" "$PROBE" --cleanup >"$T/cleanup2.out" 2>&1 || fail "second cleanup failed"
grep -q '^removed 0 ' "$T/cleanup2.out" || fail "second cleanup was not a no-op: $(cat "$T/cleanup2.out")"
pass "cleanup is idempotent"

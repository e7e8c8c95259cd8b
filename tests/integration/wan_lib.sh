# An emulated long fat link between two namespaces (sourced after lib.sh; used by
# integration/wan_windows.sh and bench/wan_bench.sh). This kernel has no netem, so the
# router namespace forwards everything through two TUN devices that delay_line
# (tests/tools) serves: it holds each packet RTT/2 per direction behind a rate limit and a
# drop-tail queue, with optional random loss.
#
#   ns C  10.A.1.1 ── veth ── 10.A.1.2  ns R  10.A.2.1 ── veth ── 10.A.2.2  ns S
#                       iif from C: table 100 → wanA ┐
#                                                    delay_line
#                       iif from S: table 101 → wanB ┘
#                       what delay_line writes into wanA/wanB re-enters R: main table
#
# wan_topology MTU     namespaces C, RT, S and the links (MTU on veths and TUNs); SERVER
#                      is S's address; in_c, in_r, in_s run a command in one of them
# wan_start_line RTT_MS LOSS_PERCENT RATE_MBIT [delay_line args]
#                      starts delay_line (RATE_MBIT 0 = unlimited); LINE_PID, LINE_LOG
# wan_stop_line        stops it; its counters go to stderr
# wan_icmp_rtt COUNT INTERVAL
#                      ICMP echo C → S: "min/avg/max/mdev ms, N lost"
# (ghostd_in and gctl_in, for a ghostd per namespace, are in lib.sh)

: "${DELAY_LINE:=$GHOST_BUILD_DIR/tests/tools/delay_line}"

wan_topology() {
    local mtu=$1 dev
    NET=10.$((RANDOM % 200 + 20))
    C=$(netns_create c) RT=$(netns_create r) S=$(netns_create s)
    netns_veth "$C" "$RT" "$NET.1.1/24" "$NET.1.2/24"
    netns_veth "$RT" "$S" "$NET.2.1/24" "$NET.2.2/24"
    R_FROM_C=v${RUN_ID}b1 R_FROM_S=v${RUN_ID}a2
    ip -n "$C" link set "v${RUN_ID}a1" mtu "$mtu"
    ip -n "$RT" link set "$R_FROM_C" mtu "$mtu"
    ip -n "$RT" link set "$R_FROM_S" mtu "$mtu"
    ip -n "$S" link set "v${RUN_ID}b2" mtu "$mtu"
    ip -n "$C" route add default via "$NET.1.2"
    ip -n "$S" route add default via "$NET.2.1"
    SERVER=$NET.2.2
    in_r sysctl -qw net.ipv4.ip_forward=1 net.ipv4.conf.all.rp_filter=0 \
        net.ipv4.conf.default.rp_filter=0 net.ipv6.conf.all.disable_ipv6=1 \
        net.ipv6.conf.default.disable_ipv6=1
    for dev in wanA wanB; do
        ip -n "$RT" tuntap add dev "$dev" mode tun
        ip -n "$RT" link set "$dev" mtu "$mtu" up
    done
    for dev in "$R_FROM_C" "$R_FROM_S" wanA wanB; do in_r sysctl -qw "net.ipv4.conf.$dev.rp_filter=0"; done
    ip -n "$RT" route add default dev wanA table 100
    ip -n "$RT" route add default dev wanB table 101
    ip -n "$RT" rule add iif "$R_FROM_C" table 100
    ip -n "$RT" rule add iif "$R_FROM_S" table 101
}
in_c() { ip netns exec "$C" "$@"; }
in_r() { ip netns exec "$RT" "$@"; }
in_s() { ip netns exec "$S" "$@"; }

LINE_PID='' LINE_N=0
wan_start_line() {
    [[ -x $DELAY_LINE ]] || fail "no delay_line at $DELAY_LINE (build target delay_line, or set DELAY_LINE)"
    local args=(--a wanA --b wanB --delay-ms "$(awk -v r="$1" 'BEGIN { print r / 2 }')"
        --rate-mbit "$3" --loss "$(awk -v l="$2" 'BEGIN { print l / 100 }')" "${@:4}")
    LINE_LOG=$T/line-$((++LINE_N)).log
    # ip netns exec execs, so $! is delay_line itself
    ip netns exec "$RT" "$DELAY_LINE" "${args[@]}" >"$LINE_LOG" 2>&1 &
    LINE_PID=$!
    track_pid $LINE_PID
    wait_for 10 "delay_line ready" grep -qx ready "$LINE_LOG"
    wait_for 10 "ICMP echo through the line" wan_icmp_rtt 1 0
}
wan_stop_line() {
    [[ -n $LINE_PID ]] || return 0
    kill -TERM "$LINE_PID"
    wait "$LINE_PID" 2>/dev/null || true
    LINE_PID=
    grep '^delay_line .*->' "$LINE_LOG" | sed 's/^/    /' >&2 || true
}
wan_icmp_rtt() {
    in_c python3 - "$SERVER" "$1" "$2" <<'PY'
import os, socket, statistics, struct, sys, time
dst, count, interval = sys.argv[1], int(sys.argv[2]), float(sys.argv[3])
s = socket.socket(socket.AF_INET, socket.SOCK_RAW, socket.IPPROTO_ICMP)
ident, rtts = os.getpid() & 0xFFFF, []
def checksum(b):
    t = sum(struct.unpack(f"!{len(b) // 2}H", b))
    t = (t >> 16) + (t & 0xFFFF)
    return ~(t + (t >> 16)) & 0xFFFF
for seq in range(count):
    body = struct.pack("!HH", ident, seq) + b"wan_line" * 6
    pkt = struct.pack("!BBH", 8, 0, checksum(struct.pack("!BBH", 8, 0, 0) + body)) + body
    t0 = time.perf_counter()
    s.sendto(pkt, (dst, 0))
    deadline = t0 + 2
    while (left := deadline - time.perf_counter()) > 0:
        s.settimeout(left)
        try:
            pkt = s.recv(2048)
        except socket.timeout:
            break
        icmp = pkt[(pkt[0] & 15) * 4:]
        if icmp[0] == 0 and struct.unpack("!HH", icmp[4:8]) == (ident, seq):
            rtts.append((time.perf_counter() - t0) * 1e3)
            break
    if seq + 1 < count:
        time.sleep(interval)
if not rtts:
    sys.exit("no echo reply")
dev = statistics.pstdev(rtts)
print(f"{min(rtts):.3f}/{statistics.mean(rtts):.3f}/{max(rtts):.3f}/{dev:.3f} ms, {count - len(rtts)} lost")
PY
}


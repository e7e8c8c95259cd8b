#!/usr/bin/env bash
# ghost TUN mode vs OpenSSH `ssh -N -D` (+ a SOCKS-aware client) vs sshuttle, on the same
# topology in one run (not a test: prints figures).
#
#   ns C (client)                              ns S (server)              ns T (target)
#   ghostd TUN ghost0 (route 10.A.2.0/24)      sshd 10.A.1.2:22 ────────▶ iperf3 -s :5201
#   ssh -N -D :2080 (proxychains4 for iperf3)  (aes128-gcm@openssh.com)   accept server :7000
#   sshuttle -r ... 10.A.2.0/24                                           10.A.2.2
#         10.A.1.1 ──── veth ──── 10.A.1.2      10.A.2.1 ──── veth ──── 10.A.2.2
#
# One after the other on the same sshd and target (ghost and sshuttle both capture
# 10.A.2.0/24, so never at once): iperf3 upload/download, single stream and -P 8, and
# TCP connect rate and p50/p99 latency to the target's first byte (sequential and 50
# parallel). Ratios: ghost TUN / ssh -D and ghost TUN / sshuttle.
#
# Throughput on a shared 2-core machine swings by 20 % from one 5-second run to the
# next, so ghost and ssh -D take turns for BENCH_ROUNDS rounds of the four iperf3 runs
# and each figure is the median of its rounds (sshuttle, two orders of magnitude
# slower, runs one round).
#
# Needs root, sshuttle, proxychains4, iptables. Env: GHOSTD, GHOSTCTL (or
# GHOST_BUILD_DIR), BENCH_SECONDS (5), BENCH_ROUNDS (3), CONNECTS (1000), SEQ_CONNECTS
# (300), KEEP_TMP=1, LINK_RATE (tc rate of the client-server link, e.g. 1gbit; default
# unshaped).
. "$(dirname "$0")/bench_lib.sh"
for tool in sshuttle proxychains4 iptables iperf3; do
    command -v "$tool" >/dev/null || fail "$tool missing (apt-get install sshuttle proxychains4 iptables iperf3)"
done

bench_topology
bench_shape_link
# A default route as any real client has (sshuttle's NAT redirect needs one to exist);
# the server does not forward, so nothing reaches the target around the tunnels.
ip -n "$C" route add default via "$SERVER"
bench_targets
ip netns exec "$TG" dnsmasq --no-daemon --no-resolv --no-hosts --bind-interfaces --listen-address="$TARGET" \
    --local=/bench.test/ --address=/www.bench.test/"$TARGET" --dns-forward-max=1000 --pid-file= \
    >>"$T/dnsmasq.log" 2>&1 &
track_pid $!
bench_sshd "MaxStartups 100" "MaxSessions 100"
echo "$SERVER $(cut -d' ' -f1,2 "$T/sshd/host.pub")" >"$T/known_hosts"
SSH="ssh -F /dev/null -c $CIPHER -i $T/id -o IdentitiesOnly=yes -o BatchMode=yes -o UserKnownHostsFile=$T/known_hosts"

ROUNDS=${BENCH_ROUNDS:-3}
declare -A RUNS  # RUNS[metric.who] = the figures of every round

# iperf WHO KEY [iperf3 args...]: Gbit/s appended to RUNS[KEY.WHO]; PREFIX runs before iperf3
iperf() {
    local who=$1 key=$2
    shift 2
    local json g
    json=$(in_c ${PREFIX:-} iperf3 -c "$TARGET" -p 5201 -t "$SECS" -J "$@") ||
        fail "iperf3 $key through $who: $(jq -r .error <<<"$json" 2>/dev/null)"
    g=$(jq '.end.sum_received.bits_per_second / 1e9 | . * 100 | round / 100' <<<"$json")
    RUNS[$key.$who]+=" $g"
    log "iperf3 $key $who: $g Gbit/s"
}
iperf_round() {  # iperf_round WHO
    iperf "$1" up1
    iperf "$1" down1 -R
    iperf "$1" up8 -P 8
    iperf "$1" down8 -R -P 8
}
connects() {  # connects WHO PROXY_FOR_CONNECTS
    bench_connects "$1" "$2" 1 seq "$SEQ_CONNECTS"
    bench_connects "$1" "$2" 50 par "$CONNECTS"
}
median() { tr ' ' '\n' | grep . | sort -g | awk '{v[NR] = $1} END {if (NR) print (NR % 2 ? v[(NR + 1) / 2] : (v[NR / 2] + v[NR / 2 + 1]) / 2)}'; }

# ---------------------------------------------------------------- ghost TUN
ghost_dirs
echo '{ "log_level": "warning" }' >"$GHOST_ETC/ghostd.json"
cat >"$GHOST_ETC/profiles/tun.json" <<EOF
{ "server": "$SERVER:22",
  "ssh": { "user": "$(id -un)", "identity_file": "$T/id", "host_key": "$FP", "ciphers": ["$CIPHER"] },
  "tun": { "routes": ["$NET.2.0/24"], "dns": ["$TARGET"] } }
EOF
GHOSTD_NS=$C start_ghostd
ghost_up() {
    gctl up tun >/dev/null || fail "TUN profile did not come up: $(gctl status tun 2>&1)"
    in_c $LOAD connect direct "$TARGET:7000" 20 5 >/dev/null  # warm-up
}
ghost_up
iperf_round ghost
connects ghost direct
# DNS queries/s through the tunnel (UDP to 198.18.0.2, DNS over TCP channels behind it)
DNSQ=${DNS_QUERIES:-5000}
json=$(in_c python3 - "$DNSQ" <<'PY'
import json, os, socket, struct, sys, time
n, window = int(sys.argv[1]), 50
s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
s.connect(("198.18.0.2", 53)); s.settimeout(5)
def q(i):
    name = b"".join(bytes([len(p)]) + p for p in (b"www", b"bench", b"test")) + b"\0"
    return struct.pack(">HHHHHH", i & 0xffff, 0x0100, 1, 0, 0, 0) + name + b"\0\1\0\1"
sent = got = lost = 0
lat = {}
done = []
t0 = time.perf_counter()
while got + lost < n:
    while sent < n and sent - got - lost < window:
        lat[sent & 0xffff] = time.perf_counter(); s.send(q(sent)); sent += 1
    try:
        r = s.recv(4096)
    except socket.timeout:
        lost += sent - got - lost; continue
    i = struct.unpack(">H", r[:2])[0]
    if i in lat: done.append(time.perf_counter() - lat.pop(i)); got += 1
secs = time.perf_counter() - t0
done.sort()
print(json.dumps({"ok": got, "lost": lost, "qps": round(got / secs), "p50_ms": round(done[len(done)//2] * 1000, 3) if done else None}))
PY
)
log "DNS through the tunnel: $json"
R[dns_qps.ghost]=$(jq .qps <<<"$json")
R[dns_p50.ghost]=$(jq .p50_ms <<<"$json")
gctl down tun >/dev/null

# ---------------------------------------------------------------- OpenSSH -D
ssh_d_up() {
    in_c $SSH -N -D 127.0.0.1:2080 "$(id -un)@$SERVER" >>"$T/ssh.log" 2>&1 &
    SSH_PID=$!
    track_pid $SSH_PID
    wait_for 10 "ssh -D" in_c bash -c "exec 3<>/dev/tcp/127.0.0.1/2080"
    in_c $LOAD connect 127.0.0.1:2080 "$TARGET:7000" 20 5 >/dev/null  # warm-up
}
ssh_d_down() {
    kill "$SSH_PID"
    wait "$SSH_PID" 2>/dev/null || true
}
cat >"$T/proxychains.conf" <<EOF
strict_chain
quiet_mode
tcp_read_time_out 15000
tcp_connect_time_out 8000
[ProxyList]
socks5 127.0.0.1 2080
EOF
PROXYCHAINS="proxychains4 -q -f $T/proxychains.conf"
ssh_d_up
PREFIX=$PROXYCHAINS iperf_round openssh
connects openssh 127.0.0.1:2080
ssh_d_down

# ---------------------------------------------------------------- further rounds, taking turns
for ((round = 2; round <= ROUNDS; round++)); do
    log "round $round of $ROUNDS"
    ghost_up
    iperf_round ghost
    gctl down tun >/dev/null
    ssh_d_up
    PREFIX=$PROXYCHAINS iperf_round openssh
    ssh_d_down
done

# ---------------------------------------------------------------- sshuttle
in_c sshuttle --method nat -r "$(id -un)@$SERVER" -e "$SSH" "$NET.2.0/24" >>"$T/sshuttle.log" 2>&1 &
SSHUTTLE_PID=$!
track_pid $SSHUTTLE_PID
# Ready once its firewall rules redirect the target subnet (a connect gets through).
_sshuttle_ready() { in_c $LOAD connect direct "$TARGET:7000" 1 1 | has '"ok": 1'; }
wait_for 30 "sshuttle" _sshuttle_ready
log "warm-up sshuttle"
in_c $LOAD connect direct "$TARGET:7000" 20 5 >/dev/null
iperf_round sshuttle
connects sshuttle direct
kill "$SSHUTTLE_PID"
wait "$SSHUTTLE_PID" 2>/dev/null || true

# ---------------------------------------------------------------- table
for key in "${!RUNS[@]}"; do R[$key]=$(median <<<"${RUNS[$key]}"); done
row() {
    local g=${R[$2.ghost]:-n/a} o=${R[$2.openssh]:-n/a} s=${R[$2.sshuttle]:-n/a}
    printf '%-36s %9s %9s %9s %9s %9s\n' "$1" "$g" "$o" "$s" "$(bench_ratio "$g" "$o")" "$(bench_ratio "$g" "$s")"
}
{
    echo
    echo "ghost TUN vs ssh -D (+proxychains4) vs sshuttle ($CIPHER; $(nproc) cores; link ${LINK_RATE:-unshaped};" \
        "iperf3 ${SECS}s, median of $ROUNDS rounds (sshuttle 1);" \
        "$SEQ_CONNECTS/$CONNECTS connects)"
    printf '%-36s %9s %9s %9s %9s %9s\n' metric ghost-tun ssh-D sshuttle tun/ssh-D tun/sshtl
    row "upload 1 stream (Gbit/s)" up1
    row "download 1 stream (Gbit/s)" down1
    row "upload -P 8 (Gbit/s)" up8
    row "download -P 8 (Gbit/s)" down8
    row "connects/s, sequential" rate_seq
    row "connect p50 ms, sequential" p50_seq
    row "connect p99 ms, sequential" p99_seq
    row "connect failures, sequential" cfail_seq
    row "connects/s, 50 parallel" rate_par
    row "connect p50 ms, 50 parallel" p50_par
    row "connect p99 ms, 50 parallel" p99_par
    row "connect failures, 50 parallel" cfail_par
    row "DNS queries/s (50 in flight)" dns_qps
    row "DNS p50 ms" dns_p50
    echo "every round (Gbit/s), ghost TUN | ssh -D:"
    for key in up1 down1 up8 down8; do
        printf '  %-6s%s |%s\n' "$key" "${RUNS[$key.ghost]}" "${RUNS[$key.openssh]}"
    done
} | tee "$T/table.txt"

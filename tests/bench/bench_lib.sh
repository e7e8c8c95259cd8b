# Shared setup of the benchmarks (sourced; not a benchmark itself). On top of the
# integration tests' lib.sh (temp dir, cleanup trap, netns helpers):
#
#   ns C (client) 10.A.1.1 ──── veth ──── 10.A.1.2 ns S (server) 10.A.2.1 ──── veth ──── 10.A.2.2 ns T
#
# bench_topology   namespaces C, S, TG and the two links; NET, SERVER, TARGET, in_c
# bench_shape_link with LINK_RATE set (e.g. 1gbit): a tbf qdisc on both ends of the
#                  client-server link, so the link and not the CPU is the limit
# bench_targets    iperf3 -s :5201 and the accept server :7000 in TG (waits for both)
# bench_sshd LINE… sshd on $SERVER:22 offering only $CIPHER, extra config lines appended;
#                  client key $T/id authorised; sets SSHD_PID, FP (host key SHA256)
# bench_connects   SOCKS/direct connect rate and latency into R[...]
# bench_row        one table row with a ratio
. "$(dirname "${BASH_SOURCE[0]}")/../integration/lib.sh"

SECS=${BENCH_SECONDS:-5}
CONNECTS=${CONNECTS:-1000}
SEQ_CONNECTS=${SEQ_CONNECTS:-300}
CIPHER=aes128-gcm@openssh.com
LOAD="python3 $(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)/socks_load.py"
declare -A R  # R[metric.who] = figure
ulimit -n "$(ulimit -Hn)"
((EUID == 0)) || fail "the benchmark needs root for network namespaces"

bench_topology() {
    # the second octet is random so parallel runs do not meet
    NET=10.$((RANDOM % 200 + 20))
    C=$(netns_create c) S=$(netns_create s) TG=$(netns_create t)
    netns_veth "$C" "$S" "$NET.1.1/24" "$NET.1.2/24"
    netns_veth "$S" "$TG" "$NET.2.1/24" "$NET.2.2/24"
    ip -n "$TG" route add "$NET.1.0/24" via "$NET.2.1"
    SERVER=$NET.1.2 TARGET=$NET.2.2
}
in_c() { ip netns exec "$C" "$@"; }

bench_shape_link() {
    [[ -n ${LINK_RATE:-} ]] || return 0
    tc -n "$C" qdisc add dev "v${RUN_ID}a1" root tbf rate "$LINK_RATE" burst 512kb latency 20ms
    tc -n "$S" qdisc add dev "v${RUN_ID}b1" root tbf rate "$LINK_RATE" burst 512kb latency 20ms
}

bench_targets() {
    ip netns exec "$TG" iperf3 -s -p 5201 >>"$T/iperf3-server.log" 2>&1 &
    track_pid $!
    ip netns exec "$TG" $LOAD server 7000 >>"$T/accept.log" 2>&1 &
    track_pid $!
    wait_for 10 "iperf3 -s" ip netns exec "$TG" ss -Hltn 'sport = :5201'
    wait_for 10 "accept server" ip netns exec "$TG" bash -c "exec 3<>/dev/tcp/127.0.0.1/7000"
}

bench_sshd() {
    mkdir -p "$T/sshd" /run/sshd
    ssh-keygen -q -t ed25519 -N '' -f "$T/sshd/host"
    [[ -f $T/id ]] || ssh-keygen -q -t ed25519 -N '' -C bench -f "$T/id"
    {
        echo "ListenAddress $SERVER:22"
        echo "HostKey $T/sshd/host"
        echo "PidFile $T/sshd/pid"
        echo "AuthorizedKeysFile $T/id.pub"
        echo "PasswordAuthentication no"
        echo "KbdInteractiveAuthentication no"
        echo "PermitRootLogin prohibit-password"
        echo "AllowTcpForwarding yes"
        echo "UsePAM no"
        echo "StrictModes no"
        echo "Ciphers $CIPHER"
        echo "LogLevel ERROR"
        for line in "$@"; do echo "$line"; done
    } >"$T/sshd/config"
    ip netns exec "$S" /usr/sbin/sshd -D -e -f "$T/sshd/config" >>"$T/sshd.log" 2>&1 &
    SSHD_PID=$!
    track_pid $SSHD_PID
    wait_for 10 "sshd" in_c bash -c "exec 3<>/dev/tcp/$SERVER/22"
    FP=$(ssh-keygen -l -E sha256 -f "$T/sshd/host.pub" | awk '{print $2}')
}

# bench_connects WHO PROXY PARALLEL KEY COUNT (PROXY host:port, or "direct")
bench_connects() {
    local json
    json=$(in_c $LOAD connect "$2" "$TARGET:7000" "$5" "$3")
    log "connect x$3 $1: $json"
    R[rate_$4.$1]=$(jq .rate <<<"$json")
    R[p50_$4.$1]=$(jq .p50_ms <<<"$json")
    R[p99_$4.$1]=$(jq .p99_ms <<<"$json")
    R[cfail_$4.$1]=$(jq .failed <<<"$json")
}

# bench_ratio A B: A / B with two decimals, or n/a
bench_ratio() { awk -v g="$1" -v o="$2" 'BEGIN { if (o + 0 == 0 || g == "") print "n/a"; else printf "%.2f", g / o }'; }

# bench_row LABEL KEY WHO_A WHO_B: the two figures and A / B
bench_row() {
    local a=${R[$2.$3]:-n/a} b=${R[$2.$4]:-n/a}
    printf '%-40s %12s %12s %8s\n' "$1" "$a" "$b" "$(bench_ratio "$a" "$b")"
}

# bench_connect_rows WHO_A WHO_B: the eight connect rows every benchmark prints
bench_connect_rows() {
    bench_row "connects/s, sequential" rate_seq "$1" "$2"
    bench_row "connect p50 ms, sequential" p50_seq "$1" "$2"
    bench_row "connect p99 ms, sequential" p99_seq "$1" "$2"
    bench_row "connect failures, sequential" cfail_seq "$1" "$2"
    bench_row "connects/s, 50 parallel" rate_par "$1" "$2"
    bench_row "connect p50 ms, 50 parallel" p50_par "$1" "$2"
    bench_row "connect p99 ms, 50 parallel" p99_par "$1" "$2"
    bench_row "connect failures, 50 parallel" cfail_par "$1" "$2"
}

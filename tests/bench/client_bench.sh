#!/usr/bin/env bash
# ghost client vs OpenSSH client, side by side in one run (not a test: prints figures).
#
#   ns C (client)                 ns S (server)                 ns T (target)
#   ghostd  -L :5201, SOCKS :1080  sshd :22                      iperf3 -s :5201
#   ssh -N  -L :6201, -D :2080 ===>10.A.1.2  10.A.2.1 ---------> 10.A.2.2  accept server :7000
#   iperf3 -c, socks_load.py      (aes128-gcm@openssh.com only)
#         10.A.1.1 ---- veth ---- 10.A.1.2
#
# Measures, for ghost and for OpenSSH with the same cipher: iperf3 upload and download
# through -L, SOCKS5 connect rate and p50/p99 latency (sequential and 50 parallel; timed
# to the target's first byte), FLOWS concurrent idle SOCKS flows (failures, RSS per
# 1,000 flows), and client CPU seconds per GB. Ratios are ghost / OpenSSH.
#
# Needs root (netns). Env: GHOSTD, GHOSTCTL (or GHOST_BUILD_DIR), BENCH_SECONDS (iperf3
# run length, default 5), FLOWS (default 5000), CONNECTS (parallel, default 1000),
# SEQ_CONNECTS (sequential, default 300), KEEP_TMP=1, LINK_RATE (tc rate of the client-server
# link, e.g. 1gbit; default unshaped), BENCH_PROFILE=1 (perf profile of
# each client during each iperf3 run, top entries printed; needs perf).
. "$(dirname "$0")/bench_lib.sh"
FLOWS=${FLOWS:-5000}

bench_topology
bench_shape_link
bench_targets
bench_sshd "MaxStartups 100"

# --- ghost client
ghost_dirs
echo '{ "log_level": "warning" }' >"$GHOST_ETC/ghostd.json"
cat >"$GHOST_ETC/profiles/bench.json" <<EOF
{ "server": "$SERVER:22",
  "ssh": { "user": "$(id -un)", "identity_file": "$T/id", "host_key": "$FP",
           "ciphers": ["$CIPHER"] },
  "socks5": { "listen": "127.0.0.1:1080" },
  "forward": [ { "listen": "127.0.0.1:5201", "target": "$TARGET:5201" } ] }
EOF
GHOSTD_NS=$C start_ghostd
GHOST_PID=$GHOSTD_PID
gctl up bench >/dev/null || fail "ghost profile did not come up: $(gctl status bench 2>&1)"

# --- OpenSSH client
ip netns exec "$C" ssh -N -c "$CIPHER" -i "$T/id" -o StrictHostKeyChecking=no -o UserKnownHostsFile=/dev/null \
    -o BatchMode=yes -o ExitOnForwardFailure=yes -D 127.0.0.1:2080 \
    -L "127.0.0.1:6201:$TARGET:5201" "$(id -un)@$SERVER" >>"$T/ssh.log" 2>&1 &
SSH_PID=$!
track_pid $SSH_PID
wait_for 10 "ssh -D" in_c bash -c "exec 3<>/dev/tcp/127.0.0.1/2080"
wait_for 10 "ghost SOCKS" in_c bash -c "exec 3<>/dev/tcp/127.0.0.1/1080"

# ---------------------------------------------------------------- measurements
TICKS=$(getconf CLK_TCK)
cpu_ticks() { awk '{print $14 + $15}' "/proc/$1/stat"; }

# iperf NAME PID PORT [-R]: Gbit/s and client CPU seconds per GB
iperf() {
    local name=$1 pid=$2 port=$3 dir=up
    shift 3
    [[ ${1:-} == -R ]] && dir=down
    local c0 c1 json bps bytes
    c0=$(cpu_ticks "$pid")
    local perf_pid=
    if [[ -n ${BENCH_PROFILE:-} ]]; then
        perf record -q ${BENCH_PROFILE_ARGS:---call-graph dwarf,8192} -p "$pid" -o "$T/perf-$name-$dir.data" -- sleep "$SECS" >/dev/null 2>&1 &
        perf_pid=$!
        perf stat -x, -e raw_syscalls:sys_enter -p "$pid" -o "$T/syscalls-$name-$dir.csv" -- sleep "$SECS" \
            >/dev/null 2>&1 &
        perf_pid="$perf_pid $!"
    fi
    json=$(in_c iperf3 -c 127.0.0.1 -p "$port" -t "$SECS" -J "$@") ||
        fail "iperf3 $dir through $name: $(jq -r .error <<<"$json" 2>/dev/null)"
    c1=$(cpu_ticks "$pid")
    if [[ -n $perf_pid ]]; then
        wait $perf_pid || true
        local calls
        calls=$(awk -F, '/raw_syscalls/ {print $1}' "$T/syscalls-$name-$dir.csv")
        R[sys_$dir.$name]=$(awk -v c="${calls:-0}" -v B="$(jq '.end.sum_received.bytes' <<<"$json")" \
            'BEGIN { printf "%.0f", c / (B / 1e6) }')
        perf report -q --no-children --sort dso,symbol -g none --percent-limit 1 -i "$T/perf-$name-$dir.data" 2>/dev/null |
            grep -v '^$' | head -25 >"$T/profile-$name-$dir.txt" || true
        log "profile of $name $dir (self time, top entries):"
        sed 's/^/    /' "$T/profile-$name-$dir.txt" >&2
    fi
    bps=$(jq '.end.sum_received.bits_per_second' <<<"$json")
    bytes=$(jq '.end.sum_received.bytes' <<<"$json")
    R[iperf_$dir.$name]=$(awk -v b="$bps" 'BEGIN { printf "%.2f", b / 1e9 }')
    R[cpu_$dir.$name]=$(awk -v t=$((c1 - c0)) -v hz="$TICKS" -v B="$bytes" \
        'BEGIN { printf "%.2f", (t / hz) / (B / 1e9) }')
    log "iperf3 $dir $name: ${R[iperf_$dir.$name]} Gbit/s, ${R[cpu_$dir.$name]} CPU s/GB"
}

# idle NAME PORT PID
idle() {
    local json
    json=$(in_c $LOAD idle "127.0.0.1:$2" "$TARGET:7000" "$FLOWS" "$3")
    log "idle $FLOWS flows $1: $json"
    R[idle_ok.$1]=$(jq .ok <<<"$json")
    R[idle_fail.$1]=$(jq .failed <<<"$json")
    R[rss.$1]=$(jq '.kb_per_1000 / 1024 | . * 100 | round / 100' <<<"$json")
}

log "warm-up"
in_c $LOAD connect 127.0.0.1:1080 "$TARGET:7000" 50 5 >/dev/null
in_c $LOAD connect 127.0.0.1:2080 "$TARGET:7000" 50 5 >/dev/null
iperf ghost "$GHOST_PID" 5201
iperf openssh "$SSH_PID" 6201
iperf ghost "$GHOST_PID" 5201 -R
iperf openssh "$SSH_PID" 6201 -R
for who in ghost:1080 openssh:2080; do
    bench_connects "${who%:*}" "127.0.0.1:${who#*:}" 1 seq "$SEQ_CONNECTS"
    bench_connects "${who%:*}" "127.0.0.1:${who#*:}" 50 par "$CONNECTS"
done
idle ghost 1080 "$GHOST_PID"
idle openssh 2080 "$SSH_PID"

# ---------------------------------------------------------------- table
row() { bench_row "$1" "$2" ghost openssh; }
{
    echo
    echo "ghost vs OpenSSH client ($CIPHER; $(nproc) cores; link ${LINK_RATE:-unshaped}; iperf3 ${SECS}s;" \
        "$SEQ_CONNECTS/$CONNECTS connects; $FLOWS idle flows)"
    printf '%-40s %12s %12s %8s\n' metric ghost openssh ratio
    row "-L upload (Gbit/s)" iperf_up
    row "-L download (Gbit/s)" iperf_down
    row "client CPU s/GB, upload" cpu_up
    row "client CPU s/GB, download" cpu_down
    if [[ -n ${BENCH_PROFILE:-} ]]; then
        row "client syscalls per MB, upload" sys_up
        row "client syscalls per MB, download" sys_down
    fi
    bench_connect_rows ghost openssh
    row "idle flows open (of $FLOWS)" idle_ok
    row "idle flow failures" idle_fail
    row "client RSS MiB per 1000 idle flows" rss
} | tee "$T/table.txt"

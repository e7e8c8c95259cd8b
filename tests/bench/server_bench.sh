#!/usr/bin/env bash
# ghost server vs OpenSSH sshd, side by side in one run, with the same stock OpenSSH client
# (not a test: prints figures).
#
#   ns C (client)                       ns S (server)                      ns T (target)
#   ssh -N -D/-L  ───────────────────▶  sshd        10.A.1.2:22            iperf3 -s :5201
#   ssh -N -D/-L  ───────────────────▶  ghostd      10.A.1.2:2222  ──────▶ accept server :7000
#   iperf3 -c, socks_load.py            (aes128-gcm@openssh.com)           10.A.2.2
#         10.A.1.1 ──── veth ──── 10.A.1.2      10.A.2.1 ──── veth ──── 10.A.2.2
#
# Measures for each server: iperf3 upload and download through `ssh -L`, SOCKS5 connect
# rate and p50/p99 latency through `ssh -D` (sequential and 50 parallel, timed to the
# target's first byte), SSH sessions per second (sequential full logins: key exchange,
# public-key auth, session up), server CPU seconds per GB, and server memory (PSS, which
# counts pages shared between sshd's per-session processes once) per 100 idle sessions.
# Ratios are ghost / sshd.
#
# Needs root (netns). Env: GHOSTD, GHOSTCTL (or GHOST_BUILD_DIR), BENCH_SECONDS (iperf3 run
# length, default 5), CONNECTS (parallel, 1000), SEQ_CONNECTS (sequential, 300), LOGINS
# (sequential sessions, 100), IDLE_SESSIONS (100), KEEP_TMP=1.
. "$(dirname "$0")/bench_lib.sh"
LOGINS=${LOGINS:-100}
IDLE_SESSIONS=${IDLE_SESSIONS:-100}

bench_topology
bench_targets
bench_sshd "MaxStartups 300" "MaxSessions 10"

# --- ghost server profile
ghost_dirs
echo '{ "log_level": "warning" }' >"$GHOST_ETC/ghostd.json"
cat >"$GHOST_ETC/profiles/edge.json" <<EOF
{ "role": "server",
  "listen": [ { "address": "$SERVER:2222" } ],
  "authorized_keys": "$T/id.pub",
  "limits": { "max_sessions": 1000, "max_startups": 300, "max_startups_total": 1000,
              "max_channels": 4096 } }
EOF
GHOSTD_NS=$S start_ghostd
GHOST_PID=$GHOSTD_PID
gctl up edge >/dev/null || fail "ghost server profile did not come up: $(gctl status edge 2>&1)"
{
    gctl --json status edge | jq -r '.. | objects | select(has("known_hosts")) | .known_hosts[]' 
    echo "$SERVER $(cut -d' ' -f1,2 "$T/sshd/host.pub")"
} >"$T/known_hosts"

SSH=(ssh -F /dev/null -c "$CIPHER" -i "$T/id" -o IdentitiesOnly=yes -o BatchMode=yes
    -o UserKnownHostsFile="$T/known_hosts" -o StrictHostKeyChecking=yes -o ServerAliveInterval=0)
declare -A PORT=([ghost]=2222 [sshd]=22) SPID=([ghost]=$GHOST_PID [sshd]=$SSHD_PID)
declare -A LPORT=([ghost]=5201 [sshd]=6201) DPORT=([ghost]=1080 [sshd]=2080)

# One tunnel client per server, the same binary and options.
for who in ghost sshd; do
    in_c "${SSH[@]}" -N -o ExitOnForwardFailure=yes -p "${PORT[$who]}" \
        -D "127.0.0.1:${DPORT[$who]}" -L "127.0.0.1:${LPORT[$who]}:$TARGET:5201" \
        "$(id -un)@$SERVER" >>"$T/ssh-$who.log" 2>&1 &
    track_pid $!
    wait_for 10 "ssh -D to $who" in_c bash -c "exec 3<>/dev/tcp/127.0.0.1/${DPORT[$who]}"
done

# ---------------------------------------------------------------- measurements
TICKS=$(getconf CLK_TCK)
# Server-side CPU: ghostd, or sshd and every session process it forked.
tree_pids() { echo "$1"; for c in $(pgrep -P "$1"); do tree_pids "$c"; done; }
# tree_sum PID FILE AWK: AWK's number from /proc/P/FILE, summed over PID and its descendants
tree_sum() {
    local t=0 p
    for p in $(tree_pids "$1"); do
        t=$((t + $(awk "$3" "/proc/$p/$2" 2>/dev/null || echo 0)))
    done
    echo $t
}
cpu_ticks() { tree_sum "$1" stat '{print $14 + $15 + $16 + $17}'; }
pss_kb() { tree_sum "$1" smaps_rollup '/^Pss:/ {print $2}'; }

iperf() {  # iperf WHO [-R]
    local who=$1 dir=up
    shift
    [[ ${1:-} == -R ]] && dir=down
    local c0 c1 json
    c0=$(cpu_ticks "${SPID[$who]}")
    json=$(in_c iperf3 -c 127.0.0.1 -p "${LPORT[$who]}" -t "$SECS" -J "$@") ||
        fail "iperf3 $dir through $who: $(jq -r .error <<<"$json" 2>/dev/null)"
    c1=$(cpu_ticks "${SPID[$who]}")
    R[iperf_$dir.$who]=$(jq '.end.sum_received.bits_per_second / 1e9 | . * 100 | round / 100' <<<"$json")
    R[cpu_$dir.$who]=$(awk -v t=$((c1 - c0)) -v hz="$TICKS" -v B="$(jq '.end.sum_received.bytes' <<<"$json")" \
        'BEGIN { printf "%.2f", (t / hz) / (B / 1e9) }')
    log "iperf3 $dir $who: ${R[iperf_$dir.$who]} Gbit/s, server ${R[cpu_$dir.$who]} CPU s/GB"
}

# logins WHO: LOGINS sequential sessions; each ends right after authentication (LocalCommand
# runs once the session is up and stops its ssh).
logins() {
    local who=$1 i t0 ok=0
    t0=$(date +%s.%N)
    for ((i = 0; i < LOGINS; i++)); do
        in_c "${SSH[@]}" -N -p "${PORT[$who]}" -o PermitLocalCommand=yes -o 'LocalCommand=kill $PPID' \
            "$(id -un)@$SERVER" 2>>"$T/logins-$who.log" && ok=$((ok + 1))
    done
    R[logins.$who]=$(awk -v n="$LOGINS" -v t0="$t0" -v t1="$(date +%s.%N)" 'BEGIN { printf "%.1f", n / (t1 - t0) }')
    log "logins $who: ${R[logins.$who]}/s"
}

# idle WHO: IDLE_SESSIONS sessions held open; server PSS growth per 100.
idle() {
    local who=$1 before after i pids=()
    before=$(pss_kb "${SPID[$who]}")
    mkdir -p "$T/ready-$who"
    for ((i = 0; i < IDLE_SESSIONS; i++)); do
        in_c "${SSH[@]}" -N -p "${PORT[$who]}" -o PermitLocalCommand=yes \
            -o "LocalCommand=touch $T/ready-$who/%C.\$PPID" "$(id -un)@$SERVER" 2>>"$T/idle-$who.log" &
        pids+=($!)
        track_pid $!
    done
    _all_ready() { (($(ls "$T/ready-$who" | wc -l) >= IDLE_SESSIONS)); }
    wait_for 120 "$IDLE_SESSIONS idle sessions on $who" _all_ready
    sleep 1
    after=$(pss_kb "${SPID[$who]}")
    kill "${pids[@]}" 2>/dev/null
    wait "${pids[@]}" 2>/dev/null || true
    R[pss.$who]=$(awk -v a="$after" -v b="$before" -v n="$IDLE_SESSIONS" 'BEGIN { printf "%.2f", (a - b) / 1024 * 100 / n }')
    log "idle $IDLE_SESSIONS sessions $who: PSS $before -> $after kB"
}

log "warm-up"
for who in ghost sshd; do in_c $LOAD connect "127.0.0.1:${DPORT[$who]}" "$TARGET:7000" 50 5 >/dev/null; done
for who in ghost sshd; do iperf $who; done
for who in ghost sshd; do iperf $who -R; done
for who in ghost sshd; do
    bench_connects $who "127.0.0.1:${DPORT[$who]}" 1 seq "$SEQ_CONNECTS"
    bench_connects $who "127.0.0.1:${DPORT[$who]}" 50 par "$CONNECTS"
done
for who in ghost sshd; do logins $who; done
for who in ghost sshd; do idle $who; done

# ---------------------------------------------------------------- table
row() { bench_row "$1" "$2" ghost sshd; }
{
    echo
    echo "ghost server vs OpenSSH sshd, same ssh client ($CIPHER; $(nproc) cores; iperf3 ${SECS}s;" \
        "$SEQ_CONNECTS/$CONNECTS connects; $LOGINS logins; $IDLE_SESSIONS idle sessions)"
    printf '%-40s %12s %12s %8s\n' metric ghost sshd ratio
    row "-L upload (Gbit/s)" iperf_up
    row "-L download (Gbit/s)" iperf_down
    row "server CPU s/GB, upload" cpu_up
    row "server CPU s/GB, download" cpu_down
    bench_connect_rows ghost sshd
    row "SSH logins/s, sequential" logins
    row "server PSS MiB per 100 idle sessions" pss
} | tee "$T/table.txt"

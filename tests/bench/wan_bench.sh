#!/usr/bin/env bash
# SSH tunnels over an emulated long fat link: ghost client and server vs OpenSSH, side by
# side in one run (not a test: prints figures).
#
#   ns C (client)               ns R (router)                          ns S (server)
#   ssh -N -L :6201 -> :22      10.A.1.2 ─┐           ┌─ 10.A.2.1      sshd       :22
#   ssh -N -L :6202 -> :2222     iif from C: table 100 → wanA ┐        ghostd     :2222
#   ghostd -L :5211 -> :22                                    delay_line  iperf3 -s :5201
#   ghostd -L :5212 -> :2222     iif from S: table 101 → wanB ┘
#   iperf3 -c                   what delay_line writes re-enters R: main table
#         10.A.1.1 ──── veth ──── 10.A.1.2      10.A.2.1 ──── veth ──── 10.A.2.2
#
# The kernel has no netem, so R routes everything arriving from C into TUN wanA and
# everything from S into wanB; delay_line (tests/tools) holds each packet for RTT/2 behind
# a rate limit and a drop-tail queue (with optional random loss) and writes it into the
# other device. Veths and TUNs have MTU WAN_MTU (65000), so 1 Gbit/s is ~2,000 packets/s.
#
# For each link setting (RTT WAN_RTTS at WAN_RATE, then WAN_LOSS_RTT with WAN_LOSS % loss)
# the line is first validated (ICMP echo RTT, UDP iperf3 at 1.2 x the rate each way: what
# arrives, and delay_line's CPU), then for each sysctl mode (WAN_SYSCTL: default = the
# namespace's own, raised = tcp_rmem/tcp_wmem max 64 MiB in C and S) fresh tunnels are
# opened and iperf3 (to 127.0.0.1:5201 from S's side; direct: S's address) runs one and
# WAN_PARALLEL flows, up (-c) and down (-R), through each path:
#   direct        no tunnel
#   ssh-sshd      ssh -N -L          → sshd
#   ghost-sshd    ghostd client -L   → sshd
#   ssh-ghost     ssh -N -L          → ghostd server profile
#   ghost-ghost   ghostd client -L   → ghostd server profile
# Ratios: each ghost path ÷ ssh-sshd, and every path ÷ direct. All SSH uses
# aes128-gcm@openssh.com.
#
# Needs root (netns). Env: GHOSTD, GHOSTCTL (or GHOST_BUILD_DIR), DELAY_LINE (default: next
# to ghostd's build, tests/tools/delay_line), BENCH_SECONDS (10), WAN_RTTS ("20 100 200"),
# WAN_RATE (Mbit/s, 1000), WAN_LOSS_RTT (100), WAN_LOSS (percent, 0.5; 0 or empty: no loss
# setting), WAN_SYSCTL (default|raised|both), WAN_PATHS (subset of the five above),
# WAN_PARALLEL (flows of the parallel rows, 8; 0 skips them), WAN_MTU (65000),
# WAN_QUEUE_BYTES (delay_line's default: rate x RTT + 256 KiB), WAN_LINE_RT (SCHED_FIFO
# priority of delay_line, 10; 0 = normal scheduling), WAN_CC (congestion control in C and S;
# default the namespace's), WAN_OMIT (iperf3 -O seconds, 0), KEEP_TMP=1.
# Full matrix at 10 s: about 31 minutes (WAN_PARALLEL=0: about 16; one setting about 7.5).
: "${BENCH_SECONDS:=10}"
. "$(dirname "$0")/bench_lib.sh"

: "${DELAY_LINE:=$(cd "$(dirname "$GHOSTD")/.." && pwd)/tests/tools/delay_line}"
WAN_RTTS=${WAN_RTTS-20 100 200}
WAN_RATE=${WAN_RATE:-1000}
WAN_RATE=${WAN_RATE%mbit}
WAN_LOSS_RTT=${WAN_LOSS_RTT:-100}
WAN_LOSS=${WAN_LOSS-0.5}
WAN_SYSCTL=${WAN_SYSCTL:-both}
WAN_PATHS=${WAN_PATHS:-direct ssh-sshd ghost-sshd ssh-ghost ghost-ghost}
WAN_PARALLEL=${WAN_PARALLEL:-8}
WAN_MTU=${WAN_MTU:-65000}
WAN_LINE_RT=${WAN_LINE_RT:-10}
WAN_OMIT=${WAN_OMIT:-0}
RAISED=$((64 << 20))

[[ -x $DELAY_LINE ]] || fail "no delay_line at $DELAY_LINE (build target delay_line, or set DELAY_LINE)"
[[ $WAN_RATE =~ ^[0-9]+(\.[0-9]+)?$ ]] || fail "WAN_RATE must be Mbit/s, e.g. 1000 (got '$WAN_RATE')"
case $WAN_SYSCTL in
    default | raised) MODES=$WAN_SYSCTL ;;
    both) MODES="default raised" ;;
    *) fail "WAN_SYSCTL must be default, raised or both (got '$WAN_SYSCTL')" ;;
esac
for p in $WAN_PATHS; do
    [[ $p =~ ^(direct|ssh-sshd|ghost-sshd|ssh-ghost|ghost-ghost)$ ]] || fail "unknown path '$p' in WAN_PATHS"
done
want() { [[ " $WAN_PATHS " == *" $1 "* ]]; }
BENCH_T0=$SECONDS

# ---------------------------------------------------------------- topology
. "$(dirname "$0")/../integration/wan_lib.sh"
wan_topology "$WAN_MTU"

declare -A SYS0  # the namespaces' own values, restored for the default mode
for ns in C S; do
    for k in net.ipv4.tcp_rmem net.ipv4.tcp_wmem; do SYS0[$ns.$k]=$(ip netns exec "${!ns}" sysctl -n "$k"); done
    [[ -z ${WAN_CC:-} ]] || ip netns exec "${!ns}" sysctl -qw "net.ipv4.tcp_congestion_control=$WAN_CC"
done

# ---------------------------------------------------------------- the delay line
# start_line RTT_MS LOSS_PERCENT [RATE]: delay_line in R for this link setting.
start_line() {
    local extra=()
    [[ -z ${WAN_QUEUE_BYTES:-} ]] || extra+=(--queue-bytes "$WAN_QUEUE_BYTES")
    ((WAN_LINE_RT == 0)) || extra+=(--rt "$WAN_LINE_RT")
    wan_start_line "$1" "$2" "${3-$WAN_RATE}" "${extra[@]}"
}
stop_line() { wan_stop_line; }
icmp_rtt() { wan_icmp_rtt "$@"; }
line_cpu_ticks() { awk '{print $14 + $15}' "/proc/$LINE_PID/stat"; }

# ---------------------------------------------------------------- servers in S
ip netns exec "$S" iperf3 -s -p 5201 >>"$T/iperf3-server.log" 2>&1 &
IPERF_PID=$!
track_pid $IPERF_PID
wait_for 10 "iperf3 -s" in_s ss -Hltn 'sport = :5201'

start_line 0 0 0  # unshaped while the servers come up
bench_sshd "MaxStartups 100"

# ghostd_in (lib.sh) with quiet logs
for who in gs gc; do
    mkdir -p "$T/$who/etc"
    echo '{ "log_level": "warning" }' >"$T/$who/etc/ghostd.json"
done

GHOST_SERVER_FP=
if want ssh-ghost || want ghost-ghost; then
    mkdir -p "$T/gs/etc/profiles"
    cat >"$T/gs/etc/profiles/edge.json" <<EOF
{ "role": "server",
  "listen": [ { "address": "$SERVER:2222" } ],
  "authorized_keys": "$T/id.pub",
  "acl": { "deny_loopback": false } }
EOF
    ghostd_in "$S" gs
    gctl_in gs up edge >/dev/null || fail "ghost server profile did not come up: $(gctl_in gs status edge 2>&1)"
    gctl_in gs --json status edge | jq -r '.. | objects | select(has("known_hosts")) | .known_hosts[]' \
        >"$T/ghost_known_hosts"
    GHOST_SERVER_FP=$(ssh-keygen -l -E sha256 -f "$T/ghost_known_hosts" | awk 'NR == 1 {print $2}')
    [[ $GHOST_SERVER_FP == SHA256:* ]] || fail "no host key fingerprint for the ghost server"
fi
if want ghost-sshd || want ghost-ghost; then
    mkdir -p "$T/gc/etc/profiles"
    for p in g-sshd:22:5211:$FP g-ghost:2222:5212:$GHOST_SERVER_FP; do
        IFS=: read -r name port lport fp <<<"$p"
        cat >"$T/gc/etc/profiles/$name.json" <<EOF
{ "server": "$SERVER:$port",
  "ssh": { "user": "$(id -un)", "identity_file": "$T/id", "host_key": "$fp",
           "ciphers": ["$CIPHER"] },
  "forward": [ { "listen": "127.0.0.1:$lport", "target": "127.0.0.1:5201" } ] }
EOF
    done
    ghostd_in "$C" gc
fi
stop_line

# ---------------------------------------------------------------- tunnels
declare -A LPORT=([ssh-sshd]=6201 [ssh-ghost]=6202 [ghost-sshd]=5211 [ghost-ghost]=5212)
declare -A SSH_PID
# tunnels_up / tunnels_down: fresh SSH connections for each link setting and sysctl mode.
tunnels_up() {
    local p
    for p in ssh-sshd:22 ssh-ghost:2222; do
        want "${p%:*}" || continue
        ip netns exec "$C" ssh -F /dev/null -N -c "$CIPHER" -i "$T/id" -o IdentitiesOnly=yes -o BatchMode=yes \
            -o StrictHostKeyChecking=no -o UserKnownHostsFile=/dev/null -o ExitOnForwardFailure=yes \
            -p "${p#*:}" -L "127.0.0.1:${LPORT[${p%:*}]}:127.0.0.1:5201" "$(id -un)@$SERVER" \
            >>"$T/ssh-${p%:*}.log" 2>&1 &
        SSH_PID[${p%:*}]=$!
        track_pid $!
    done
    for p in ghost-sshd:g-sshd ghost-ghost:g-ghost; do
        want "${p%:*}" || continue
        gctl_in gc up "${p#*:}" >/dev/null || fail "ghost profile ${p#*:} did not come up: $(gctl_in gc status "${p#*:}" 2>&1)"
    done
    for p in ssh-sshd ssh-ghost ghost-sshd ghost-ghost; do
        want $p || continue
        wait_for 30 "forward $p on :${LPORT[$p]}" in_c bash -c "ss -Hltn 'sport = :${LPORT[$p]}' | grep -q ."
    done
}
tunnels_down() {
    local p
    for p in "${!SSH_PID[@]}"; do
        kill "${SSH_PID[$p]}" 2>/dev/null
        wait "${SSH_PID[$p]}" 2>/dev/null || true
    done
    SSH_PID=()
    for p in g-sshd g-ghost; do
        want "ghost-${p#g-}" || continue
        gctl_in gc down "$p" >/dev/null || true
    done
}

# ---------------------------------------------------------------- measurements
# iperf KEY PATH FLOWS [-R]: Mbit/s received into R[KEY.PATH]; a failed run is retried
# once (with a fresh iperf3 server), then recorded as "fail".
iperf() {
    local key=$1 path=$2 flows=$3 json host=127.0.0.1 port mbit attempt
    shift 3
    port=${LPORT[$path]:-5201}
    [[ $path == direct ]] && host=$SERVER
    local opts=(-c "$host" -p "$port" -t "$SECS" -J -P "$flows")
    ((WAN_OMIT == 0)) || opts+=(-O "$WAN_OMIT")
    for attempt in 1 2; do
        json=$(in_c timeout -k 5 $((SECS + WAN_OMIT + 40)) iperf3 "${opts[@]}" "$@" \
            2>>"$T/iperf3-client.log") || true
        mbit=$(jq -r '.end.sum_received.bits_per_second // empty | . / 1e6 | . * 10 | round / 10' \
            <<<"$json" 2>/dev/null) || mbit=
        [[ -z $mbit ]] || break
        log "iperf3 $key $path failed (attempt $attempt): $(jq -r '.error // "no result"' <<<"$json" 2>/dev/null ||
            echo "no JSON; timed out?")"
        printf '%s\n' "$json" >>"$T/iperf3-failed.json"
        restart_iperf_server
    done
    R[$key.$path]=${mbit:-fail}
    log "  $key $path: ${R[$key.$path]} Mbit/s"
}
restart_iperf_server() {
    kill_tree "$IPERF_PID" KILL
    wait "$IPERF_PID" 2>/dev/null || true
    ip netns exec "$S" iperf3 -s -p 5201 >>"$T/iperf3-server.log" 2>&1 &
    IPERF_PID=$!
    track_pid $IPERF_PID
    wait_for 10 "iperf3 -s" in_s ss -Hltn 'sport = :5201'
}

# validate RTT: ICMP echo RTT, and UDP at 1.2 x the rate each way (what arrives; delay_line's CPU).
validate() {
    local rtt=$1 dir json t0 t1 c0 c1 rate_udp cpu got lost
    log "  ICMP echo RTT min/avg/max/mdev: $(icmp_rtt 20 0.2) (configured ${rtt} ms)"
    rate_udp=$(awk -v r="$WAN_RATE" 'BEGIN { printf "%dM", r * 1.2 }')
    for dir in up down; do
        local flag=()
        [[ $dir == down ]] && flag=(-R)
        c0=$(line_cpu_ticks) t0=$(date +%s.%N)
        json=$(in_c timeout -k 5 40 iperf3 -c "$SERVER" -p 5201 -u -b "$rate_udp" -l $((WAN_MTU - 1000)) \
            -w 4M -t 4 -J "${flag[@]}" 2>>"$T/iperf3-client.log") || {
            log "  UDP $dir failed: $(jq -r .error <<<"$json" 2>/dev/null)"
            continue
        }
        c1=$(line_cpu_ticks) t1=$(date +%s.%N)
        cpu=$(awk -v t=$((c1 - c0)) -v hz="$(getconf CLK_TCK)" -v a="$t0" -v b="$t1" \
            'BEGIN { printf "%.0f", 100 * t / hz / (b - a) }')
        got=$(jq -r '.end.sum_received.bits_per_second / 1e6 | . * 10 | round / 10' <<<"$json") || got='?'
        lost=$(jq -r '.end.sum_received.lost_percent // .end.sum.lost_percent | . * 10 | round / 10' \
            <<<"$json") || lost='?'
        log "  UDP $dir sent at $rate_udp: $got Mbit/s arrived, $lost % lost; delay_line CPU $cpu % of a core"
    done
}

# apply_sysctl MODE: the namespaces' own buffer limits, or 64 MiB maxima, in C and S.
apply_sysctl() {
    local ns k v
    for ns in C S; do
        for k in net.ipv4.tcp_rmem net.ipv4.tcp_wmem; do
            v=${SYS0[$ns.$k]}
            [[ $1 == raised ]] && v="$(awk '{print $1, $2}' <<<"$v") $RAISED"
            ip netns exec "${!ns}" sysctl -qw "$k=$v"
        done
    done
    SYSCTL_LINE=$(in_c sysctl -n net.ipv4.tcp_rmem | tr '\t' ' ')
    SYSCTL_LINE="tcp_rmem $SYSCTL_LINE, tcp_wmem $(in_c sysctl -n net.ipv4.tcp_wmem | tr '\t' ' ')"
    SYSCTL_LINE+=", core r/wmem_max $(in_c sysctl -n net.core.rmem_max)/$(in_c sysctl -n net.core.wmem_max)"
    SYSCTL_LINE+=" (global), cc $(in_c sysctl -n net.ipv4.tcp_congestion_control)"
    [[ $(in_s sysctl -n net.ipv4.tcp_wmem) == "$(in_c sysctl -n net.ipv4.tcp_wmem)" ]] ||
        fail "sysctls differ between C and S"
}

# measure: every selected path for each figure in turn, so that the paths compared are
# measured minutes apart at most.
measure() {
    local keys=("up1 1" "down1 1 -R") kf p
    ((WAN_PARALLEL == 0)) || keys+=("upP $WAN_PARALLEL" "downP $WAN_PARALLEL -R")
    for kf in "${keys[@]}"; do
        for p in direct ssh-sshd ghost-sshd ssh-ghost ghost-ghost; do
            want $p || continue
            # shellcheck disable=SC2086 # "KEY FLOWS [-R]"
            iperf ${kf%% *} $p ${kf#* }
        done
    done
}

# ratio A B: A / B, or n/a unless both are figures
ratio() {
    if [[ $1 =~ ^[0-9.]+$ && $2 =~ ^[0-9.]+$ ]]; then bench_ratio "$1" "$2"; else echo n/a; fi
}

# table TITLE_LINE...: one table of the figures in R.
table() {
    local keys=(up1 down1) k p
    ((WAN_PARALLEL == 0)) || keys+=(upP downP)
    declare -A label=([up1]="up, 1 flow" [down1]="down, 1 flow" [upP]="up, $WAN_PARALLEL flows"
        [downP]="down, $WAN_PARALLEL flows")
    echo
    printf '%s\n' "$@"
    # widths in bytes: "÷" takes two
    printf '%-22s %8s %8s %10s %6s %9s %6s %11s %6s\n' Mbit/s direct ssh-sshd ghost-sshd '÷ssh' \
        ssh-ghost '÷ssh' ghost-ghost '÷ssh'
    for k in "${keys[@]}"; do
        local b=${R[$k.ssh-sshd]:-n/a}
        printf '%-22s %8s %8s %10s %5s %9s %5s %11s %5s\n' "${label[$k]}" "${R[$k.direct]:-n/a}" "$b" \
            "${R[$k.ghost-sshd]:-n/a}" "$(ratio "${R[$k.ghost-sshd]:-}" "$b")" \
            "${R[$k.ssh-ghost]:-n/a}" "$(ratio "${R[$k.ssh-ghost]:-}" "$b")" \
            "${R[$k.ghost-ghost]:-n/a}" "$(ratio "${R[$k.ghost-ghost]:-}" "$b")"
    done
    for k in "${keys[@]}"; do
        local d=${R[$k.direct]:-}
        printf '%-23s %8s %8s %10s %5s %9s %5s %11s\n' "÷direct ${label[$k]}" "$(ratio "$d" "$d")" \
            "$(ratio "${R[$k.ssh-sshd]:-}" "$d")" "$(ratio "${R[$k.ghost-sshd]:-}" "$d")" '' \
            "$(ratio "${R[$k.ssh-ghost]:-}" "$d")" '' "$(ratio "${R[$k.ghost-ghost]:-}" "$d")"
    done
}

# run_setting RTT LOSS_PERCENT
run_setting() {
    local rtt=$1 loss=$2 mode
    log "link: RTT $rtt ms, $WAN_RATE Mbit/s, loss $loss %"
    start_line "$rtt" "$loss"
    validate "$rtt"
    for mode in $MODES; do
        apply_sysctl "$mode"
        log " sysctl $mode: $SYSCTL_LINE"
        R=()
        tunnels_up
        measure
        tunnels_down
        table "RTT $rtt ms, $WAN_RATE Mbit/s, loss $loss %, $(grep -o 'queue [0-9]* bytes' "$LINE_LOG"), iperf3 ${SECS}s;" \
            "sysctl $mode: $SYSCTL_LINE" | tee -a "$T/table.txt"
    done
    stop_line
}

for rtt in $WAN_RTTS; do run_setting "$rtt" 0; done
if [[ -n $WAN_LOSS ]] && awk -v l="$WAN_LOSS" 'BEGIN { exit !(l > 0) }'; then
    run_setting "$WAN_LOSS_RTT" "$WAN_LOSS"
fi
log "done in $(((SECONDS - BENCH_T0) / 60)) min $(((SECONDS - BENCH_T0) % 60)) s"

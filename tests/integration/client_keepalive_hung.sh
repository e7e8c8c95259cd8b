#!/usr/bin/env bash
# A hung server — SIGSTOPped, so its kernel still ACKs every segment — is noticed by
# keepalive probes that need an answer (keepalive@openssh.com, want-reply), and the profile
# reconnects once the server answers again.
#
#   ghostd (client)  "stock"    ==ssh==> sshd 127.0.0.1:$SSHD_PORT            -R :$R1 -> echo
#                    "viaghost" ==ssh==> ghostd #2, server profile "hub" :$HUB -R :$R2 -> echo
#                    "busy"     ==ssh==> sshd   -L :$L_PERF -> iperf3 -s :$PERF
#   echo: socat 127.0.0.1:$ECHO
#
# Keepalive 1 s x 3 for "stock" and "viaghost" (dead after 3 s of silence), 1 s x 2 for "busy".
#  1. Idle for several keepalive rounds: both stay up (OpenSSH answers REQUEST_FAILURE,
#     ghost answers REQUEST_SUCCESS; both mean alive) and both -R forwards work.
#  2. iperf3 both ways through "busy": never a false reconnect.
#  3. SIGSTOP every process of the sshd instance: "stock" leaves up within 3 s + slack with
#     a keepalive-timeout reason, "viaghost" stays up; SIGCONT: up again, and -R really
#     listens in sshd (a keepalive answer taken for the tcpip-forward reply would report
#     "listening" without anything bound).
#  4. The same for the ghost server instance.
. "$(dirname "$0")/lib.sh"

INTERVAL=1 COUNT=3
SLACK=2  # timer and polling granularity, a loaded machine
HUB=$(free_port) ECHO=$(free_port) R1=$(free_port) R2=$(free_port)
PERF=$(free_port) L_PERF=$(free_port)

socat TCP-LISTEN:"$ECHO",bind=127.0.0.1,fork,reuseaddr EXEC:cat 2>>"$T/socat.log" &
track_pid $!
iperf3 -s -B 127.0.0.1 -p "$PERF" >"$T/iperf3-server.log" 2>&1 &
track_pid $!
wait_for 10 "echo" port_listening "$ECHO"
wait_for 10 "iperf3 server" port_listening "$PERF"

ssh-keygen -q -t ed25519 -N '' -C ghost-client -f "$T/id"
start_sshd
authorize_key "$T/id.pub"

# ---------------------------------------------------------------- ghost server (2nd ghostd)
S=$T/srv
mkdir -p "$S/etc/profiles" "$S/run" "$S/state"
echo '{ "log_level": "debug" }' >"$S/etc/ghostd.json"
cp "$T/id.pub" "$T/authorized_keys"
printf '%s\n' "{ \"role\": \"server\", \"listen\": [ { \"address\": \"127.0.0.1:$HUB\" } ],
  \"authorized_keys\": \"$T/authorized_keys\" }" >"$S/etc/profiles/hub.json"
"$GHOSTD" --foreground --config-dir "$S/etc" --runtime-dir "$S/run" --state-dir "$S/state" \
    >>"$T/ghostd-server.log" 2>&1 &
S_PID=$!
track_pid "$S_PID"
sctl() { "$GHOSTCTL" --socket "$S/run/ghostd.sock" "$@"; }
wait_for 10 "server ghostd control socket" test -S "$S/run/ghostd.sock"
sctl up hub >/dev/null || fail "up hub: $(sctl status hub 2>&1)"
HUB_FP=$(sctl --json status hub | jq -r '[.. | objects | select(has("fingerprint"))][0].fingerprint')

# ---------------------------------------------------------------- client profiles
start_ghostd
client() {  # client NAME SERVER_PORT USER HOST_KEY INTERVAL COUNT EXTRA_JSON
    write_profile "$1" "{ \"server\": \"127.0.0.1:$2\",
      \"ssh\": { \"user\": \"$3\", \"identity_file\": \"$T/id\", \"host_key\": \"$4\",
                 \"connect_timeout\": 3 },
      \"keepalive\": { \"interval\": $5, \"count\": $6 },
      \"reconnect\": { \"initial_delay\": 1, \"max_delay\": 2 } $7 }"
}
client stock "$SSHD_PORT" "$(id -un)" "$SSHD_FP" $INTERVAL $COUNT \
    ", \"remote_forward\": [ { \"listen\": \"127.0.0.1:$R1\", \"target\": \"127.0.0.1:$ECHO\" } ]"
client viaghost "$HUB" ghost "$HUB_FP" $INTERVAL $COUNT \
    ", \"remote_forward\": [ { \"listen\": \"127.0.0.1:$R2\", \"target\": \"127.0.0.1:$ECHO\" } ]"
client busy "$SSHD_PORT" "$(id -un)" "$SSHD_FP" 1 2 \
    ", \"forward\": [ { \"listen\": \"127.0.0.1:$L_PERF\", \"target\": \"127.0.0.1:$PERF\" } ]"
gctl reload >/dev/null
for p in stock viaghost busy; do gctl up "$p" >/dev/null || fail "up $p: $(gctl status "$p" 2>&1)"; done

field() { gctl --json status "$1" | jq -r "$2"; }
state_is() { [[ $(field "$1" .state) == "$2" ]]; }
forward_listening() { [[ $(field "$1" '.remote_forwards[0].state') == listening ]]; }
answered_at_least() { (($(field "$1" .keepalive.answered) >= $2)); }
# echo_through PORT WORD: WORD comes back through the remote forward on PORT.
echo_through() { [[ $(echo "$2" | timeout 10 socat -t 3 - TCP:127.0.0.1:"$1") == "$2" ]]; }
# listener_of PORT: the process listening on PORT, as ss prints it.
listener_of() { ss -Hltnp "sport = :$1" | grep -o 'users:.*'; }

# ---------------------------------------------------------------- 1. idle rounds
since_stock=$(field stock .since) since_ghost=$(field viaghost .since)
wait_for 20 "stock: 4 keepalives answered (REQUEST_FAILURE from OpenSSH)" answered_at_least stock 4
wait_for 20 "viaghost: 4 keepalives answered (REQUEST_SUCCESS from ghost)" answered_at_least viaghost 4
for p in stock viaghost; do
    state_is "$p" up || fail "$p left up while idle: $(gctl --json status "$p")"
done
[[ $(field stock .since) == "$since_stock" && $(field viaghost .since) == "$since_ghost" ]] ||
    fail "an idle profile went through a state change: $(gctl --json list)"
wait_for 10 "stock -R" forward_listening stock
wait_for 10 "viaghost -R" forward_listening viaghost
echo_through "$R1" idle-stock || fail "-R through sshd does not reach the echo"
echo_through "$R2" idle-ghost || fail "-R through the ghost server does not reach the echo"
pass "idle for $(field stock .keepalive.answered) keepalive rounds: answered by sshd (failure) and ghost (success), still up, -R works"

# ---------------------------------------------------------------- 2. busy session
wait_for 10 "busy up" state_is busy up
since_busy=$(field busy .since) probes_before=$(field busy .keepalive.sent)
iperf3 -c 127.0.0.1 -p "$L_PERF" -t 6 -J >"$T/iperf-up.json" 2>>"$T/iperf3-client.log" ||
    fail "iperf3 upload through busy failed: $(tail -5 "$T/iperf3-client.log")"
iperf3 -c 127.0.0.1 -p "$L_PERF" -t 6 -R -J >"$T/iperf-down.json" 2>>"$T/iperf3-client.log" ||
    fail "iperf3 download through busy failed: $(tail -5 "$T/iperf3-client.log")"
up_mbit=$(jq '.end.sum_received.bits_per_second / 1e6 | floor' "$T/iperf-up.json")
down_mbit=$(jq '.end.sum_received.bits_per_second / 1e6 | floor' "$T/iperf-down.json")
state_is busy up || fail "busy left up during the transfers: $(gctl --json status busy)"
[[ $(field busy .since) == "$since_busy" ]] || fail "busy reconnected during the transfers: $(gctl --json status busy)"
grep -q "keepalive timeout" "$T/ghostd.log" && fail "a keepalive timeout was logged during the transfers"
pass "12 s of iperf3 through busy (1 s x 2 keepalive; up $up_mbit, down $down_mbit Mbit/s): no false timeout ($(($(field busy .keepalive.sent) - probes_before)) probes sent meanwhile)"
gctl down busy >/dev/null

# ---------------------------------------------------------------- 3. hung sshd
# tree_pids PID: PID and all its descendants, parents first.
tree_pids() {
    echo "$1"
    local child
    for child in $(pgrep -P "$1" || true); do tree_pids "$child"; done
}
# seconds_until_down NAME LIMIT: polls until NAME leaves up; prints the seconds it took.
seconds_until_down() {
    local start=$EPOCHREALTIME
    _elapsed() { awk -v a="$EPOCHREALTIME" -v b="$start" 'BEGIN { printf "%.2f", a - b }'; }
    while state_is "$1" up; do
        awk -v t="$(_elapsed)" -v lim="$2" 'BEGIN { exit !(t > lim) }' &&
            fail "$1 still up $2 s after its server stopped: $(gctl --json status "$1")"
        sleep 0.05
    done
    _elapsed
}
# expect_keepalive_reason NAME
expect_keepalive_reason() {
    local why
    why=$(field "$1" .last_error)
    [[ $why == "keepalive timeout: nothing received from server 127.0.0.1:"*" for 3 s (keepalive.interval 1 s x keepalive.count 3"* ]] ||
        fail "$1: reason does not name the keepalive timeout: '$why'"
}

# hang_and_resume NAME OTHER WHO R_PORT OWNER PID...: SIGSTOPs the PIDs (WHO, the server of
# profile NAME); NAME must leave up in time with a keepalive-timeout reason while OTHER stays
# up. Then SIGCONT: NAME comes up again and its -R on R_PORT listens in a process matching
# OWNER (as ss prints it) and reaches the echo.
hang_and_resume() {
    local name=$1 other=$2 who=$3 port=$4 owner=$5 took
    shift 5
    on_cleanup "kill -CONT $* 2>/dev/null"
    kill -STOP "$@"
    took=$(seconds_until_down "$name" $((INTERVAL * COUNT + SLACK)))
    expect_keepalive_reason "$name"
    state_is "$other" up || fail "$other affected by the stopped $who: $(gctl --json status "$other")"
    pass "SIGSTOPped $who ($# process(es)) detected by $name in $took s (limit ${INTERVAL}x${COUNT} s + ${SLACK} s slack): $(field "$name" .last_error)"
    kill -CONT "$@"
    wait_for 30 "$name up again" state_is "$name" up
    wait_for 10 "$name -R re-requested" forward_listening "$name"
    listener_of "$port" | has "$owner" || fail "$who does not listen on the -R port $port: $(listener_of "$port")"
    echo_through "$port" "after-$name-stop" || fail "-R through $who after the reconnect does not reach the echo"
    pass "SIGCONT: $name up again, -R listens in $who and reaches the echo"
}

mapfile -t SSHD_PIDS < <(tree_pids "$SSHD_PID")
((${#SSHD_PIDS[@]} >= 2)) || fail "expected sshd and its session processes, found: ${SSHD_PIDS[*]}"
hang_and_resume stock viaghost sshd "$R1" '"sshd"' "${SSHD_PIDS[@]}"

# ---------------------------------------------------------------- 4. hung ghost server
hang_and_resume viaghost stock "the ghost server" "$R2" "pid=$S_PID," "$S_PID"
kill -0 "$GHOSTD_PID" || fail "client ghostd died"

#!/usr/bin/env bash
# UDP and ICMP echo through a TUN profile: carried on the datagram channel to a ghost
# server, refused (ICMP port unreachable) through a stock sshd.
#
#   ns C (client)                   ns S (server)                       ns T (target)
#   ghostd client, TUN ghost0       ghostd server $SRV:2222              dnsmasq $TGT:53 (UDP)
#   dig / ping / udp_probe          sshd $SRV:22                         udp echo :7000, :7001
#   vC 10.N.1.1/24 ═══ veth ═══ vS 10.N.1.2/24                           iperf3 -s :5201
#                                   wS 10.N.2.1/24, fd21::1/64 ═══ wT $TGT/24 ($TGT2), fd21::2/64
#
# C reaches S directly; T only through the tunnel (C has no route to 10.N.2.0/24 nor
# fd21::/64 but ghost0's). Checks: dig to a plain-UDP resolver; ping and ping -6 with 0 %
# loss; 10,000 datagrams of sizes 1..1472 echoed byte-exact, and large ones up to the TUN
# MTU; one stable mapped address and port towards two destinations; status shows the
# channel and the flows; iperf3 -u; 100,000 distinct flows leave the tables bounded and
# the daemons responsive; a destination the server's ACL denies is answered at once; in
# a full tunnel a capture on C's link shows only the SSH session while dig, ping and UDP
# run; and through a stock sshd UDP is refused promptly while TCP works and status says why.
. "$(dirname "$0")/lib.sh"

[[ -c /dev/net/tun ]] || fail "/dev/net/tun missing"
N=$((RANDOM % 200 + 20))
SRV=10.$N.1.2 TGT=10.$N.2.2 TGT2=10.$N.2.3 DENIED=10.$N.2.9
PROBE=$GHOST_SOURCE_DIR/tests/integration/tools/udp_probe.py

C=$(netns_create c) S=$(netns_create s) TN=$(netns_create t)
netns_veth "$C" "$S" "10.$N.1.1/24" "$SRV/24"
netns_veth "$S" "$TN" "10.$N.2.1/24" "$TGT/24"
ip -n "$TN" addr add "$TGT2/24" dev "$(ip -n "$TN" -o link show type veth | awk -F'[ @:]+' '{print $2}')"
ip -n "$S" -6 addr add fd21::1/64 dev "$(ip -n "$S" -o addr show to "10.$N.2.1" | awk '{print $2}')" nodad
ip -n "$TN" -6 addr add fd21::2/64 dev "$(ip -n "$TN" -o addr show to "$TGT" | awk '{print $2}')" nodad
ip -n "$TN" route add default via 10.$N.2.1
ip -n "$TN" -6 route add default via fd21::1
in_c() { ip netns exec "$C" "$@"; }
in_t() { ip netns exec "$TN" "$@"; }

# ---------------------------------------------------------------- the target
in_t dnsmasq --no-daemon --no-resolv --no-hosts --bind-interfaces --listen-address="$TGT" \
    --port 53 --address=/www.ghost.test/"$TGT" --log-facility=- --pid-file= >"$T/dnsmasq.log" 2>&1 &
track_pid $!
# Bound to one address each: a reply must come from the address it was sent to.
in_t python3 "$PROBE" echo-server "$TGT" 7000 &
track_pid $!
in_t python3 "$PROBE" echo-server "$TGT2" 7001 &
track_pid $!
in_t python3 "$PROBE" echo-server :: 7006 &
track_pid $!
in_t iperf3 -s -p 5201 >"$T/iperf3-server.log" 2>&1 &
track_pid $!
_udp_bound() { in_t ss -Hlun "sport = :$1" | has .; }
wait_for 10 "dnsmasq" _udp_bound 53
wait_for 10 "udp echo" _udp_bound 7001

# ---------------------------------------------------------------- server: ghostd and sshd
ssh-keygen -q -t ed25519 -N '' -C udp -f "$T/id"
mkdir -p "$T/gs/etc/profiles" "$T/gc/etc/profiles"
cat >"$T/gs/etc/profiles/edge.json" <<EOF
{ "role": "server",
  "listen": [ { "address": "$SRV:2222" } ],
  "authorized_keys": "$T/id.pub",
  "acl": { "deny": [ "$DENIED/32" ] } }
EOF
ghostd_in "$S" gs
gctl_in gs up edge >/dev/null || fail "server profile did not come up: $(gctl_in gs status edge 2>&1)"
HOST_FP=$(gctl_in gs --json status edge | jq -r '.. | objects | select(has("known_hosts")) | .known_hosts[]' |
    ssh-keygen -l -E sha256 -f - | awk 'NR == 1 {print $2}')
[[ $HOST_FP == SHA256:* ]] || fail "no host key fingerprint for the server"

SSHD_NS=$S SSHD_ADDR=$SRV SSHD_PORT=22 start_sshd
authorize_key "$T/id.pub"

# client_profile NAME PORT HOST_KEY: split tunnel of T's networks through SRV:PORT.
client_profile() {
    cat >"$T/gc/etc/profiles/$1.json" <<EOF
{ "server": "$SRV:$2",
  "ssh": { "user": "$(id -un)", "identity_file": "$T/id", "host_key": "$3" },
  "reconnect": { "initial_delay": 1, "max_delay": 2 },
  "tun": { "routes": [ "10.$N.2.0/24", "fd21::/64" ] } }
EOF
}
client_profile udp 2222 "$HOST_FP"
client_profile stock 22 "$SSHD_FP"
ghostd_in "$C" gc
gctl_in gc up udp >/dev/null || fail "client profile did not come up: $(gctl_in gc status udp 2>&1)"
status() { gctl_in gc --json status "$1" | jq -c "${2:-.}"; }
_channel_up() { [[ $(status udp '.. | objects | select(has("datagrams")) | .datagrams.channel' | head -1) == '"up"' ]]; }
wait_for 10 "datagram channel up" _channel_up

# ---------------------------------------------------------------- through the ghost server
log "# dig to a plain-UDP resolver behind the tunnel"
answer=$(in_c dig +short +time=2 +tries=1 @"$TGT" www.ghost.test A) || fail "dig failed: $answer"
[[ $answer == "$TGT" ]] || fail "dig answered '$answer', want $TGT"
pass "dig @$TGT through the tunnel: $answer"

log "# ping and ping -6 through the tunnel"
out=$(in_c ping -c 10 -i 0.2 -W 2 "$TGT" 2>&1) || fail "ping failed: $out"
has -q ' 0% packet loss' <<<"$out" || fail "ping lost packets: $out"
pass "ping: $(tail -1 <<<"$out")"
out=$(in_c ping -6 -c 10 -i 0.2 -W 2 fd21::2 2>&1) || fail "ping -6 failed: $out"
has -q ' 0% packet loss' <<<"$out" || fail "ping -6 lost packets: $out"
pass "ping -6: $(tail -1 <<<"$out")"

log "# 10,000 datagrams of sizes 1..1472 echoed byte-exact, then large ones"
out=$(in_c python3 "$PROBE" exact "$TGT" 7000 10000 1472) || fail "byte-exact echo: $out"
pass "byte-exact echo: $out"
mtu=$(ip -n "$C" -j link show ghost0 | jq '.[0].mtu')
big=$((mtu > 65535 ? 65507 : mtu - 28))
out=$(in_c python3 "$PROBE" exact "$TGT" 7000 40 "$big") || fail "large datagrams: $out"
pass "datagrams up to $big bytes: $out"
out=$(in_c python3 "$PROBE" exact fd21::2 7006 1000 1452) || fail "byte-exact echo over IPv6: $out"
pass "byte-exact echo over IPv6: $out"

log "# one mapped address and port towards two destinations (endpoint-independent)"
out=$(in_c python3 "$PROBE" mapping "$TGT:7000" "$TGT2:7001") || fail "mapping: $out"
pass "mapping: $out"

log "# a closed port and a denied destination are answered at once"
out=$(in_c python3 "$PROBE" refused "$TGT" 7999) || fail "closed port: $out"
pass "closed port behind the tunnel: $out"
# Administratively prohibited (ICMP type 3 code 13): the kernel reports EHOSTUNREACH.
out=$(in_c python3 "$PROBE" refused "$DENIED" 7000 EHOSTUNREACH) || fail "ACL-denied destination: $out"
pass "ACL-denied destination: $out"

log "# status shows the channel, the flows and the server's sessions show UDP"
dg=$(status udp '.. | objects | select(has("datagrams")) | .datagrams' | head -1)
[[ $(jq -r '.udp_out' <<<"$dg") -gt 10000 ]] || fail "client status: $dg"
srv=$(gctl_in gs --json sessions edge | jq -c '.[0].udp')
[[ $(jq -r '.flows_created // .counters.flows_created // 0' <<<"$srv") -gt 0 ]] || fail "server sessions: $srv"
pass "status: client $(jq -c "{udp_out, udp_in, echo_requests, echo_replies}" <<<"$dg")"

log "# iperf3 -u at 200 Mbit/s"
out=$(in_c iperf3 -u -b 200M -l 1400 -w 4M -t 5 -c "$TGT" -J) || fail "iperf3 -u: $out"
loss=$(jq -r '.end.sum.lost_percent' <<<"$out")
jitter=$(jq -r '.end.sum.jitter_ms' <<<"$out")
log "iperf3 -u 200M: loss $loss %, jitter $jitter ms"
log "  client drops: $(status udp '.. | objects | select(has("datagrams")) | .datagrams.dropped' | head -1)" \
    "channel: $(status udp '.datagram_channel.counters.dropped')" \
    "ghost0: $(ip -n "$C" -s -j link show ghost0 | jq -c '.[0].stats64.tx | {packets, dropped}')"
log "  server drops: $(gctl_in gs --json sessions edge | jq -c '.[0].udp.drops | with_entries(select(.value > 0))')" \
    "target UDP: $(in_t nstat -az UdpRcvbufErrors UdpInErrors | awk 'NR > 1 {printf "%s=%s ", $1, $2}')"
awk -v l="$loss" 'BEGIN { exit !(l < 1.0) }' || fail "iperf3 -u lost $loss % (want < 1 %)"
pass "iperf3 -u 200M: loss $loss %"

log "# 100,000 distinct flows: tables bounded, daemons responsive"
out=$(in_c python3 "$PROBE" flows "$TGT" 7000 100000) || fail "after 100,000 flows: $out"
pass "100,000 flows: $out"
flows=$(status udp '.. | objects | select(has("datagrams")) | .datagrams.flows' | head -1)
[[ $flows -le 4096 ]] || fail "client flow table holds $flows"
sflows=$(gctl_in gs --json sessions edge | jq -r '.[0].udp.flows')
[[ $sflows -le 256 ]] || fail "server flow table holds $sflows"
gctl_in gs status edge >/dev/null || fail "server ghostd stopped answering"
pass "flow tables: client $flows, server $sflows"

gctl_in gc down udp >/dev/null

# ---------------------------------------------------------------- full tunnel
log "# full tunnel: the capture on C's link shows only the SSH session while UDP and ICMP run"
cat >"$T/gc/etc/profiles/full.json" <<EOF
{ "server": "$SRV:2222",
  "ssh": { "user": "$(id -un)", "identity_file": "$T/id", "host_key": "$HOST_FP" },
  "tun": { "full": true } }
EOF
gctl_in gc reload >/dev/null
gctl_in gc up full >/dev/null || fail "full tunnel did not come up: $(gctl_in gc status full 2>&1)"
_full_channel_up() { [[ $(status full '.datagram_channel.state') == '"up"' ]]; }
wait_for 10 "datagram channel of the full tunnel" _full_channel_up
VC=$(ip -n "$C" -o addr show to "10.$N.1.1" | awk '{print $2}')
ip netns exec "$C" tcpdump -i "$VC" -nn -U --immediate-mode -w "$T/full.pcap" >"$T/full.tcpdump.log" 2>&1 &
CAP_PID=$!
track_pid $CAP_PID
_cap_ready() { grep -q "listening on" "$T/full.tcpdump.log"; }
wait_for 10 "tcpdump on $VC" _cap_ready
answer=$(in_c dig +short +time=2 +tries=1 @"$TGT" www.ghost.test A) || fail "full tunnel: dig failed"
[[ $answer == "$TGT" ]] || fail "full tunnel: dig answered '$answer'"
out=$(in_c ping -c 5 -i 0.2 -W 2 "$TGT" 2>&1) || fail "full tunnel: ping failed: $out"
out=$(in_c python3 "$PROBE" exact "$TGT" 7000 500 1472) || fail "full tunnel: UDP echo: $out"
sleep 0.5
kill -TERM "$CAP_PID"
wait "$CAP_PID" 2>/dev/null || true
tcpdump -nn -r "$T/full.pcap" 2>/dev/null >"$T/full.txt"
others=$(grep -v "$SRV\.2222 \|> $SRV\.2222:" "$T/full.txt" | grep -v "ARP\|ICMP6, neighbor\|ICMP6, router\|ICMP6, multicast" || true)
[[ -z $others ]] || fail "traffic outside the SSH session in full tunnel: $(head -5 <<<"$others")"
grep -q "> $SRV\.2222" "$T/full.txt" || fail "no SSH traffic during the full-tunnel checks"
pass "full tunnel: dig, ping and 500 UDP echoes; $VC carried only the SSH session ($(wc -l <"$T/full.txt") packets)"
gctl_in gc down full >/dev/null

# ---------------------------------------------------------------- through a stock sshd
log "# stock sshd: UDP refused promptly, TCP works, status says why"
gctl_in gc up stock >/dev/null || fail "stock profile did not come up: $(gctl_in gc status stock 2>&1)"
_refusal_known() { status stock '.. | objects | select(has("datagrams")) | .datagrams.why' | has -q 'ghost server'; }
wait_for 10 "status to say why UDP is refused" _refusal_known
out=$(in_c python3 "$PROBE" refused "$TGT" 7000) || fail "UDP through stock sshd: $out"
pass "UDP through a stock sshd is refused: $out"
in_t socat TCP-LISTEN:8080,bind="$TGT",reuseaddr,fork SYSTEM:'echo tcp-ok' 2>>"$T/socat.log" &
track_pid $!
_tcp_listening() { in_t ss -Hltn "sport = :$1" | has .; }
wait_for 10 "tcp server" _tcp_listening 8080
got=$(in_c timeout 5 socat -u "TCP:$TGT:8080" - 2>&1) || fail "TCP through stock sshd failed: $got"
[[ $got == tcp-ok ]] || fail "TCP through stock sshd read '$got'"
pass "TCP through a stock sshd still works; $(status stock '.. | objects | select(has("datagrams")) | .datagrams.why' | head -1)"
gctl_in gc down stock >/dev/null
log "all UDP checks passed"

#!/usr/bin/env bash
# TUN mode of a client profile through a stock OpenSSH sshd: flows entering ghost0 become
# direct-tcpip channels; routes, rules and the device are removed exactly.
#
#   ns C (client)                       ns S (server, forwards)            ns T (target)
#   ghostd, TUN ghost0                  sshd $SRV:22 (10.N.9.1 on lo)      http.server :8080
#   curl / socat / python               ip_forward=1                       socat sink :9001, echo :9000
#   vC 10.N.1.1/24 ══════════ veth ════ vS 10.N.1.2/24                     10.N.2.2 (tunnelled in split)
#   default via 10.N.1.2                wS 10.N.2.1/24, fd20::1/64 ═══════ wT 10.N.2.3 (direct in split)
#                                                                         fd20::2/64
# The SSH server is off-link for C, reached through its default route as servers usually
# are: in full tunnel only the mark on ghostd's socket keeps the session out of the tunnel.
#
# Checks: split tunnel (only the listed prefix is tunnelled: the target sees the server as
# the source and a capture on vC shows only SSH for it); byte-exact 1 GiB download and upload;
# a refused port gets a reset promptly; 1,000 concurrent flows; full tunnel (a capture on
# vC shows only the SSH session while curl, ping and IPv6 run); the kill switch during a
# reconnect; IPv6 refused in a full tunnel with ipv6 off; two TUN profiles side by side; a
# device deleted under a running profile; DNS through the tunnel (dnsmasq in T); and that
# down, SIGTERM of ghostd, and SIGKILL followed by a restart, leave rules, routes of all
# tables, addresses and links exactly as before.
. "$(dirname "$0")/lib.sh"

[[ -c /dev/net/tun ]] || fail "/dev/net/tun missing"
MB=${GHOST_TEST_MB:-1024}  # the 1 GiB byte-exact transfer both ways
N=$((RANDOM % 200 + 20))
GW=10.$N.1.2 SRV=10.$N.9.1 TGT=10.$N.2.2 DIRECT=10.$N.2.3

C=$(netns_create c) S=$(netns_create s) TN=$(netns_create t)
VC=vc$RUN_ID VS=vs$RUN_ID WS=ws$RUN_ID WT=wt$RUN_ID
ip link add "$VC" netns "$C" type veth peer name "$VS" netns "$S"
ip link add "$WS" netns "$S" type veth peer name "$WT" netns "$TN"
ip -n "$C" addr add 10.$N.1.1/24 dev "$VC"
ip -n "$S" addr add "$GW/24" dev "$VS"
ip -n "$S" addr add "$SRV/32" dev lo
ip -n "$S" addr add 10.$N.2.1/24 dev "$WS"
ip -n "$S" -6 addr add fd20::1/64 dev "$WS" nodad
ip -n "$TN" addr add "$TGT/24" dev "$WT"
ip -n "$TN" addr add "$DIRECT/24" dev "$WT"
ip -n "$TN" -6 addr add fd20::2/64 dev "$WT" nodad
for l in "$C:$VC" "$S:$VS" "$S:$WS" "$TN:$WT"; do ip -n "${l%%:*}" link set "${l#*:}" up; done
ip -n "$C" route add default via "$GW"
ip -n "$TN" route add default via 10.$N.2.1
ip netns exec "$S" sysctl -qw net.ipv4.ip_forward=1

mkdir -p "$T/www"
make_blob "$T/www/blob" "$MB"
want=$(sha_of "$T/www/blob")
echo "hello from the target" >"$T/www/index.html"
ip netns exec "$TN" python3 -m http.server --bind :: --directory "$T/www" 8080 >"$T/http.log" 2>&1 &
track_pid $!
ip netns exec "$TN" socat TCP6-LISTEN:9000,ipv6only=0,fork,reuseaddr,backlog=2048 EXEC:cat 2>>"$T/socat.log" &
track_pid $!
in_t_listening() { ip netns exec "$TN" ss -Hltn "sport = :$1" | has .; }
ip netns exec "$TN" dnsmasq --no-daemon --no-resolv --no-hosts --bind-interfaces \
    --listen-address="$TGT" --port 53 --local=/ghost.test/ --address=/www.ghost.test/"$TGT" \
    --address=/ssh.ghost.test/"$SRV" --log-queries \
    --log-facility=- --pid-file= >"$T/dnsmasq.log" 2>&1 &
track_pid $!
wait_for 10 "http server" in_t_listening 8080
wait_for 10 "dnsmasq" in_t_listening 53
wait_for 10 "echo server" in_t_listening 9000

SSHD_NS=$S SSHD_ADDR=$SRV SSHD_PORT=22 start_sshd
ssh-keygen -q -t ed25519 -N '' -f "$T/id"
authorize_key "$T/id.pub"

snapshot() { net_snapshot "$C"; }
snapshot >"$T/before"

# No system bus here: systemd-resolved is "not running" for ghostd, whatever the host has.
export DBUS_SYSTEM_BUS_ADDRESS=unix:path=$T/no-system-bus
# C's resolver is the dnsmasq in T (ip netns exec mounts /etc/netns/NS/resolv.conf): the
# full tunnel reaches its server by name, which must be resolved before the tunnel is up.
[[ -d /etc/netns ]] || on_cleanup rmdir /etc/netns 2>/dev/null  # only if this test made it
mkdir -p "/etc/netns/$C"
on_cleanup rm -rf "/etc/netns/$C"
echo "nameserver $TGT" >"/etc/netns/$C/resolv.conf"
GHOSTD_NS=$C start_ghostd
in_c() { ip netns exec "$C" "$@"; }
profile() {  # profile NAME TUN_JSON [SERVER]
    write_profile "$1" "{ \"server\": \"${3:-$SRV}:22\",
      \"ssh\": { \"user\": \"$(id -un)\", \"identity_file\": \"$T/id\", \"host_key\": \"$SSHD_FP\" },
      \"reconnect\": { \"initial_delay\": 1, \"max_delay\": 2, \"pending_wait\": 2 },
      \"tun\": $2 }"
}
tun_status() { gctl --json status "$1" | jq -c '.. | objects | select(has("tun")) | .tun' | head -1; }
same_as_before() {
    snapshot >"$T/after"
    diff -u "$T/before" "$T/after" >"$T/diff" && return 0
    fail "$1 left changes behind: $(cat "$T/diff")"
}
# capture NAME: tcpdump on vC (numeric, no name lookups) until stop_capture
capture() {
    ip netns exec "$C" tcpdump -i "$VC" -nn -U --immediate-mode -w "$T/$1.pcap" >"$T/$1.tcpdump.log" 2>&1 &
    CAP_PID=$!
    track_pid $CAP_PID
    _cap_ready() { grep -q "listening on" "$T/$1.tcpdump.log"; }
    wait_for 10 "tcpdump on $VC" _cap_ready "$1"
}
stop_capture() {
    sleep 0.5
    kill -TERM "$CAP_PID"
    wait "$CAP_PID" 2>/dev/null || true
    tcpdump -nn -r "$T/$1.pcap" 2>/dev/null >"$T/$1.txt"
}

# ---------------------------------------------------------------- split tunnel
profile split "{ \"routes\": [\"$TGT/32\"], \"dns\": [\"$TGT\"] }"
gctl reload >/dev/null
gctl up split >/dev/null || fail "up split: $(gctl status split 2>&1)"
st=$(tun_status split)
[[ $(jq -r .device <<<"$st") == ghost0 && $(jq -r .routes_applied <<<"$st") == true ]] || fail "tun status: $st"
ip -n "$C" route get "$TGT" | has "dev ghost0" || fail "no route to $TGT via ghost0: $(ip -n "$C" route get "$TGT")"
ip -n "$C" route get "$DIRECT" | has "dev $VC" || fail "$DIRECT should go direct"

capture split
got=$(in_c curl -sS --max-time 10 "http://$TGT:8080/index.html")
[[ $got == "hello from the target" ]] || fail "curl through the tunnel: '$got'"
# status figures are published every 250 ms: the flow is counted within a moment
_flow_counted() { local st; st=$(tun_status split); (($(jq '.flows_tunnelled' <<<"$st") >= 1 && $(jq '.packets_in' <<<"$st") > 0)); }
wait_for 3 "the tunnelled flow counted in status" _flow_counted
got=$(in_c curl -sS --max-time 10 "http://$DIRECT:8080/index.html")
[[ $got == "hello from the target" ]] || fail "direct curl: '$got'"
got=$(in_c dig +short +time=5 +tries=1 @198.18.0.2 www.ghost.test)
[[ $got == "$TGT" ]] || fail "DNS through the tunnel: '$got'"
st=$(in_c dig +time=5 +tries=1 @198.18.0.2 nothing.ghost.test | grep -o "status: [A-Z]*")
[[ $st == "status: NXDOMAIN" ]] || fail "NXDOMAIN not passed through: '$st'"
stop_capture split
grep -q "\.53: \|\.53 >" "$T/split.txt" && fail "DNS seen on $VC: $(grep -m2 '\.53' "$T/split.txt")"
grep -q "query\[A\] www.ghost.test from 10\.$N\.2\.1" "$T/dnsmasq.log" ||
    fail "resolver did not get the query over the tunnel: $(tail -3 "$T/dnsmasq.log")"
# garbage to the DNS address: short datagrams dropped, junk forwarded and answered by the
# resolver (FORMERR) or SERVFAIL; real names still resolve afterwards
in_c python3 - <<'PY'
import os, socket
s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
for payload in (b"x", b"\0" * 11, os.urandom(12), os.urandom(300), b"\xff" * 1400):
    s.sendto(payload, ("198.18.0.2", 53))
PY
got=$(in_c dig +short +time=5 +tries=1 @198.18.0.2 www.ghost.test)
[[ $got == "$TGT" ]] || fail "DNS broken after garbage queries: '$got'"
_dns_counted() { (($(tun_status split | jq .dns.answered) >= 2)); }
wait_for 5 "DNS answers counted in status" _dns_counted
dns=$(tun_status split | jq -c .dns)
[[ $(jq -r .system <<<"$dns") == "not configured"* ]] || fail "dns status: $dns"
pass "DNS: queries to 198.18.0.2 answered over DNS-over-TCP through the session (A, NXDOMAIN, and still after garbage datagrams); none on $VC"
grep -q "> $TGT\.8080\|$TGT\.8080 >" "$T/split.txt" && fail "tunnelled destination seen on $VC: $(grep -m3 "$TGT" "$T/split.txt")"
grep -q "> $DIRECT\.8080" "$T/split.txt" || fail "direct destination not seen on $VC"
grep -q "> $SRV\.22" "$T/split.txt" || fail "no SSH traffic on $VC during the tunnelled curl"
grep -Eq "^(::ffff:)?10\.$N\.2\.1 .*GET /index.html" "$T/http.log" || fail "target did not see the server as the tunnelled source"
grep -Eq "^(::ffff:)?10\.$N\.1\.1 .*GET /index.html" "$T/http.log" || fail "target did not see the client for the direct request"
pass "split tunnel: only $TGT/32 enters the SSH session; $DIRECT goes direct (capture on $VC)"

# byte-exact both ways
start=$SECONDS
in_c curl -sS --max-time 120 -o "$T/down.recv" "http://$TGT:8080/blob" || fail "download through TUN failed"
[[ $(sha_of "$T/down.recv") == "$want" ]] || fail "download through TUN is not byte-exact"
ip netns exec "$TN" socat -u TCP-LISTEN:9001,reuseaddr OPEN:"$T/up.recv",creat,trunc 2>>"$T/socat.log" &
sink=$!
track_pid $sink
wait_for 10 "sink" in_t_listening 9001
in_c socat -u OPEN:"$T/www/blob" TCP:"$TGT":9001 || fail "upload through TUN failed"
wait $sink || true
[[ $(sha_of "$T/up.recv") == "$want" ]] || fail "upload through TUN is not byte-exact"
pass "$MB MiB byte-exact download and upload through TUN ($((SECONDS - start)) s)"

# refused port: reset promptly, the profile stays up
t0=$(date +%s%N)
out=$(in_c curl -sS --max-time 10 "http://$TGT:9999/" 2>&1) && fail "closed port answered: $out"
ms=$((($(date +%s%N) - t0) / 1000000))
((ms < 5000)) || fail "refused flow took $ms ms"
[[ $(gctl --json status split | jq -r .state) == up ]] || fail "profile not up after a refused flow"
_refused_counted() { (($(tun_status split | jq .flows_refused) >= 1)); }
wait_for 3 "refused flow counted in status" _refused_counted
pass "refused port: reset after $ms ms ($out); profile still up"

# 1,000 concurrent flows
out=$(in_c python3 - "$TGT" <<'PY'
import socket, sys, time
socks = []
t0 = time.time()
for i in range(1000):
    s = socket.create_connection((sys.argv[1], 9000), timeout=30)
    socks.append(s)
t1 = time.time()
for i, s in enumerate(socks):
    s.sendall(b"flow %d\n" % i)
bad = 0
for i, s in enumerate(socks):
    want = b"flow %d\n" % i
    got = b""
    while len(got) < len(want):
        chunk = s.recv(64)
        if not chunk:
            break
        got += chunk
    bad += got != want
print(bad, "%.1f s to connect, %.1f s to echo" % (t1 - t0, time.time() - t1))
PY
) || fail "1000 flows: python failed; TUN status: $(tun_status split)"
[[ $out == "0 "* ]] || fail "1000 concurrent flows: $out echoed wrong"
txdrop=$(ip -n "$C" -s -j link show ghost0 | jq '.[0].stats64.tx.dropped')
pass "1,000 concurrent flows through TUN, each echoed (${out#0 }; ghost0 tx drops: $txdrop)"
st=$(tun_status split)
[[ $(jq .checksum_offload <<<"$st") == true && $(jq .dropped.bad_offload_header <<<"$st") == 0 ]] ||
    fail "checksum offload not in use, or offload headers dropped: $st"
pass "the device hands over partial checksums (checksum_offload), none dropped"

gctl down split >/dev/null
same_as_before "down of the split tunnel"
pass "down: rules, routes (all tables), addresses and links exactly as before"

# SYN flood: 100,000 SYNs from distinct ports into the tunnel. The flow table stops at its
# limit (flows stuck at their SYN make room for newer ones), memory stays bounded, and the
# daemon and new connections through the tunnel keep working.
gctl up split >/dev/null || fail "split up for the SYN flood"
gpid=$(pgrep -f -- "--runtime-dir $GHOST_RUN ")
rss_kb() { awk '/^VmRSS:/ {print $2}' "/proc/$gpid/status"; }
rss0=$(rss_kb)
in_c python3 - "$TGT" <<'PY' || fail "SYN flood sender failed"
import socket, struct, sys
dst = socket.inet_aton(sys.argv[1])
src = socket.inet_aton("198.18.0.1")
s = socket.socket(socket.AF_INET, socket.SOCK_RAW, socket.IPPROTO_TCP)
def csum(b):
    if len(b) % 2: b += b"\0"
    t = sum(struct.unpack("!%dH" % (len(b) // 2), b))
    while t >> 16: t = (t & 0xffff) + (t >> 16)
    return ~t & 0xffff
n = 0
for i in range(100000):
    sport = 1024 + i % 64000
    seq = i * 7919
    hdr = struct.pack("!HHIIBBHHH", sport, 9000 + i // 64000, seq, 0, 5 << 4, 0x02, 65535, 0, 0)
    c = csum(src + dst + struct.pack("!BBH", 0, 6, len(hdr)) + hdr)
    hdr = hdr[:16] + struct.pack("!H", c) + hdr[18:]
    try:
        s.sendto(hdr, (sys.argv[1], 0)); n += 1
    except BlockingIOError:
        pass
print(n, file=sys.stderr)
PY
_flood_seen() { (($(tun_status split | jq '.flows_evicted + .dropped.table_full') > 0)); }
wait_for 20 "the flood to fill the flow table" _flood_seen
st=$(tun_status split)
(($(jq .flows <<<"$st") <= 16384)) || fail "flow table above its limit: $(jq .flows <<<"$st")"
rss1=$(rss_kb)
((rss1 - rss0 < 200000)) || fail "ghostd grew by $((rss1 - rss0)) kB under the SYN flood"
got=$(in_c curl -sS --max-time 10 "http://$TGT:8080/index.html")
[[ $got == "hello from the target" ]] || fail "tunnel unusable after the SYN flood: '$got'"
gctl status split >/dev/null || fail "daemon unresponsive after the SYN flood"
pass "SYN flood of 100,000: table at $(jq .flows <<<"$st") (limit 16384), $(jq .flows_evicted <<<"$st") stuck flows evicted, $(jq .dropped.table_full <<<"$st") refused, RSS +$(((rss1 - rss0) / 1024)) MiB; new flows still work"
gctl down split >/dev/null
same_as_before "down after the SYN flood"

# routes that cover the SSH server itself: refused before anything is touched
profile loop "{ \"routes\": [\"10.$N.9.0/24\"] }"
gctl reload >/dev/null
out=$(gctl up loop 2>&1) && fail "a split tunnel over the server's own address came up: $out"
[[ $out == *"contains the SSH server's address $SRV"*"tun.exclude"* ]] || fail "unclear loop error: $out"
same_as_before "a refused loop"
pass "routes over the server's own address refused: $(tail -1 <<<"$out" | cut -c1-110)"

# a second TUN profile whose routes overlap a running one: refused, the first untouched
profile split2 "{ \"name\": \"ghost1\", \"routes\": [\"10.$N.2.0/24\"] }"
gctl reload >/dev/null
gctl up split >/dev/null || fail "split up again"
out=$(gctl up split2 2>&1) && fail "overlapping TUN profile came up: $out"
[[ $out == *"overlaps $TGT/32 of profile 'split'"* ]] || fail "unclear overlap error: $out"
got=$(in_c curl -sS --max-time 10 "http://$TGT:8080/index.html")
[[ $got == "hello from the target" ]] || fail "first TUN profile broken by the refused second: '$got'"
pass "overlapping second TUN profile refused ($(tail -1 <<<"$out" | cut -c1-90)); first one unaffected"

# a second TUN profile with disjoint routes runs beside the first, on a subnet of its own
profile split3 "{ \"name\": \"ghost1\", \"routes\": [\"$DIRECT/32\"], \"dns\": [\"$TGT\"] }"
gctl reload >/dev/null
gctl up split3 >/dev/null || fail "second, disjoint TUN profile: $(gctl status split3 2>&1)"
st3=$(tun_status split3)
[[ $(jq -r '.addresses[0]' <<<"$st3") == 198.18.0.5/30 && $(jq -r '.dns.address[0]' <<<"$st3") == 198.18.0.6 ]] ||
    fail "second TUN profile should have 198.18.0.5/30 and DNS 198.18.0.6: $st3"
ip -n "$C" route get "$DIRECT" | has "dev ghost1" || fail "$DIRECT not via ghost1: $(ip -n "$C" route get "$DIRECT")"
for dst in "$TGT" "$DIRECT"; do
    got=$(in_c curl -sS --max-time 10 "http://$dst:8080/index.html")
    [[ $got == "hello from the target" ]] || fail "curl to $dst with two TUN profiles up: '$got'"
done
got=$(in_c dig +short +time=5 +tries=1 @198.18.0.6 www.ghost.test)
[[ $got == "$TGT" ]] || fail "DNS of the second TUN profile: '$got'"
# split tunnel: UDP/53 to a routed address is refused like other UDP, not answered by tun.dns
got=$(in_c dig +short +time=2 +tries=1 @"$DIRECT" www.ghost.test 2>&1) && fail "UDP/53 to a routed address answered: $got"
_own_flows() { (($(tun_status split3 | jq '.flows_tunnelled') >= 1 && $(tun_status split | jq '.flows_tunnelled') >= 2)); }
wait_for 3 "each profile counting its own flows" _own_flows
gctl down split3 >/dev/null
got=$(in_c curl -sS --max-time 10 "http://$TGT:8080/index.html")
[[ $got == "hello from the target" ]] || fail "first TUN profile after the second went down: '$got'"
pass "two TUN profiles with disjoint routes at once: ghost0 198.18.0.1/30 and ghost1 198.18.0.5/30, curl and DNS through each; UDP/53 to a routed address refused"
gctl down split >/dev/null
same_as_before "down after the overlap check"

# the device deleted from outside: the profile fails with the reason and removes the rest
gctl up split >/dev/null || fail "split up for the device deletion"
ip -n "$C" link del ghost0
wait_state split failed 10
err=$(gctl --json status split | jq -r .last_error)
[[ $err == "TUN device ghost0: read from the TUN device failed"* ]] || fail "unclear error for a deleted device: $err"
gctl down split >/dev/null
same_as_before "a deleted TUN device"
pass "TUN device deleted from outside: profile failed ($err), nothing left behind"

# ---------------------------------------------------------------- full tunnel
profile full "{ \"full\": true, \"dns\": [\"$TGT\"] }" ssh.ghost.test
gctl reload >/dev/null
gctl up full >/dev/null || fail "up full: $(gctl status full 2>&1)"
grep -q "query\[A\] ssh.ghost.test from 10\.$N\.1\.1" "$T/dnsmasq.log" ||
    fail "the server's name was not resolved directly before the full tunnel: $(grep ssh.ghost "$T/dnsmasq.log")"
ip -n "$C" rule | has "not from all fwmark 0x67686f lookup 6776943" || fail "no fwmark rule: $(ip -n "$C" rule)"
capture full
got=$(in_c curl -sS --max-time 10 "http://$DIRECT:8080/index.html")
[[ $got == "hello from the target" ]] || fail "curl in full tunnel: '$got'"
got=$(in_c curl -sS --max-time 10 "http://[fd20::2]:8080/index.html")
[[ $got == "hello from the target" ]] || fail "IPv6 curl in full tunnel: '$got'"
in_c ping -c 2 -W 1 "$DIRECT" >/dev/null 2>&1 && fail "ping got through the full tunnel"
in_c bash -c "echo x >/dev/udp/$DIRECT/5353" 2>/dev/null || true
got=$(in_c dig +short +time=5 +tries=1 @"$DIRECT" www.ghost.test)
[[ $got == "$TGT" ]] || fail "full tunnel: DNS to any address not answered through the tunnel: '$got'"
stop_capture full
others=$(grep -v "$SRV\.22 \|> $SRV\.22:" "$T/full.txt" | grep -v "ARP\|ICMP6, neighbor\|ICMP6, router\|ICMP6, multicast" || true)
[[ -z $others ]] || fail "traffic outside the SSH session in full tunnel: $(head -5 <<<"$others")"
grep -q "> $SRV\.22" "$T/full.txt" || fail "no SSH traffic during the full-tunnel curl"
grep -Eq "^(::ffff:)?10\.$N\.2\.1 .*GET /index.html" "$T/http.log" || fail "no tunnelled request at the target"
pass "full tunnel to a server given by name (resolved before the tunnel took the default route): capture on $VC shows only the SSH session while curl (v4, v6), ping, dig and UDP run"

# kill switch: sshd gone -> nothing leaves vC but reconnect attempts; back -> traffic resumes
capture killswitch
stop_sshd
wait_state full reconnecting 30
out=$(in_c curl -sS --max-time 6 "http://$DIRECT:8080/index.html" 2>&1) && fail "traffic flowed without a session: $out"
ip -n "$C" route show table 6776943 | has "default dev ghost0" || fail "routes removed during reconnect"
stop_capture killswitch
others=$(grep -v "$SRV\.22 \|> $SRV\.22:" "$T/killswitch.txt" | grep -v "ARP\|ICMP6, neighbor\|ICMP6, router\|ICMP6, multicast" || true)
[[ -z $others ]] || fail "leak during reconnect: $(head -5 <<<"$others")"
SSHD_NS=$S SSHD_ADDR=$SRV SSHD_PORT=22 start_sshd
wait_state full up 30
got=$(in_c curl -sS --max-time 10 "http://$DIRECT:8080/index.html")
[[ $got == "hello from the target" ]] || fail "traffic did not resume: '$got'"
pass "kill switch: during reconnect only SSH attempts leave $VC; traffic resumes after sshd returns"

# dns_mode "resolved" without systemd-resolved: up fails clearly and leaves nothing behind
gctl down full >/dev/null
profile strict "{ \"routes\": [\"$TGT/32\"], \"dns\": [\"$TGT\"], \"dns_mode\": \"resolved\" }"
gctl reload >/dev/null
out=$(gctl up strict 2>&1) && fail "up with dns_mode resolved succeeded without resolved: $out"
[[ $out == *'tun.dns_mode is "resolved" but systemd-resolved:'* ]] || fail "unclear resolved error: $out"
same_as_before "a failed up (dns_mode resolved)"
pass "dns_mode resolved without systemd-resolved: $(tail -1 <<<"$out" | cut -c1-120)"

# full tunnel with ipv6 off: IPv6 is refused inside the tunnel (RST), never sent around it
profile full4 "{ \"full\": true, \"ipv6\": false }"
gctl reload >/dev/null
gctl up full4 >/dev/null || fail "up full4: $(gctl status full4 2>&1)"
capture full4
out=$(in_c curl -sS --max-time 5 "http://[fd20::2]:8080/index.html" 2>&1) && fail "IPv6 passed a tunnel with ipv6 off: $out"
got=$(in_c curl -sS --max-time 10 "http://$DIRECT:8080/index.html")
[[ $got == "hello from the target" ]] || fail "IPv4 in the full tunnel with ipv6 off: '$got'"
stop_capture full4
others=$(grep -v "$SRV\.22 \|> $SRV\.22:" "$T/full4.txt" | grep -v "ARP\|ICMP6, neighbor\|ICMP6, router\|ICMP6, multicast" || true)
[[ -z $others ]] || fail "traffic outside the SSH session with ipv6 off: $(head -5 <<<"$others")"
_v6_blocked() { (($(tun_status full4 | jq .dropped.ipv6_blocked) >= 1)); }
wait_for 3 "IPv6 counted as blocked" _v6_blocked
gctl down full4 >/dev/null
same_as_before "down of the full tunnel with ipv6 off"
pass "full tunnel with ipv6 off: IPv6 refused in the tunnel ($out), IPv4 carried, nothing else on $VC"
gctl up full >/dev/null || fail "full tunnel up again"

# SIGTERM (systemctl stop): every profile goes down and the namespace is exactly as before
stop_ghostd
same_as_before "SIGTERM of ghostd with the full tunnel up"
pass "SIGTERM with the full tunnel up: everything exactly as before"
GHOSTD_NS=$C start_ghostd
gctl up full >/dev/null || fail "full tunnel up after the restart"

# SIGKILL leaves rules behind; the next start removes them
pid=$(pgrep -f -- "--runtime-dir $GHOST_RUN ")
kill -KILL "$pid"
wait_for 10 "ghostd gone" bash -c "! kill -0 $pid 2>/dev/null"
ip -n "$C" rule | has "fwmark 0x67686f" || fail "SIGKILL left no rule behind (the cleanup check would prove nothing)"
rm -f "$GHOST_RUN/ghostd.sock"
GHOSTD_NS=$C start_ghostd
wait_for 10 "leftovers removed" bash -c "! ip -n '$C' rule | grep -q 'fwmark 0x67686f'"
same_as_before "SIGKILL + restart"
grep -q "removed [0-9]* TUN routes and rules left by an earlier run" "$T/ghostd.log" || fail "restart did not report the cleanup"
pass "SIGKILL then restart: leftovers removed, everything exactly as before"

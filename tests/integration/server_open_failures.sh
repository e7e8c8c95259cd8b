#!/usr/bin/env bash
# Failed direct-tcpip opens reach the application as failures, never as a confirmed
# channel that ends at once: a refused port, a name that does not resolve, a host and a
# network the router says are unreachable, through
#   - stock `ssh -N -D` against a ghost server profile (its stderr shows "open failed";
#     the SOCKS client sees its connection closed, not SOCKS success),
#   - a ghost client profile against the ghost server (SOCKS reply 02: libssh 0.10 can only
#     refuse with "administratively prohibited", docs/proxy.md),
#   - a ghost client profile against stock sshd (05 / 04 / 04 / 03 from sshd's texts).
# Also: pending opens count toward limits.max_channels and end at outbound.connect_timeout,
# the pre-auth grace time still closes a client stalled in authentication, and OpenSSH's
# keepalive@openssh.com requests are answered.
#
#   netns S: ghostd ─ server "edge" 127.0.0.1:$EDGE  ◀── ssh -N -D :$OD (OpenSSH)
#                   ─ client "viaghost" SOCKS :$VG ──▶ edge
#                   ─ client "viasshd"  SOCKS :$VS ──▶ sshd 127.0.0.1:$SSHD_PORT
#            10.77.0.1/24, default route via T; resolver: dnsmasq in T
#        │ veth
#   netns T: 10.77.0.2/24: http.server :8080; dnsmasq :53 (good.ghost.test → 10.77.0.2, the
#            rest of ghost.test NXDOMAIN); nothing on :9 (refused); forwarding on, ICMP not
#            rate-limited: 10.78.0.0/24 "unreachable" route (ICMP host unreachable),
#            10.79.0.0/24 no route (ICMP net unreachable), 10.80.0.0/24 blackhole (silence)
. "$(dirname "$0")/lib.sh"

PROBE=$(dirname "$0")/tools/socks_probe.py
S=$(netns_create s)
TN=$(netns_create t)
netns_veth "$S" "$TN" 10.77.0.1/24 10.77.0.2/24
ip -n "$S" route add default via 10.77.0.2
ip netns exec "$TN" sysctl -qw net.ipv4.ip_forward=1 net.ipv4.icmp_ratelimit=0
ip -n "$TN" route add unreachable 10.78.0.0/24
ip -n "$TN" route add blackhole 10.80.0.0/24
in_s() { ip netns exec "$S" "$@"; }
in_t_listening() { ip netns exec "$TN" ss -Hltn "sport = :$1" | has .; }

mkdir -p "$T/www"
echo "hello from the target" >"$T/www/index.html"
(cd "$T/www" && exec ip netns exec "$TN" python3 -m http.server --bind 10.77.0.2 8080 >"$T/http.log" 2>&1) &
track_pid $!
ip netns exec "$TN" dnsmasq --no-daemon --no-resolv --no-hosts --bind-interfaces \
    --listen-address=10.77.0.2 --port 53 --local=/ghost.test/ --address=/good.ghost.test/10.77.0.2 \
    --log-queries --log-facility=- --pid-file= >"$T/dnsmasq.log" 2>&1 &
track_pid $!
wait_for 10 "http target" in_t_listening 8080
wait_for 10 "dnsmasq" in_t_listening 53
# ip netns exec mounts /etc/netns/S/resolv.conf: names are resolved by the dnsmasq in T.
[[ -d /etc/netns ]] || on_cleanup rmdir /etc/netns 2>/dev/null # only if this test made it
mkdir -p "/etc/netns/$S"
on_cleanup rm -rf "/etc/netns/$S"
echo "nameserver 10.77.0.2" >"/etc/netns/$S/resolv.conf"

GOOD=10.77.0.2:8080 REFUSED=10.77.0.2:9 NONAME=nowhere.ghost.test:80
HOSTUNR=10.78.0.5:80 NETUNR=10.79.0.5:80 SILENT=10.80.0.5:80
FAILURES=("$REFUSED" "$NONAME" "$HOSTUNR" "$NETUNR")

# ---------------------------------------------------------------- peers and profiles
ssh-keygen -q -t ed25519 -N '' -C user -f "$T/user"
ssh-keygen -q -t ed25519 -N 'secret' -C stalled -f "$T/stalled"
cat "$T/user.pub" "$T/stalled.pub" >"$T/authorized_keys"
SSHD_NS=$S start_sshd
authorize_key "$T/user.pub"

EDGE=$(free_port) VG=$(free_port) VS=$(free_port) OD=$(free_port)
ghost_dirs
GHOSTD_NS=$S start_ghostd
write_profile edge "{ \"role\": \"server\", \"listen\": [ { \"address\": \"127.0.0.1:$EDGE\" } ],
  \"authorized_keys\": \"$T/authorized_keys\",
  \"outbound\": { \"connect_timeout\": 3 },
  \"limits\": { \"max_channels\": 4, \"login_grace_time\": 3 } }"
gctl reload >/dev/null
gctl up edge >/dev/null || fail "up edge: $(gctl status edge 2>&1)"
EDGE_FP=$(gctl --json status edge | jq -r '[.. | objects | select(has("fingerprint"))][0].fingerprint')
gctl --json status edge | jq -r '.. | objects | select(has("known_hosts")) | .known_hosts[]' >"$T/known_hosts"
write_profile viaghost "{ \"server\": \"127.0.0.1:$EDGE\",
  \"ssh\": { \"user\": \"ghost\", \"identity_file\": \"$T/user\", \"host_key\": \"$EDGE_FP\" },
  \"socks5\": { \"listen\": \"127.0.0.1:$VG\" } }"
write_profile viasshd "{ \"server\": \"127.0.0.1:$SSHD_PORT\",
  \"ssh\": { \"user\": \"root\", \"identity_file\": \"$T/user\", \"host_key\": \"$SSHD_FP\" },
  \"socks5\": { \"listen\": \"127.0.0.1:$VS\" } }"
gctl reload >/dev/null
for p in viaghost viasshd; do gctl up "$p" >/dev/null || fail "up $p: $(gctl status "$p" 2>&1)"; done
wait_state viaghost up
wait_state viasshd up

SSH_OPTS=(-F /dev/null -o BatchMode=yes -o StrictHostKeyChecking=yes -o UserKnownHostsFile="$T/known_hosts"
    -o IdentitiesOnly=yes -o ServerAliveInterval=1 -o ServerAliveCountMax=2)
in_s ssh "${SSH_OPTS[@]}" -i "$T/user" -p "$EDGE" -N -D "127.0.0.1:$OD" ghost@127.0.0.1 2>"$T/ssh_d.log" &
OD_PID=$!
track_pid "$OD_PID"
wait_for 15 "ssh -D listener" in_s bash -c "ss -Hltn 'sport = :$OD' | grep -q ."

reply() { in_s python3 "$PROBE" reply "$1" "${2%:*}" "${2##*:}"; }
fetch() { in_s curl -fsS -m 20 --socks5-hostname "127.0.0.1:$1" "http://$2/"; }
expect_good() {  # expect_good PORT WHAT: the good target, by address and by name
    [[ $(fetch "$1" "$GOOD") == "hello from the target" ]] || fail "$2: $GOOD does not work"
    [[ $(fetch "$1" good.ghost.test:8080) == "hello from the target" ]] || fail "$2: good.ghost.test does not work"
}

# ---------------------------------------------------------------- stock ssh -D -> ghost server
expect_good "$OD" "ssh -D"
declare -A CAUSE=([$REFUSED]="Connection refused" [$NONAME]="cannot resolve nowhere.ghost.test"
    [$HOSTUNR]="No route to host" [$NETUNR]="Network is unreachable")
for t in "${FAILURES[@]}"; do
    before=$(grep -c "open failed: administratively prohibited" "$T/ssh_d.log" || true)
    got=$(reply "$OD" "$t")
    [[ $got == closed ]] || fail "ssh -D to $t: SOCKS reply '$got', want the connection closed"
    _failed_once_more() { (($(grep -c "open failed: administratively prohibited" "$T/ssh_d.log") > before)); }
    wait_for 10 "ssh -D reports the failed open of $t" _failed_once_more
    grep "direct-tcpip to $t failed: .*${CAUSE[$t]}" "$T/ghostd.log" | has . \
        || fail "ghostd did not log the cause for $t (want '${CAUSE[$t]}')"
    expect_good "$OD" "ssh -D after $t"
done
kill -0 "$OD_PID" || fail "ssh -D exited: $(cat "$T/ssh_d.log")"
pass "stock ssh -D: refused, unresolvable, host and network unreachable are open failures; causes logged"

# ---------------------------------------------------------------- ghost client -> ghost server
expect_good "$VG" "viaghost"
for t in "${FAILURES[@]}"; do
    got=$(reply "$VG" "$t")
    [[ $got == 2 ]] || fail "viaghost to $t: SOCKS reply '$got', want 2 (not allowed)"
done
rc=0
out=$(in_s curl -sS -m 20 --socks5-hostname "127.0.0.1:$VG" "http://$REFUSED/" 2>&1) || rc=$?
[[ $rc == 97 ]] || fail "curl through viaghost to $REFUSED: exit $rc ($out), want 97 (SOCKS failure)"
expect_good "$VG" "viaghost after the failures"
pass "ghost client -> ghost server: every failure is SOCKS reply 02, curl says so ($out)"

# ---------------------------------------------------------------- ghost client -> stock sshd
declare -A WANT=([$REFUSED]=5 [$NONAME]=4 [$HOSTUNR]=4 [$NETUNR]=3)
expect_good "$VS" "viasshd"
for t in "${FAILURES[@]}"; do
    got=$(reply "$VS" "$t")
    [[ $got == "${WANT[$t]}" ]] || fail "viasshd to $t: SOCKS reply '$got', want ${WANT[$t]}"
done
expect_good "$VS" "viasshd after the failures"
pass "ghost client -> stock sshd: refused 05, unresolvable 04, host unreachable 04, network unreachable 03"

# ---------------------------------------------------------------- pending opens: limit and deadline
# Four opens to a silent address are pending at once (limits.max_channels 4): a fifth open is
# refused while they wait, each fails at outbound.connect_timeout, then opens work again.
t0=$SECONDS
pids=()
for i in 1 2 3 4; do
    reply "$VG" "$SILENT" >"$T/silent.$i" &
    pids+=($!)
done
_pending() { gctl --json sessions edge | jq -e 'any(.[]; .channels >= 4)' >/dev/null; }
_pending_one() { gctl --json sessions edge | jq -e 'any(.[]; .channels >= 1)' >/dev/null; }
wait_for 10 "four pending opens" _pending
got=$(reply "$VG" "$GOOD")
[[ $got == 2 ]] || fail "a fifth open while four are pending: SOCKS reply '$got', want 2"
grep -q "direct-tcpip to $GOOD refused: too many channels (limits.max_channels 4)" "$T/ghostd.log" \
    || fail "the fifth open was not refused for the channel limit"
wait "${pids[@]}"
for i in 1 2 3 4; do [[ $(cat "$T/silent.$i") == 2 ]] || fail "pending open $i: '$(cat "$T/silent.$i")', want 2"; done
((SECONDS - t0 < 15)) || fail "pending opens took $((SECONDS - t0)) s to fail (connect_timeout 3 s)"
grep -c "direct-tcpip to $SILENT failed: connecting $SILENT timed out after 3 s" "$T/ghostd.log" | grep -qx 4 \
    || fail "the pending opens did not end at outbound.connect_timeout"
expect_good "$VG" "viaghost after the pending opens"
pass "pending opens count toward limits.max_channels and end at outbound.connect_timeout"

# A session kicked while its opens wait: the held requests go with it.
reply "$VG" "$SILENT" >"$T/silent.kick" &
KICKED=$!
wait_for 10 "a pending open" _pending_one
SID=$(gctl --json sessions edge | jq -r '[.[] | select(.channels >= 1)][0].id')
gctl kick edge "$SID" >/dev/null || fail "kick $SID failed"
wait "$KICKED" || true
kill -0 "$GHOSTD_PID" || fail "ghostd died when a session with a pending open was kicked"
wait_state viaghost up 30
expect_good "$VG" "viaghost after its session was kicked"
pass "a session kicked with an open pending ends cleanly; the client reconnects"

# ---------------------------------------------------------------- grace time, keepalive
# ssh waits for the key's passphrase (askpass sleeps): stalled in authentication.
cat >"$T/askpass" <<'EOF'
#!/bin/sh
sleep 30
EOF
chmod +x "$T/askpass"
t0=$SECONDS
in_s env SSH_ASKPASS="$T/askpass" SSH_ASKPASS_REQUIRE=force DISPLAY=:0 \
    ssh -v -F /dev/null -o StrictHostKeyChecking=yes -o UserKnownHostsFile="$T/known_hosts" \
    -o IdentitiesOnly=yes -i "$T/stalled" -p "$EDGE" -N ghost@127.0.0.1 </dev/null 2>"$T/stalled.log" &
track_pid $!
wait_for 10 "the server to close the stalled login" \
    grep -q "no authentication within 3 s (limits.login_grace_time)" "$T/ghostd.log"
((SECONDS - t0 <= 8)) || fail "the stalled login was closed after $((SECONDS - t0)) s (grace time 3 s)"
# The key probe was answered (PK_OK): the stall was in authentication, past the key exchange.
grep -q "Server accepts key" "$T/stalled.log" || fail "ssh did not get as far as its key: $(cat "$T/stalled.log")"
pass "a client stalled in authentication is closed at limits.login_grace_time ($((SECONDS - t0)) s)"

kill -0 "$OD_PID" || fail "ssh -D (ServerAliveInterval 1) exited: $(cat "$T/ssh_d.log")"
grep -q "Timeout, server" "$T/ssh_d.log" && fail "ssh -D saw its keepalives unanswered"
expect_good "$OD" "ssh -D at the end"
kill -0 "$GHOSTD_PID" || fail "ghostd died"
pass "keepalive@openssh.com answered (ssh -D with ServerAliveInterval 1 still up); ghostd up"

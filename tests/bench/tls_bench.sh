#!/usr/bin/env bash
# SSH inside TLS, four ways, on the same topology in one run (not a test: prints figures).
#
#   ns C (client)                                ns S (server)                          ns T (target)
#   ghostd "tls" SOCKS :1080 ══tls+knock══════▶  ghostd "edge" 10.A.1.2:443 (tls)        iperf3 -s :5201
#   ghostd "tcp" SOCKS :1081 ══ssh════════════▶  ghostd "edge" 10.A.1.2:2222 (tcp) ───▶ accept server :7000
#   ssh -N -D :2080 → stunnel :2222 ══tls═════▶  stunnel :8443 → sshd 10.A.1.2:22       10.A.2.2
#   trojan client SOCKS :3080 ══tls═══════════▶  trojan :4443 (fallback 127.0.0.1:8080)
#   iperf3 under proxychains4, socks_load.py
#         10.A.1.1 ──── veth ──── 10.A.1.2      10.A.2.1 ──── veth ──── 10.A.2.2
#
# Every path is a SOCKS5 proxy in the client namespace, measured one after the other with
# the same tools: iperf3 upload and download (one stream, under proxychains4), connect
# p50/p99 and rate to the target's first byte (sequential and 50 parallel), and CPU seconds
# per GB on each end (ghostd; ssh + stunnel / stunnel + sshd and its session processes;
# trojan). SSH paths use aes128-gcm@openssh.com; TLS paths TLS 1.3 with
# TLS_AES_128_GCM_SHA256 (ghost offers it first, as browsers do; stunnel and trojan are
# pinned to it). Trojan is not SSH (TLS only, one TLS connection per proxied connection).
# Ratios: ghost tls ÷ each of the others, for upload, download and connect speed
# (connect = the other's sequential p50 ÷ ghost tls's, so higher is better everywhere).
#
# Needs root, stunnel4, trojan, proxychains4, iperf3, sshd. Env: GHOSTD, GHOSTCTL (or
# GHOST_BUILD_DIR), BENCH_SECONDS (5), CONNECTS (parallel, 1000), SEQ_CONNECTS (sequential,
# 300), LINK_RATE (tc rate of the client-server link, e.g. 1gbit; default unshaped),
# KEEP_TMP=1.
. "$(dirname "$0")/bench_lib.sh"
for tool in stunnel4 trojan proxychains4 iperf3 openssl; do
    command -v "$tool" >/dev/null || fail "$tool missing (apt-get install stunnel4 trojan proxychains4 iperf3 openssl)"
done
# trojan's SOCKS5 front end rejects a greeting and request sent in one write; every path
# gets the same lock-step handshake (as proxychains4 does it).
export SOCKS_LOCKSTEP=1
WHO=(tls tcp stunnel trojan)
declare -A SOCKS=([tls]=1080 [tcp]=1081 [stunnel]=2080 [trojan]=3080)

bench_topology
bench_shape_link
bench_targets
bench_sshd "MaxStartups 100" "MaxSessions 100"
TLS13=TLS_AES_128_GCM_SHA256
# A throwaway certificate for stunnel and trojan (ghost generates its own and is pinned).
mkdir -p "$T/pki"
openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:prime256v1 -nodes -days 2 -subj /CN=www.bench.test \
    -addext subjectAltName=DNS:www.bench.test -keyout "$T/pki/key.pem" -out "$T/pki/cert.pem" 2>>"$T/openssl.log"

# ghostd NAME NS: a ghostd of its own in $T/NAME/{etc,run,state}; sets G_PID[NAME]
declare -A G_PID
ghostd_in() {
    local d=$T/$1
    mkdir -p "$d/etc/profiles" "$d/run" "$d/state"
    [[ -f $d/etc/ghostd.json ]] || echo '{ "log_level": "warning" }' >"$d/etc/ghostd.json"
    ip netns exec "$2" "$GHOSTD" --foreground --config-dir "$d/etc" --runtime-dir "$d/run" --state-dir "$d/state" \
        >>"$T/ghostd-$1.log" 2>&1 &
    G_PID[$1]=$!
    track_pid $!
    wait_for 10 "ghostd $1 control socket" test -S "$d/run/ghostd.sock"
}
g() { local who=$1; shift; "$GHOSTCTL" --socket "$T/$who/run/ghostd.sock" "$@"; }

# ---------------------------------------------------------------- ghost server: tls :443 and tcp :2222
KNOCK="\"knock\": { \"path\": \"/ws\", \"secret_file\": \"$T/knock.secret\" }"
mkdir -p "$T/gs/etc/profiles"
cat >"$T/gs/etc/profiles/edge.json" <<EOF
{ "role": "server",
  "listen": [ { "address": "$SERVER:443", "transport": { "type": "tls", $KNOCK } },
              { "address": "$SERVER:2222" } ],
  "authorized_keys": "$T/id.pub",
  "limits": { "max_sessions": 1000, "max_startups": 300, "max_startups_total": 1000, "max_channels": 4096 } }
EOF
ghostd_in gs "$S"
g gs up edge >/dev/null || fail "ghost server profile did not come up: $(g gs status edge 2>&1)"
PIN=$(g gs --json status edge | jq -r '.listen[0].certificate.pin_sha256')
GFP=$(g gs --json status edge | jq -r '.host_key.fingerprint')
[[ $PIN != null && $GFP != null ]] || fail "no pin / host key in the server's status: $(g gs --json status edge)"

# ---------------------------------------------------------------- ghost clients: tls and tcp
mkdir -p "$T/gc/etc/profiles"
gclient() {  # gclient NAME PORT TRANSPORT_JSON
    cat >"$T/gc/etc/profiles/$1.json" <<EOF
{ "server": "$SERVER:$2", "transport": $3,
  "ssh": { "user": "$(id -un)", "identity_file": "$T/id", "host_key": "$GFP", "ciphers": ["$CIPHER"] },
  "socks5": { "listen": "127.0.0.1:${SOCKS[$1]}" } }
EOF
}
gclient tls 443 "{ \"type\": \"tls\", \"sni\": \"www.bench.test\", \"pin_sha256\": \"$PIN\", $KNOCK }"
gclient tcp 2222 '{ "type": "tcp" }'
ghostd_in gc "$C"
for p in tls tcp; do g gc up $p >/dev/null || fail "ghost client $p did not come up: $(g gc status $p 2>&1)"; done
log "ghost tls session: $(g gc --json status tls | jq -c .tls)"

# ---------------------------------------------------------------- stunnel + OpenSSH
stunnel_conf() {  # stunnel_conf NAME SERVICE_LINES...
    local name=$1
    shift
    {
        echo "foreground = yes"
        echo "pid ="
        echo "syslog = no"
        echo "debug = 3"
        echo "socket = l:TCP_NODELAY=1"
        echo "socket = r:TCP_NODELAY=1"
        echo "[ssh]"
        echo "sslVersionMin = TLSv1.3"
        echo "ciphersuites = $TLS13"
        for line in "$@"; do echo "$line"; done
    } >"$T/stunnel-$name.conf"
}
stunnel_conf server "accept = $SERVER:8443" "connect = $SERVER:22" "cert = $T/pki/cert.pem" "key = $T/pki/key.pem"
stunnel_conf client "client = yes" "accept = 127.0.0.1:2222" "connect = $SERVER:8443" "sni = www.bench.test" \
    "verifyPeer = yes" "CAfile = $T/pki/cert.pem" "checkHost = www.bench.test"
declare -A P_PID
ip netns exec "$S" stunnel4 "$T/stunnel-server.conf" >>"$T/stunnel-server.log" 2>&1 &
P_PID[stunnel_s]=$!
track_pid $!
ip netns exec "$C" stunnel4 "$T/stunnel-client.conf" >>"$T/stunnel-client.log" 2>&1 &
P_PID[stunnel_c]=$!
track_pid $!
wait_for 10 "stunnel server" ip netns exec "$S" bash -c "ss -Hltn 'sport = :8443' | grep -q ."
wait_for 10 "stunnel client" in_c bash -c "ss -Hltn 'sport = :2222' | grep -q ."
echo "[127.0.0.1]:2222 $(cut -d' ' -f1,2 "$T/sshd/host.pub")" >"$T/known_hosts"
in_c ssh -F /dev/null -N -c "$CIPHER" -i "$T/id" -o IdentitiesOnly=yes -o BatchMode=yes \
    -o UserKnownHostsFile="$T/known_hosts" -o StrictHostKeyChecking=yes -o ExitOnForwardFailure=yes \
    -p 2222 -D 127.0.0.1:2080 "$(id -un)@127.0.0.1" >>"$T/ssh.log" 2>&1 &
P_PID[ssh]=$!
track_pid $!
wait_for 15 "ssh -D through stunnel" in_c bash -c "exec 3<>/dev/tcp/127.0.0.1/2080"

# ---------------------------------------------------------------- trojan
ip netns exec "$S" python3 -m http.server --bind 127.0.0.1 8080 >>"$T/fallback-http.log" 2>&1 &
track_pid $!
wait_for 10 "fallback web server" ip netns exec "$S" bash -c "ss -Hltn 'sport = :8080' | grep -q ."
TROJAN_PW=$(openssl rand -hex 16)
cat >"$T/trojan-server.json" <<EOF
{ "run_type": "server", "local_addr": "$SERVER", "local_port": 4443,
  "remote_addr": "127.0.0.1", "remote_port": 8080, "password": ["$TROJAN_PW"], "log_level": 3,
  "ssl": { "cert": "$T/pki/cert.pem", "key": "$T/pki/key.pem", "cipher_tls13": "$TLS13",
           "alpn": ["http/1.1"], "reuse_session": true, "session_ticket": false },
  "tcp": { "no_delay": true, "keep_alive": true } }
EOF
cat >"$T/trojan-client.json" <<EOF
{ "run_type": "client", "local_addr": "127.0.0.1", "local_port": 3080,
  "remote_addr": "$SERVER", "remote_port": 4443, "password": ["$TROJAN_PW"], "log_level": 3,
  "ssl": { "verify": true, "verify_hostname": true, "cert": "$T/pki/cert.pem", "sni": "www.bench.test",
           "cipher_tls13": "$TLS13", "alpn": ["h2", "http/1.1"], "reuse_session": true, "session_ticket": false },
  "tcp": { "no_delay": true, "keep_alive": true } }
EOF
ip netns exec "$S" trojan -c "$T/trojan-server.json" >>"$T/trojan-server.log" 2>&1 &
P_PID[trojan_s]=$!
track_pid $!
ip netns exec "$C" trojan -c "$T/trojan-client.json" >>"$T/trojan-client.log" 2>&1 &
P_PID[trojan_c]=$!
track_pid $!
wait_for 10 "trojan server" ip netns exec "$S" bash -c "ss -Hltn 'sport = :4443' | grep -q ."
wait_for 10 "trojan client" in_c bash -c "ss -Hltn 'sport = :3080' | grep -q ."
# The fallback is what a prober gets: the real page of the local web server.
in_c curl -sk --max-time 5 --resolve "www.bench.test:4443:$SERVER" -o /dev/null -w '%{http_code}' \
    https://www.bench.test:4443/ | has 200 || fail "trojan server's fallback does not answer"

# ---------------------------------------------------------------- measurements
TICKS=$(getconf CLK_TCK)
tree_pids() { echo "$1"; for c in $(pgrep -P "$1"); do tree_pids "$c"; done; }
cpu_ticks() {  # cpu_ticks PID...: utime+stime of the PIDs and their descendants
    local t=0 p
    for p in $(for q in "$@"; do tree_pids "$q"; done); do
        t=$((t + $(awk '{print $14 + $15}' "/proc/$p/stat" 2>/dev/null || echo 0)))
    done
    echo $t
}
# Processes of each path, client end and server end.
declare -A CEND=([tls]=${G_PID[gc]} [tcp]=${G_PID[gc]} [stunnel]="${P_PID[ssh]} ${P_PID[stunnel_c]}"
    [trojan]=${P_PID[trojan_c]})
declare -A SEND=([tls]=${G_PID[gs]} [tcp]=${G_PID[gs]} [stunnel]="${P_PID[stunnel_s]} $SSHD_PID"
    [trojan]=${P_PID[trojan_s]})

# iperf WHO up|down: Gbit/s and CPU s/GB of each end through the path's SOCKS port
iperf() {
    local who=$1 dir=$2 c0 s0 json bytes
    printf 'strict_chain\nquiet_mode\ntcp_read_time_out 15000\ntcp_connect_time_out 8000\n[ProxyList]\nsocks5 127.0.0.1 %s\n' \
        "${SOCKS[$who]}" >"$T/proxychains-$who.conf"
    c0=$(cpu_ticks ${CEND[$who]}) s0=$(cpu_ticks ${SEND[$who]})
    json=$(in_c proxychains4 -q -f "$T/proxychains-$who.conf" iperf3 -c "$TARGET" -p 5201 -t "$SECS" -J \
        $([[ $dir == down ]] && echo -R)) || fail "iperf3 $dir through $who: $(jq -r .error <<<"$json" 2>/dev/null)"
    bytes=$(jq '.end.sum_received.bytes' <<<"$json")
    R[$dir.$who]=$(jq '.end.sum_received.bits_per_second / 1e9 | . * 100 | round / 100' <<<"$json")
    R[ccpu_$dir.$who]=$(awk -v t=$(($(cpu_ticks ${CEND[$who]}) - c0)) -v hz="$TICKS" -v B="$bytes" \
        'BEGIN { printf "%.2f", (t / hz) / (B / 1e9) }')
    R[scpu_$dir.$who]=$(awk -v t=$(($(cpu_ticks ${SEND[$who]}) - s0)) -v hz="$TICKS" -v B="$bytes" \
        'BEGIN { printf "%.2f", (t / hz) / (B / 1e9) }')
    log "iperf3 $dir $who: ${R[$dir.$who]} Gbit/s, CPU s/GB client ${R[ccpu_$dir.$who]} server ${R[scpu_$dir.$who]}"
}

for who in "${WHO[@]}"; do
    log "warm-up $who"
    in_c $LOAD connect "127.0.0.1:${SOCKS[$who]}" "$TARGET:7000" 20 5 >/dev/null
    iperf "$who" up
    iperf "$who" down
    bench_connects "$who" "127.0.0.1:${SOCKS[$who]}" 1 seq "$SEQ_CONNECTS"
    bench_connects "$who" "127.0.0.1:${SOCKS[$who]}" 50 par "$CONNECTS"
done
tls=$(g gs --json status edge | jq -c '.listen[0] | {knocks_accepted, knocks_rejected}')
log "ghost tls listener: $tls"

# ---------------------------------------------------------------- table
row() {
    local v=() w
    for w in "${WHO[@]}"; do v+=("${R[$2.$w]:-n/a}"); done
    printf '%-34s %10s %10s %12s %10s\n' "$1" "${v[@]}"
}
# verdict RATIO TARGET
verdict() { awk -v r="$1" -v t="$2" 'BEGIN { if (r == "n/a") print "n/a"; else print (r + 0 >= t ? "ok" : "BELOW") }'; }
ratios() {  # ratios LABEL WHO TARGET
    local up down conn
    up=$(bench_ratio "${R[up.tls]:-}" "${R[up.$2]:-}")
    down=$(bench_ratio "${R[down.tls]:-}" "${R[down.$2]:-}")
    conn=$(bench_ratio "${R[p50_seq.$2]:-}" "${R[p50_seq.tls]:-}")
    printf '%-24s upload %5s %-5s  download %5s %-5s  connect %5s %-5s  (target >= %s)\n' "$1" \
        "$up" "$(verdict "$up" "$3")" "$down" "$(verdict "$down" "$3")" "$conn" "$(verdict "$conn" "$3")" "$3"
}
{
    echo
    echo "SSH inside TLS: ghost tls+knock vs ghost tcp vs stunnel+OpenSSH vs trojan ($CIPHER; TLS 1.3 $TLS13;" \
        "$(nproc) cores; link ${LINK_RATE:-unshaped}; iperf3 ${SECS}s; $SEQ_CONNECTS/$CONNECTS connects)"
    printf '%-34s %10s %10s %12s %10s\n' metric ghost-tls ghost-tcp stunnel+ssh trojan
    row "upload (Gbit/s)" up
    row "download (Gbit/s)" down
    row "client CPU s/GB, upload" ccpu_up
    row "client CPU s/GB, download" ccpu_down
    row "server CPU s/GB, upload" scpu_up
    row "server CPU s/GB, download" scpu_down
    row "connect p50 ms, sequential" p50_seq
    row "connect p99 ms, sequential" p99_seq
    row "connects/s, sequential" rate_seq
    row "connect failures, sequential" cfail_seq
    row "connect p50 ms, 50 parallel" p50_par
    row "connect p99 ms, 50 parallel" p99_par
    row "connects/s, 50 parallel" rate_par
    row "connect failures, 50 parallel" cfail_par
    echo
    echo "ratios (connect = other's sequential p50 / ghost tls's; higher is better)"
    ratios "tls ÷ ghost tcp" tcp 0.85
    ratios "tls ÷ stunnel+OpenSSH" stunnel 1.5
    ratios "tls ÷ trojan" trojan 1.0
} | tee "$T/table.txt"

#!/usr/bin/env bash
# The tls transport and its stealth: SSH inside TLS behind a WebSocket knock, and a port
# that looks like an ordinary web server to everyone else.
#
#   ghost client "c1" (SOCKS :$SOCKS) ──tls+knock──▶ ghost server "hub" :$HUB ──▶ http.server :$HTTP
#   ghost client "bad*" (wrong pin / CA / name / secret) ──▶ hub        (each must fail clearly)
#   curl / openssl / probes ──▶ hub :$HUB                                 (get the 404 web server)
#   curl ──▶ "front" :$FRONT (tls, fallback = http.server :$HTTP)         (gets the real page)
#   ssh -o ProxyCommand='openssl s_client' ──▶ "bare" :$BARE (allow_bare_ssh)
#   ssh / curl http / curl https ──▶ "omni" :$OMNI (sniff: SSH, TLS and HTTP on one port)
#   ghost client "viaproxy" ──tls──▶ nginx :$RP ──proxy_pass http:// (WebSocket)──▶ omni
#
# All on loopback; every process and file lives in the test's temp dir.
. "$(dirname "$0")/lib.sh"

HTTP=$(free_port) HUB=$(free_port) FRONT=$(free_port) BARE=$(free_port) OMNI=$(free_port)
SOCKS=$(free_port) SOCKS2=$(free_port) SOCKS3=$(free_port)
MB=${GHOST_TEST_MB:-100}

mkdir -p "$T/www"
echo "hello from the target" >"$T/www/index.html"
echo "the real upstream site" >"$T/www/site.html"
make_blob "$T/www/blob" "$MB"
want=$(sha_of "$T/www/blob")
(cd "$T/www" && exec python3 -m http.server --bind 127.0.0.1 "$HTTP" >"$T/http.log" 2>&1) &
track_pid $!
wait_for 10 "http target" port_open "$HTTP"

ssh-keygen -q -t ed25519 -N '' -C ghost-client -f "$T/client"
cp "$T/client.pub" "$T/authorized_keys"

start_ghostd
knock="\"knock\": { \"path\": \"/ws\", \"secret_file\": \"$T/secret\" }"
server() {  # server NAME PORT TRANSPORT_EXTRA
    write_profile "$1" "{ \"role\": \"server\",
      \"listen\": [ { \"address\": \"127.0.0.1:$2\", \"transport\": { \"type\": \"tls\" $3 } } ],
      \"authorized_keys\": \"$T/authorized_keys\", \"acl\": { \"deny_loopback\": false } }"
}
server hub "$HUB" ", $knock"
server front "$FRONT" ", $knock, \"fallback\": \"127.0.0.1:$HTTP\""
server bare "$BARE" ', "allow_bare_ssh": true'
server omni "$OMNI" ", $knock, \"sniff\": true"
gctl reload >/dev/null
for p in hub front bare omni; do gctl up "$p" >/dev/null || fail "up $p: $(gctl status "$p" 2>&1)"; done
[[ $(stat -c %a "$T/secret") == 600 ]] || fail "generated knock secret is not mode 600"
PIN=$(profile_field hub '.listen[0].certificate.pin_sha256')
FP=$(profile_field hub '.host_key.fingerprint')
CERT=$(profile_field hub '.listen[0].certificate.file')
[[ $(profile_field hub '.client_snippet.transport.pin_sha256') == "$PIN" ]] ||
    fail "client snippet lacks the pin: $(gctl --json status hub | jq .client_snippet)"
# The pin in status is the certificate's real SPKI hash.
real_pin=$(openssl x509 -in "$CERT" -pubkey -noout | openssl pkey -pubin -outform der |
    openssl dgst -sha256 -binary | base64)
[[ $real_pin == "$PIN" ]] || fail "status pin $PIN != certificate pin $real_pin"
pass "tls server profiles up: self-signed certificate, knock secret created 0600, pin in status"

client() {  # client NAME PORT SOCKS TRANSPORT_JSON
    write_profile "$1" "{ \"server\": \"127.0.0.1:$2\", \"transport\": $4,
      \"ssh\": { \"user\": \"ghost\", \"identity_file\": \"$T/client\", \"host_key\": \"${HOSTFP:-$FP}\" },
      \"socks5\": { \"listen\": \"127.0.0.1:$3\" } }"
}
client c1 "$HUB" "$SOCKS" "{ \"type\": \"tls\", \"sni\": \"www.example.org\", \"pin_sha256\": \"$PIN\", $knock }"
gctl reload >/dev/null

# ---------------------------------------------------------------- the wire: no SSH in sight
tcpdump -i lo -U -s 0 --immediate-mode -w "$T/wire.pcap" "tcp port $HUB" >"$T/tcpdump.log" 2>&1 &
TCPDUMP=$!
track_pid $TCPDUMP
wait_for 10 "tcpdump" grep -q "listening on" "$T/tcpdump.log"
gctl up c1 >/dev/null || fail "up c1: $(gctl status c1 2>&1)"
got=$(curl -sS --max-time 10 --socks5-hostname "127.0.0.1:$SOCKS" "http://localhost:$HTTP/index.html")
[[ $got == "hello from the target" ]] || fail "SOCKS over tls+knock: '$got'"
kill -TERM $TCPDUMP
wait $TCPDUMP 2>/dev/null
[[ -s $T/wire.pcap ]] || fail "capture is empty"
! grep -qa 'SSH-2.0' "$T/wire.pcap" || fail "the capture of a tls session contains SSH-2.0"
hello=$(tshark -r "$T/wire.pcap" -Y 'tls.handshake.type == 1' -T fields \
    -e tls.handshake.extensions_server_name -e tls.handshake.extensions_alpn_str 2>/dev/null | head -1)
[[ $hello == $'www.example.org\th2,http/1.1' ]] || fail "ClientHello SNI/ALPN: '$hello'"
tls=$(gctl --json status c1 | jq -c .tls)
[[ $(jq -r .version <<<"$tls") == TLSv1.3 && $(jq -r .alpn <<<"$tls") == http/1.1 &&
    $(jq -r .peer_pin_sha256 <<<"$tls") == "$PIN" && $(jq -r .knock <<<"$tls") == true ]] ||
    fail "client tls status: $tls"
[[ $(profile_field hub '.listen[0].knocks_accepted') -ge 1 ]] || fail "hub counted no knock"
pass "tls+knock session works; capture has no SSH-2.0; ClientHello carries SNI and ALPN h2,http/1.1; status shows TLS details"

# ---------------------------------------------------------------- byte-exact both ways
curl -sS --max-time 300 -o "$T/down" --socks5-hostname "127.0.0.1:$SOCKS" "http://127.0.0.1:$HTTP/blob" ||
    fail "download over tls failed"
[[ $(sha_of "$T/down") == "$want" ]] || fail "download over tls is not byte-exact"
SINK=$(free_port)
socat -u TCP-LISTEN:"$SINK",bind=127.0.0.1,reuseaddr CREATE:"$T/up" 2>>"$T/socat.log" &
sink=$!
track_pid $sink
wait_for 10 "upload sink" port_listening "$SINK"
python3 "$(dirname "$0")/tools/socks_probe.py" pipe "$SOCKS" 127.0.0.1 "$SINK" <"$T/www/blob" >/dev/null ||
    fail "upload pipe failed"
wait $sink || true
[[ $(sha_of "$T/up") == "$want" ]] || fail "upload over tls is not byte-exact ($(stat -c %s "$T/up") bytes)"
pass "$MB MiB byte-exact over tls+knock, download and upload"

# ---------------------------------------------------------------- what everyone else sees
page=$(curl -sk --max-time 10 "https://127.0.0.1:$HUB/")
[[ $page == *"404 Not Found"* && $page == *nginx* ]] || fail "hub's web face: '$page'"
# A WebSocket upgrade to the knock path without, with a wrong, an expired or a replayed token.
upgrade() {  # upgrade COOKIE -> status line
    curl -sk --max-time 10 -o /dev/null -w '%{http_code}' "https://127.0.0.1:$HUB/ws" \
        -H 'Upgrade: websocket' -H 'Connection: Upgrade' -H 'Sec-WebSocket-Version: 13' \
        -H 'Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==' ${1:+-H "Cookie: sid=$1"}
}
[[ $(upgrade "") == 404 ]] || fail "upgrade without token was not a 404"
[[ $(upgrade "AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA") == 404 ]] ||
    fail "upgrade with a wrong token was not a 404"
before=$(profile_field hub '.listen[0].knocks_rejected')
[[ $before -ge 1 ]] || fail "wrong token not counted as a rejected knock"
# A bare SSH banner inside TLS gets the web server's answer, not SSH.
got=$(printf 'SSH-2.0-OpenSSH_9.2p1 Debian-2\r\n' |
    timeout 10 openssl s_client -quiet -connect 127.0.0.1:"$HUB" 2>/dev/null | head -c 200)
[[ $got == *"400 Bad Request"* && $got != *SSH-2.0* ]] || fail "bare banner on the knock port got: '$got'"
pass "probes get the 404 web server: plain GET, upgrade without/with wrong token, bare SSH banner"

# The whole probe battery against the hub and against a real stock nginx with the same
# certificate and a 404 site: identical transcripts (Date aside) and close behaviour.
NGX_TLS=$(free_port) NGX_PLAIN=$(free_port)
mkdir -p "$T/nginx"
cp "$CERT" "$T/nginx/cert.pem"
cp "$(dirname "$CERT")/tls.key" "$T/nginx/key.pem"
bash "$GHOST_SOURCE_DIR/tests/tools/nginx_reference.sh" "$T/nginx" "$NGX_TLS" "$NGX_PLAIN" >"$T/nginx.out" 2>&1 ||
    fail "reference nginx did not start: $(cat "$T/nginx.out")"
on_cleanup "kill \$(cat '$T/nginx/nginx.pid') 2>/dev/null || true"
wait_for 10 "reference nginx" port_listening "$NGX_TLS"
PROBE_HTTP="python3 $GHOST_SOURCE_DIR/tests/tools/http_probe.py"
# nginx's timeouts (60 s for the handshake and first request) run alongside the battery.
TIMEOUT_PROBES=(timeout_idle timeout_mid_request timeout_plain_on_tls)
to_pids=()
for p in "${TIMEOUT_PROBES[@]}"; do
    $PROBE_HTTP 127.0.0.1 "$NGX_TLS" --tls --only "$p" --timeouts 75 >"$T/to-nginx-$p.txt" 2>&1 &
    to_pids+=($!)
    $PROBE_HTTP 127.0.0.1 "$HUB" --tls --only "$p" --timeouts 75 >"$T/to-ghost-$p.txt" 2>&1 &
    to_pids+=($!)
done
$PROBE_HTTP 127.0.0.1 "$NGX_TLS" --tls >"$T/probe-nginx.txt" 2>"$T/probe-nginx.err" &
ngx_probe=$!
$PROBE_HTTP 127.0.0.1 "$HUB" --tls >"$T/probe-ghost.txt" 2>"$T/probe-ghost.err" || fail "probing ghost failed: $(cat "$T/probe-ghost.err")"
wait $ngx_probe || fail "probing nginx failed: $(cat "$T/probe-nginx.err")"
for pid in "${to_pids[@]}"; do wait "$pid" || fail "a timeout probe failed: $(cat "$T"/to-*.txt)"; done
for p in "${TIMEOUT_PROBES[@]}"; do
    # Seconds are compared loosely (both close at nginx's 60 s), everything else exactly.
    secs=$(grep -o 'after [0-9]*s' "$T/to-ghost-$p.txt" | tr -dc 0-9)
    [[ -n $secs && $secs -ge 58 && $secs -le 63 ]] || fail "$p: ghost closed after '${secs}' s: $(cat "$T/to-ghost-$p.txt")"
    diff <(sed 's/, after [0-9]*s//' "$T/to-nginx-$p.txt") <(sed 's/, after [0-9]*s//' "$T/to-ghost-$p.txt") ||
        fail "$p: ghost's timeout behaviour differs from nginx's"
done
probes=$(grep -c '^### ' "$T/probe-ghost.txt")
[[ $probes -ge 50 ]] || fail "the probe battery ran only $probes probes"
diff -u "$T/probe-nginx.txt" "$T/probe-ghost.txt" >"$T/probe.diff" ||
    fail "ghost's port answers probes differently from nginx: $(head -60 "$T/probe.diff")"
kill -0 "$GHOSTD_PID" || fail "ghostd died under the probes"
got=$(curl -sS --max-time 10 --socks5-hostname "127.0.0.1:$SOCKS" "http://localhost:$HTTP/index.html")
[[ $got == "hello from the target" ]] || fail "c1 broken by the probes: '$got'"
# Knocks with real but expired, future or replayed tokens: the same 404 as nginx gives.
answer() {  # answer PORT TOKEN -> status line, headers without Date, body
    curl -sk --http1.1 --max-time 10 -D - "https://127.0.0.1:$1/ws" -H 'Host: example.com' \
        -H 'Upgrade: websocket' -H 'Connection: Upgrade' -H 'Sec-WebSocket-Version: 13' \
        -H 'Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==' -H "Cookie: sid=$2" | grep -v '^Date:'
}
TOKEN="python3 $GHOST_SOURCE_DIR/tests/tools/knock_token.py $T/secret /ws"
rejected=$(profile_field hub '.listen[0].knocks_rejected')
for age in 3600 -3600; do
    tok=$($TOKEN --age $age)
    [[ "$(answer "$HUB" "$tok")" == "$(answer "$NGX_TLS" "$tok")" ]] || fail "token aged $age s answered unlike nginx"
done
tok=$($TOKEN)
first=$(curl -sk --http1.1 --max-time 5 -o /dev/null -w '%{http_code}' "https://127.0.0.1:$HUB/ws" \
    -H 'Upgrade: websocket' -H 'Connection: Upgrade' -H 'Sec-WebSocket-Version: 13' \
    -H 'Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==' -H "Cookie: sid=$tok" 2>/dev/null || true)
[[ $first == 101 ]] || fail "a fresh token was not accepted (HTTP $first)"
[[ "$(answer "$HUB" "$tok")" == "$(answer "$NGX_TLS" "$tok")" ]] || fail "a replayed token answered unlike nginx"
[[ $(profile_field hub '.listen[0].knocks_rejected') -ge $((rejected + 3)) ]] ||
    fail "expired/future/replayed knocks not counted as rejected"
pass "probe battery ($probes probes): ghost's TLS port and a stock nginx 404 site answer identically, also to expired, future and replayed tokens and in nginx's 60 s timeouts; c1 unaffected"

# ---------------------------------------------------------------- upstream fallback
page=$(curl -sk --max-time 10 "https://127.0.0.1:$FRONT/site.html")
[[ $page == "the real upstream site" ]] || fail "fallback to the upstream web server: '$page'"
[[ $(profile_field front '.listen[0].fallback_connections') -ge 1 ]] || fail "front counted no fallback"
pass "with a fallback upstream, curl through the ghost port gets the upstream's real page"

# ---------------------------------------------------------------- behind an nginx reverse proxy
# A CDN-like front: nginx terminates TLS (with the same certificate) and proxies the
# WebSocket upgrade on /ws as plain HTTP to the sniffing listener; everything else is
# nginx's own 404.
RP=$(free_port) SOCKS5RP=$(free_port)
mkdir -p "$T/rp"
cat >"$T/rp/nginx.conf" <<EOF
worker_processes 1;
pid $T/rp/nginx.pid;
error_log $T/rp/error.log;
events { worker_connections 256; }
http {
    access_log $T/rp/access.log;
    ssl_protocols TLSv1 TLSv1.1 TLSv1.2 TLSv1.3;  # as in Debian's nginx.conf
    client_body_temp_path $T/rp/body;
    proxy_temp_path $T/rp/proxy;
    fastcgi_temp_path $T/rp/fastcgi;
    uwsgi_temp_path $T/rp/uwsgi;
    scgi_temp_path $T/rp/scgi;
    server {
        listen 127.0.0.1:$RP ssl;
        ssl_certificate $T/nginx/cert.pem;
        ssl_certificate_key $T/nginx/key.pem;
        location /ws {
            proxy_pass http://127.0.0.1:$OMNI;
            proxy_http_version 1.1;
            proxy_set_header Upgrade \$http_upgrade;
            proxy_set_header Connection "upgrade";
            proxy_set_header Host \$host;
            proxy_read_timeout 1h;
        }
        location / { return 404; }
    }
}
EOF
/usr/sbin/nginx -p "$T/rp" -c "$T/rp/nginx.conf" -e "$T/rp/error.log" || fail "reverse proxy nginx did not start"
on_cleanup "kill \$(cat '$T/rp/nginx.pid') 2>/dev/null || true"
wait_for 10 "reverse proxy" port_listening "$RP"
HOSTFP=$(profile_field omni '.host_key.fingerprint') client viaproxy "$RP" "$SOCKS5RP" "{ \"type\": \"tls\", \"pin_sha256\": \"$PIN\", $knock }"
gctl reload >/dev/null
gctl up viaproxy >/dev/null || fail "up viaproxy: $(gctl status viaproxy 2>&1)"
got=$(curl -sS --max-time 10 --socks5-hostname "127.0.0.1:$SOCKS5RP" "http://localhost:$HTTP/index.html")
[[ $got == "hello from the target" ]] || fail "through the nginx reverse proxy: '$got'"
curl -sS --max-time 120 -o "$T/rp.recv" --socks5-hostname "127.0.0.1:$SOCKS5RP" "http://127.0.0.1:$HTTP/blob" ||
    fail "download through the reverse proxy failed"
[[ $(sha_of "$T/rp.recv") == "$want" ]] || fail "download through the reverse proxy is not byte-exact"
gctl down viaproxy >/dev/null
# nginx logs an upgraded request when the connection ends.
wait_for 10 "nginx access log" grep -q '"GET /ws HTTP/1.1" 101' "$T/rp/access.log"
pass "behind an nginx reverse proxy forwarding WebSocket, a ghost client reaches the server ($MB MiB byte-exact)"

# ---------------------------------------------------------------- bare SSH for stock ssh + ProxyCommand
stock_ssh_socks() {  # stock_ssh_socks PROXYCOMMAND HOST SOCKS_PORT [SSH_ARGS]: ssh -N -D through a ProxyCommand
    ssh -F /dev/null -i "$T/client" -o IdentitiesOnly=yes -o BatchMode=yes \
        -o StrictHostKeyChecking=no -o UserKnownHostsFile=/dev/null -o LogLevel=ERROR \
        -o ProxyCommand="$1" -N -D 127.0.0.1:"$3" "${@:4}" "ghost@$2" >"$T/ssh-$2.log" 2>&1 &
    local pid=$!
    track_pid $pid
    wait_for 15 "ssh -D via $2" port_listening "$3"
    got=$(curl -sS --max-time 10 --socks5-hostname "127.0.0.1:$3" "http://localhost:$HTTP/index.html")
    [[ $got == "hello from the target" ]] || fail "stock ssh via $2: '$got' ($(cat "$T/ssh-$2.log"))"
    kill $pid
}
stock_ssh_socks "openssl s_client -quiet -verify_quiet -connect 127.0.0.1:$BARE" bare "$SOCKS3"
pass "allow_bare_ssh: stock ssh with ProxyCommand='openssl s_client' reaches the server"

# ---------------------------------------------------------------- one port, three protocols
stock_ssh_socks none omni "$(free_port)" -o HostName=127.0.0.1 -p "$OMNI"
[[ $(curl -s --max-time 10 -o /dev/null -w '%{http_code}' "http://127.0.0.1:$OMNI/") == 404 ]] ||
    fail "plain HTTP on the sniffing port is not a 404"
[[ $(curl -sk --max-time 10 -o /dev/null -w '%{http_code}' "https://127.0.0.1:$OMNI/") == 404 ]] ||
    fail "HTTPS on the sniffing port is not a 404"
[[ $(profile_field omni '.listen[0].plain_ssh_connections') -ge 1 ]] || fail "omni counted no plain SSH"
pass "sniff: plain SSH (stock ssh), plain HTTP and HTTPS on one port; the knock also works in plain HTTP (behind the proxy above)"

# ---------------------------------------------------------------- ghostctl proxy-command for stock ssh
stock_ssh_socks "$GHOSTCTL --socket $GHOST_RUN/ghostd.sock proxy-command c1" hub "$(free_port)"
out=$("$GHOSTCTL" --socket "$GHOST_RUN/ghostd.sock" proxy-command hub 2>&1 </dev/null) &&
    fail "proxy-command on a server profile worked: $out"
[[ $out == *"not a client profile"* ]] || fail "proxy-command on a server profile: '$out'"
pass "ghostctl proxy-command gives stock ssh the tls+knock transport (secrets stay in ghostd)"

# ---------------------------------------------------------------- trust failures are clear and final
cp "$CERT" "$T/ca.pem"
bad() {  # bad NAME TRANSPORT_JSON EXPECTED_SUBSTRING
    client "$1" "$HUB" "$(free_port)" "$2"
    gctl reload >/dev/null
    gctl up "$1" >/dev/null 2>&1 && fail "$1 came up"
    wait_state "$1" failed 15
    local reason
    reason=$(profile_field "$1" .reason)
    [[ $reason == *"$3"* ]] || fail "$1: reason '$reason' lacks '$3'"
}
other_pin=$(head -c 32 /dev/urandom | base64)
bad badpin "{ \"type\": \"tls\", \"pin_sha256\": \"$other_pin\", $knock }" "pin mismatch: expected $other_pin, server has $PIN"
bad untrusted "{ \"type\": \"tls\", $knock }" "server certificate not trusted: self-signed certificate"
bad wrongname "{ \"type\": \"tls\", \"ca_file\": \"$T/ca.pem\", \"sni\": \"not-this-host.example\", $knock }" \
    "not valid for not-this-host.example"
head -c 32 /dev/urandom | base64 >"$T/other-secret"
chmod 600 "$T/other-secret"
bad badsecret "{ \"type\": \"tls\", \"pin_sha256\": \"$PIN\", \"knock\": { \"path\": \"/ws\", \"secret_file\": \"$T/other-secret\" } }" \
    "refused the knock: \"HTTP/1.1 404 Not Found\""
chmod 644 "$T/other-secret"
bad looseperm "{ \"type\": \"tls\", \"pin_sha256\": \"$PIN\", \"knock\": { \"path\": \"/ws\", \"secret_file\": \"$T/other-secret\" } }" \
    "accessible by group/others"
# A CA file that does verify the name works (the certificate names this host and 127.0.0.1).
client goodca "$HUB" "$SOCKS2" "{ \"type\": \"tls\", \"ca_file\": \"$T/ca.pem\", $knock }"
gctl reload >/dev/null
gctl up goodca >/dev/null || fail "up goodca: $(gctl status goodca 2>&1)"
got=$(curl -sS --max-time 10 --socks5-hostname "127.0.0.1:$SOCKS" "http://localhost:$HTTP/index.html")
[[ $got == "hello from the target" ]] || fail "c1 broken by the failed profiles: '$got'"
pass "wrong pin, untrusted certificate, name mismatch, wrong secret, loose secret file: failed with clear reasons; CA-verified profile and c1 unaffected"

# ---------------------------------------------------------------- server restart mid-transfer
curl -sS --max-time 120 --limit-rate 20M -o /dev/null --socks5-hostname "127.0.0.1:$SOCKS" \
    "http://127.0.0.1:$HTTP/blob" 2>/dev/null &
CURL=$!
sleep 0.5
gctl down hub >/dev/null
gctl up hub >/dev/null || fail "hub back up"
wait $CURL 2>/dev/null && log "note: transfer finished before the restart"
wait_for 30 "c1 reconnected" bash -c \
    "[[ \$('$GHOSTCTL' --socket '$GHOST_RUN/ghostd.sock' --json status c1 | jq -r .state) == up ]]"
got=$(curl -sS --max-time 10 --socks5-hostname "127.0.0.1:$SOCKS" "http://localhost:$HTTP/index.html")
[[ $got == "hello from the target" ]] || fail "after server restart: '$got'"
pass "server restart mid-transfer: c1 reconnects over tls+knock and works again"

kill -0 "$GHOSTD_PID" || fail "ghostd died"

#!/usr/bin/env bash
# ghost's main job on loopback, start to finish: one ghostd runs a server profile and a
# client profile (SOCKS5 proxy + a local forward) that connects to it; traffic goes through,
# a stock OpenSSH client uses the same server, then everything is cleaned up.
#
#   curl ──socks5──▶ client "demo" 127.0.0.1:$SOCKS ──ssh──▶ server "edge" 127.0.0.1:$EDGE ──▶ web 127.0.0.1:$WEB
#   curl ──────────▶ client "demo" 127.0.0.1:$FWD  ──┘ (-L forward)
#   curl ──socks5──▶ ssh -N -D 127.0.0.1:$SSHD_SOCKS ──ssh──▶ server "edge"
#
# Then TUN mode, in three network namespaces of its own (nothing on the host changes): a
# laptop reaches an office web server with no proxy settings, through the office gateway.
#
#   ns laptop                           ns gateway                        ns wiki
#   curl ─▶ ghost0 (route 10.77.2.0/24)  server "gateway" 10.77.1.1:22 ─▶ web 10.77.2.10:80
#   ghostd, client "office" 10.77.1.2 ══ veth ══ 10.77.1.1   10.77.2.1 ══ veth ══ 10.77.2.10
set -euo pipefail
cd "$(dirname "$0")/.."

./scripts/setup.sh
BUILD=${BUILD:-build/release}
echo "== building ghostd and ghostctl in $BUILD"
cmake -S . -B "$BUILD" -DCMAKE_BUILD_TYPE=RelWithDebInfo >/dev/null
cmake --build "$BUILD" -j2 --target ghostd ghostctl >/dev/null
GHOSTD=$PWD/$BUILD/daemon/ghostd
GHOSTCTL=$PWD/$BUILD/ctl/ghostctl

D=$(mktemp -d /tmp/ghost-demo.XXXXXX)
PIDS=()
NETNS=()
cleanup() {
    set +e
    for p in "${PIDS[@]}"; do kill "$p" 2>/dev/null; done
    wait 2>/dev/null
    for ns in "${NETNS[@]}"; do ip netns del "$ns" 2>/dev/null; done
    [[ -n ${KEEP:-} ]] && echo "kept $D" || rm -rf "$D"
    echo "== cleaned up"
}
trap cleanup EXIT
step() { printf '\n\033[1m== %s\033[0m\n' "$*"; }
run() { printf '$ %s\n' "$*"; "$@"; }
# free_ports N: N distinct free ports below the kernel's ephemeral range, so no outgoing
# connection made by the demo can take one before its listener binds.
free_ports() {
    python3 - "$1" <<'PY'
import random, socket, sys
lo = int(open("/proc/sys/net/ipv4/ip_local_port_range").read().split()[0])
ports = []
while len(ports) < int(sys.argv[1]):
    p = random.randint(10000, max(lo - 1, 20000))
    try:
        socket.socket().bind(("127.0.0.1", p))
    except OSError:
        continue
    if p not in ports:
        ports.append(p)
print(*ports)
PY
}
wait_port() { for _ in $(seq 100); do (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null && return; sleep 0.1; done; return 1; }

read -r EDGE WEB SOCKS FWD SSHD_SOCKS STEALTH STEALTH_SOCKS < <(free_ports 7)
mkdir -p "$D/etc/profiles" "$D/run" "$D/state" "$D/www"
echo "hello from behind the ghost server" >"$D/www/index.html"

step "a web server only the server's side can see (127.0.0.1:$WEB)"
python3 -m http.server "$WEB" --bind 127.0.0.1 --directory "$D/www" >"$D/web.log" 2>&1 &
PIDS+=($!)
wait_port "$WEB"

step "a client key, authorised on the server"
ssh-keygen -q -t ed25519 -N '' -f "$D/client_key" -C demo@ghost
cp "$D/client_key.pub" "$D/authorized_keys"

step "a server profile: SSH tunnels on 127.0.0.1:$EDGE, no shell"
cat >"$D/etc/profiles/edge.json" <<JSON
{
  "role": "server",
  "listen": [ { "address": "127.0.0.1:$EDGE" } ],
  "authorized_keys": "$D/authorized_keys",
  // the demo's web server is on loopback, which the default ACL refuses
  "acl": { "deny_loopback": false }
}
JSON
cat "$D/etc/profiles/edge.json"
run "$GHOSTCTL" check "$D/etc/profiles/edge.json"

step "ghostd in the foreground on a temp dir"
"$GHOSTD" --foreground --config-dir "$D/etc" --runtime-dir "$D/run" --state-dir "$D/state" >"$D/ghostd.log" 2>&1 &
PIDS+=($!)
for _ in $(seq 100); do [[ -S $D/run/ghostd.sock ]] && break; sleep 0.1; done
export GHOST_SOCKET=$D/run/ghostd.sock

run "$GHOSTCTL" list
run "$GHOSTCTL" up edge
run "$GHOSTCTL" status edge
FP=$("$GHOSTCTL" --json status edge | python3 -c 'import json,sys; print(json.load(sys.stdin)["host_key"]["fingerprint"])')

step "a client profile: SOCKS5 on :$SOCKS and a forward :$FWD -> 127.0.0.1:$WEB, host key $FP pinned"
cat >"$D/etc/profiles/demo.json" <<JSON
{
  // connect to the server profile, pin its host key, use the authorised key
  "server": "127.0.0.1:$EDGE",
  "ssh": { "user": "demo", "identity_file": "$D/client_key", "host_key": "$FP" },
  "socks5": { "listen": "127.0.0.1:$SOCKS" },
  "forward": [ { "listen": "127.0.0.1:$FWD", "target": "127.0.0.1:$WEB" } ]
}
JSON
cat "$D/etc/profiles/demo.json"
run "$GHOSTCTL" check "$D/etc/profiles/demo.json"
run "$GHOSTCTL" reload
run "$GHOSTCTL" up demo
run "$GHOSTCTL" status demo

step "traffic through the tunnel"
run curl -sS --max-time 10 --socks5-hostname "127.0.0.1:$SOCKS" "http://localhost:$WEB/"
run curl -sS --max-time 10 "http://127.0.0.1:$FWD/"
run "$GHOSTCTL" status demo

step "a stock OpenSSH client through the same server"
"$GHOSTCTL" --json status edge | python3 -c 'import json,sys; print("\n".join(json.load(sys.stdin)["known_hosts"]))' >"$D/known_hosts"
ssh -F /dev/null -N -o BatchMode=yes -o IdentitiesOnly=yes -o UserKnownHostsFile="$D/known_hosts" \
    -o ExitOnForwardFailure=yes -i "$D/client_key" -p "$EDGE" -D "127.0.0.1:$SSHD_SOCKS" demo@127.0.0.1 \
    2>"$D/ssh.log" &
PIDS+=($!)
wait_port "$SSHD_SOCKS"
run curl -sS --max-time 10 --socks5-hostname "127.0.0.1:$SSHD_SOCKS" "http://localhost:$WEB/"
run "$GHOSTCTL" sessions edge

step "stealth: SSH inside TLS behind a WebSocket knock on 127.0.0.1:$STEALTH"
cat >"$D/etc/profiles/stealth.json" <<JSON
{
  "role": "server",
  // no certificate configured: ghostd makes a self-signed one; the knock secret is created too
  "listen": [ { "address": "127.0.0.1:$STEALTH",
                "transport": { "type": "tls", "knock": { "path": "/ws", "secret_file": "$D/knock.secret" } } } ],
  "authorized_keys": "$D/authorized_keys",
  "acl": { "deny_loopback": false }
}
JSON
run "$GHOSTCTL" reload
run "$GHOSTCTL" up stealth
PIN=$("$GHOSTCTL" --json status stealth | python3 -c 'import json,sys; print(json.load(sys.stdin)["listen"][0]["certificate"]["pin_sha256"])')
SFP=$("$GHOSTCTL" --json status stealth | python3 -c 'import json,sys; print(json.load(sys.stdin)["host_key"]["fingerprint"])')
cat >"$D/etc/profiles/hidden.json" <<JSON
{
  "server": "127.0.0.1:$STEALTH",
  "transport": { "type": "tls", "pin_sha256": "$PIN",
                 "knock": { "path": "/ws", "secret_file": "$D/knock.secret" } },
  "ssh": { "user": "demo", "identity_file": "$D/client_key", "host_key": "$SFP" },
  "socks5": { "listen": "127.0.0.1:$STEALTH_SOCKS" }
}
JSON
cat "$D/etc/profiles/hidden.json"
run "$GHOSTCTL" reload
run "$GHOSTCTL" up hidden
run curl -sS --max-time 10 --socks5-hostname "127.0.0.1:$STEALTH_SOCKS" "http://localhost:$WEB/"
"$GHOSTCTL" --json status hidden | python3 -c 'import json,sys; print("tls:", json.load(sys.stdin)["tls"])'
echo "and what anyone else sees on that port (an nginx 404 site):"
run curl -sk --max-time 10 "https://127.0.0.1:$STEALTH/"

step "TUN mode: an office network reachable with no proxy settings (namespaces laptop, gateway, wiki)"
LAPTOP=ghost-demo-laptop-$$ GATEWAY=ghost-demo-gateway-$$ WIKI=ghost-demo-wiki-$$
for ns in "$LAPTOP" "$GATEWAY" "$WIKI"; do ip netns add "$ns"; NETNS+=("$ns"); ip -n "$ns" link set lo up; done
ip link add demo-l$$ netns "$LAPTOP" type veth peer name demo-g$$ netns "$GATEWAY"
ip link add demo-o$$ netns "$GATEWAY" type veth peer name demo-w$$ netns "$WIKI"
ip -n "$LAPTOP" addr add 10.77.1.2/24 dev demo-l$$
ip -n "$GATEWAY" addr add 10.77.1.1/24 dev demo-g$$
ip -n "$GATEWAY" addr add 10.77.2.1/24 dev demo-o$$
ip -n "$WIKI" addr add 10.77.2.10/24 dev demo-w$$
for l in "$LAPTOP:demo-l$$" "$GATEWAY:demo-g$$" "$GATEWAY:demo-o$$" "$WIKI:demo-w$$"; do
    ip -n "${l%%:*}" link set "${l#*:}" up
done
mkdir -p "$D/wiki"
echo "hello from the office wiki (10.77.2.10)" >"$D/wiki/index.html"
ip netns exec "$WIKI" python3 -m http.server 80 --bind 10.77.2.10 --directory "$D/wiki" >"$D/wiki.log" 2>&1 &
PIDS+=($!)
# one ghostd per namespace, each with its own directories and control socket; no system
# bus for them (systemd-resolved, if the host runs it, belongs to the host's namespace)
ns_ghostd() {  # ns_ghostd NS NAME
    mkdir -p "$D/$2/etc/profiles" "$D/$2/run" "$D/$2/state"
    DBUS_SYSTEM_BUS_ADDRESS=unix:path=$D/no-bus ip netns exec "$1" "$GHOSTD" --foreground \
        --config-dir "$D/$2/etc" --runtime-dir "$D/$2/run" --state-dir "$D/$2/state" >"$D/$2.log" 2>&1 &
    PIDS+=($!)
    for _ in $(seq 100); do [[ -S $D/$2/run/ghostd.sock ]] && break; sleep 0.1; done
}
cat >"$D/gw.json" <<JSON
{ "role": "server", "listen": [ { "address": "10.77.1.1:22" } ], "authorized_keys": "$D/authorized_keys" }
JSON
mkdir -p "$D/gw/etc/profiles" && cp "$D/gw.json" "$D/gw/etc/profiles/gateway.json"
ns_ghostd "$GATEWAY" gw
gw() { run "$GHOSTCTL" --socket "$D/gw/run/ghostd.sock" "$@"; }
laptop() { run "$GHOSTCTL" --socket "$D/laptop/run/ghostd.sock" "$@"; }
gw up gateway
GFP=$("$GHOSTCTL" --socket "$D/gw/run/ghostd.sock" --json status gateway |
      python3 -c 'import json,sys; print(json.load(sys.stdin)["host_key"]["fingerprint"])')
ns_ghostd "$LAPTOP" laptop
cat >"$D/laptop/etc/profiles/office.json" <<JSON
{
  // the gateway's SSH server; the office subnet is routed through a TUN device
  "server": "10.77.1.1:22",
  "ssh": { "user": "demo", "identity_file": "$D/client_key", "host_key": "$GFP" },
  "tun": { "routes": ["10.77.2.0/24"] }
}
JSON
cat "$D/laptop/etc/profiles/office.json"
ip -n "$LAPTOP" -4 route show table all >"$D/routes.before"
ip -n "$LAPTOP" rule show >>"$D/routes.before"
echo "the laptop before: no route to the office"
run ip -n "$LAPTOP" route
run ip netns exec "$LAPTOP" curl -sS --max-time 2 "http://10.77.2.10/" || true
laptop reload >/dev/null
laptop up office
run ip -n "$LAPTOP" route
run ip netns exec "$LAPTOP" curl -sS --max-time 10 "http://10.77.2.10/"
sleep 0.5  # the TUN figures in status are published every 250 ms
laptop status office
gw sessions gateway
laptop down office
ip -n "$LAPTOP" -4 route show table all >"$D/routes.after"
ip -n "$LAPTOP" rule show >>"$D/routes.after"
if diff -u "$D/routes.before" "$D/routes.after"; then
    echo "after down: the laptop's routes and rules are exactly as before"
else
    echo "after down: routes or rules differ (above)" >&2
    exit 1
fi
gw down gateway

step "down"
run "$GHOSTCTL" down hidden
run "$GHOSTCTL" down stealth
run "$GHOSTCTL" down demo
run "$GHOSTCTL" down edge
run "$GHOSTCTL" list

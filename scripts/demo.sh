#!/usr/bin/env bash
# ghost's main job on loopback, start to finish: a throwaway OpenSSH server, ghostd with a
# client profile (SOCKS5 proxy + a local forward), traffic through it, then cleanup.
#
#   curl ──socks5──▶ ghostd 127.0.0.1:$SOCKS ──ssh──▶ sshd 127.0.0.1:$SSHD ──▶ web 127.0.0.1:$WEB
#   curl ──────────▶ ghostd 127.0.0.1:$FWD  ──┘ (-L forward)
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
cleanup() {
    set +e
    for p in "${PIDS[@]}"; do kill "$p" 2>/dev/null; done
    wait 2>/dev/null
    [[ -n ${KEEP:-} ]] && echo "kept $D" || rm -rf "$D"
    echo "== cleaned up"
}
trap cleanup EXIT
step() { printf '\n\033[1m== %s\033[0m\n' "$*"; }
run() { printf '$ %s\n' "$*"; "$@"; }
free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }
wait_port() { for _ in $(seq 100); do (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null && return; sleep 0.1; done; return 1; }

SSHD=$(free_port) WEB=$(free_port) SOCKS=$(free_port) FWD=$(free_port)
mkdir -p "$D/sshd" "$D/etc/profiles" "$D/run" "$D/state" "$D/www" /run/sshd
echo "hello from behind the SSH server" >"$D/www/index.html"

step "a web server only the SSH server's side can see (127.0.0.1:$WEB)"
python3 -m http.server "$WEB" --bind 127.0.0.1 --directory "$D/www" >"$D/web.log" 2>&1 &
PIDS+=($!)
wait_port "$WEB"

step "a throwaway OpenSSH sshd on 127.0.0.1:$SSHD (own config in a temp dir)"
ssh-keygen -q -t ed25519 -N '' -f "$D/sshd/host_key"
ssh-keygen -q -t ed25519 -N '' -f "$D/client_key" -C demo@ghost
cp "$D/client_key.pub" "$D/sshd/authorized_keys"
cat >"$D/sshd/config" <<CFG
ListenAddress 127.0.0.1:$SSHD
HostKey $D/sshd/host_key
AuthorizedKeysFile $D/sshd/authorized_keys
PasswordAuthentication no
KbdInteractiveAuthentication no
AllowTcpForwarding yes
UsePAM no
StrictModes no
PidFile $D/sshd/pid
CFG
/usr/sbin/sshd -D -e -f "$D/sshd/config" >"$D/sshd.log" 2>&1 &
PIDS+=($!)
wait_port "$SSHD"
FP=$(ssh-keygen -l -E sha256 -f "$D/sshd/host_key.pub" | awk '{print $2}')

step "a client profile: SOCKS5 on :$SOCKS and a forward :$FWD -> 127.0.0.1:$WEB, host key pinned"
cat >"$D/etc/profiles/demo.json" <<JSON
{
  // connect to the SSH server, pin its host key, use a key file
  "server": "127.0.0.1:$SSHD",
  "ssh": { "user": "root", "identity_file": "$D/client_key", "host_key": "$FP" },
  "socks5": { "listen": "127.0.0.1:$SOCKS" },
  "forward": [ { "listen": "127.0.0.1:$FWD", "target": "127.0.0.1:$WEB" } ]
}
JSON
cat "$D/etc/profiles/demo.json"
run "$GHOSTCTL" check "$D/etc/profiles/demo.json"

step "ghostd in the foreground on a temp dir"
"$GHOSTD" --foreground --config-dir "$D/etc" --runtime-dir "$D/run" --state-dir "$D/state" >"$D/ghostd.log" 2>&1 &
PIDS+=($!)
for _ in $(seq 100); do [[ -S $D/run/ghostd.sock ]] && break; sleep 0.1; done
export GHOST_SOCKET=$D/run/ghostd.sock

run "$GHOSTCTL" list
run "$GHOSTCTL" up demo
run "$GHOSTCTL" status demo

step "traffic through the tunnel"
run curl -sS --max-time 10 --socks5-hostname "127.0.0.1:$SOCKS" "http://localhost:$WEB/"
run curl -sS --max-time 10 "http://127.0.0.1:$FWD/"
run "$GHOSTCTL" status demo

step "down"
run "$GHOSTCTL" down demo
run "$GHOSTCTL" list

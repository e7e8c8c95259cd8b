# Shared helpers for ghost integration tests. Source it:
#   . "$(dirname "$0")/lib.sh"
# Provides: a per-run temp dir ($T) removed on exit, process tracking + cleanup trap,
# wait_for, free_port, a throwaway OpenSSH sshd, a ghostd in a temp dir, netns helpers.
# Environment (set by ctest): GHOSTD, GHOSTCTL, GHOST_SOURCE_DIR, GHOST_BUILD_DIR.

set -euo pipefail

: "${GHOST_BUILD_DIR:=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)/build}"
: "${GHOSTD:=$GHOST_BUILD_DIR/daemon/ghostd}"
: "${GHOSTCTL:=$GHOST_BUILD_DIR/ctl/ghostctl}"

T=$(mktemp -d /tmp/ghost-test.XXXXXX)
chmod 755 "$T"
RUN_ID=$(basename "$T" | tr -dc 'a-zA-Z0-9' | tail -c 6)
_PIDS=()
_NETNS=()
_CLEANUP_HOOKS=()

log() { printf '[%s] %s\n' "$(date +%H:%M:%S)" "$*" >&2; }
# has PATTERN...: grep for use at the end of a pipe. Unlike `grep -q` it reads all of its
# input, so the writer never dies of SIGPIPE (which pipefail would report as a failure).
has() { grep "$@" >/dev/null; }
fail() {
    log "FAIL: $*"
    exit 1
}
pass() { log "ok: $*"; }

# track_pid PID: killed (with its children) on exit.
track_pid() { _PIDS+=("$1"); }

# on_cleanup CMD...: run at exit (last registered runs first).
on_cleanup() { _CLEANUP_HOOKS+=("$*"); }

kill_tree() {
    local pid=$1 sig=${2:-TERM} child
    for child in $(pgrep -P "$pid" 2>/dev/null || true); do kill_tree "$child" "$sig"; done
    kill -"$sig" "$pid" 2>/dev/null || true
}

_cleanup() {
    local rc=$? i
    set +e
    for ((i = ${#_CLEANUP_HOOKS[@]} - 1; i >= 0; i--)); do eval "${_CLEANUP_HOOKS[$i]}"; done
    for pid in "${_PIDS[@]}"; do kill_tree "$pid" TERM; done
    sleep 0.2
    for pid in "${_PIDS[@]}"; do kill_tree "$pid" KILL; done
    for ns in "${_NETNS[@]}" $(cat "$T/.netns" 2>/dev/null); do ip netns del "$ns" 2>/dev/null; done
    if [[ $rc -ne 0 ]]; then
        log "test failed (rc=$rc); logs:"
        for f in "$T"/*.log; do
            [[ -f $f ]] || continue
            echo "----- $f (last 40 lines)" >&2
            tail -n 40 "$f" >&2
        done
    fi
    [[ -n ${KEEP_TMP:-} ]] || rm -rf "$T"
    exit $rc
}
trap _cleanup EXIT

# wait_for TIMEOUT_S DESCRIPTION CMD...: polls CMD every 0.1 s until it succeeds.
wait_for() {
    local timeout=$1 what=$2
    shift 2
    local deadline=$((SECONDS + timeout))
    until "$@" >/dev/null 2>&1; do
        ((SECONDS < deadline)) || fail "timed out after ${timeout}s waiting for: $what"
        sleep 0.1
    done
}

# free_port: prints a TCP port free on 127.0.0.1, taken from below the kernel's ephemeral
# range so that no outgoing connection made later in the test can hold it, and never the
# same port twice in one test (ports handed out are remembered in $T/ports).
free_port() {
    python3 - "$T/ports" <<'PY'
import random, socket, sys
lo, _ = map(int, open("/proc/sys/net/ipv4/ip_local_port_range").read().split())
hi = max(lo - 1, 20000)
taken = set()
try:
    taken = {int(x) for x in open(sys.argv[1]).read().split()}
except OSError:
    pass
for _ in range(1000):
    port = random.randint(10000, hi)
    if port in taken:
        continue
    s = socket.socket()
    try:
        s.bind(("127.0.0.1", port))
    except OSError:
        continue
    finally:
        s.close()
    with open(sys.argv[1], "a") as f:
        f.write(f"{port}\n")
    print(port)
    sys.exit(0)
sys.exit("free_port: no free port below the ephemeral range")
PY
}

port_open() { (exec 3<>"/dev/tcp/${2:-127.0.0.1}/$1") 2>/dev/null; }

# port_listening PORT: true when something listens on TCP PORT (without connecting to it,
# so single-connection servers like `socat TCP-LISTEN` without fork are not consumed).
port_listening() { ss -Hltn "sport = :$1" | has .; }

# ---------------------------------------------------------------- OpenSSH sshd

# in_ns NS CMD...: runs CMD in network namespace NS, or here when NS is empty.
in_ns() {
    local ns=$1
    shift
    if [[ -n $ns ]]; then ip netns exec "$ns" "$@"; else "$@"; fi
}

# start_sshd [EXTRA_CONFIG_LINE...]: throwaway sshd on $SSHD_ADDR:$SSHD_PORT (default
# 127.0.0.1), inside namespace $SSHD_NS when set.
# Sets SSHD_DIR, SSHD_PORT, SSHD_PID, SSHD_HOSTKEY (pub file), SSHD_FP (SHA256:...),
# SSHD_AUTH (authorized_keys file). Call again after stop_sshd to restart on the same port.
start_sshd() {
    SSHD_DIR=${SSHD_DIR:-$T/sshd}
    mkdir -p "$SSHD_DIR" /run/sshd
    chmod 755 "$SSHD_DIR"
    [[ -f $SSHD_DIR/host_ed25519 ]] || ssh-keygen -q -t ed25519 -N '' -f "$SSHD_DIR/host_ed25519"
    SSHD_HOSTKEY=$SSHD_DIR/host_ed25519.pub
    SSHD_FP=$(ssh-keygen -l -E sha256 -f "$SSHD_HOSTKEY" | awk '{print $2}')
    SSHD_AUTH=$SSHD_DIR/authorized_keys
    touch "$SSHD_AUTH"
    SSHD_PORT=${SSHD_PORT:-$(free_port)}
    {
        echo "ListenAddress ${SSHD_ADDR:-127.0.0.1}:$SSHD_PORT"
        echo "HostKey $SSHD_DIR/host_ed25519"
        echo "PidFile $SSHD_DIR/sshd.pid"
        echo "AuthorizedKeysFile $SSHD_AUTH"
        echo "PasswordAuthentication no"
        echo "KbdInteractiveAuthentication no"
        echo "PubkeyAuthentication yes"
        echo "PermitRootLogin prohibit-password"
        echo "AllowTcpForwarding yes"
        echo "UsePAM no"
        echo "StrictModes no"
        echo "LogLevel VERBOSE"
        for line in "$@"; do echo "$line"; done
    } >"$SSHD_DIR/sshd_config"
    in_ns "${SSHD_NS:-}" /usr/sbin/sshd -D -e -f "$SSHD_DIR/sshd_config" >>"$T/sshd.log" 2>&1 &
    SSHD_PID=$!
    track_pid "$SSHD_PID"
    wait_for 10 "sshd on port $SSHD_PORT" in_ns "${SSHD_NS:-}" bash -c \
        "ss -Hltn 'sport = :$SSHD_PORT' | grep -q ."
}

# stop_sshd: kills the listener and every session process it forked.
stop_sshd() {
    kill_tree "$SSHD_PID" KILL
    wait "$SSHD_PID" 2>/dev/null || true
}

# authorize_key PUBFILE_OR_LINE: appends a public key to sshd's authorized_keys.
authorize_key() {
    if [[ -f $1 ]]; then cat "$1" >>"$SSHD_AUTH"; else echo "$1" >>"$SSHD_AUTH"; fi
}

# ---------------------------------------------------------------- ghostd

# ghost_dirs: sets GHOST_ETC, GHOST_RUN, GHOST_STATE ($T/{etc,run,state}) and creates them,
# so profiles can be written before start_ghostd.
ghost_dirs() {
    GHOST_ETC=$T/etc GHOST_RUN=$T/run GHOST_STATE=$T/state
    mkdir -p "$GHOST_ETC/profiles" "$GHOST_RUN" "$GHOST_STATE"
}

# start_ghostd: ghostd in $T/{etc,run,state} (inside namespace $GHOSTD_NS when set), log
# level debug unless ghostd.json exists; GHOSTD_PID is ghostd's own pid. Talk to it with gctl.
start_ghostd() {
    ghost_dirs
    [[ -f $GHOST_ETC/ghostd.json ]] || echo '{ "log_level": "debug" }' >"$GHOST_ETC/ghostd.json"
    local args=(--foreground --config-dir "$GHOST_ETC" --runtime-dir "$GHOST_RUN" --state-dir "$GHOST_STATE")
    if [[ -n ${GHOSTD_NS:-} ]]; then
        ip netns exec "$GHOSTD_NS" "$GHOSTD" "${args[@]}" >>"$T/ghostd.log" 2>&1 &
    else
        "$GHOSTD" "${args[@]}" >>"$T/ghostd.log" 2>&1 &
    fi
    GHOSTD_PID=$!
    track_pid "$GHOSTD_PID"
    wait_for 10 "ghostd control socket" test -S "$GHOST_RUN/ghostd.sock"
}

# stop_ghostd: SIGTERM to ghostd (not just the wrapper shell) and wait until it is gone.
stop_ghostd() {
    kill_tree "$GHOSTD_PID" TERM
    wait "$GHOSTD_PID" 2>/dev/null || true
    _ghostd_gone() { ! pgrep -f -- "--runtime-dir $GHOST_RUN " >/dev/null; }
    wait_for 20 "ghostd to exit" _ghostd_gone
}

gctl() { "$GHOSTCTL" --socket "$GHOST_RUN/ghostd.sock" "$@"; }

# write_profile NAME JSON: writes $GHOST_ETC/profiles/NAME.json.
write_profile() { printf '%s\n' "$2" >"$GHOST_ETC/profiles/$1.json"; }

# profile_field NAME JQ_FILTER: prints a field of `ghostctl --json status NAME`.
profile_field() { gctl --json status "$1" | jq -r "$2"; }

# wait_state NAME STATE [TIMEOUT]
wait_state() {
    local name=$1 want=$2 timeout=${3:-20}
    _state_is() { [[ $(profile_field "$1" '.. | objects | select(has("state")) | .state' | head -1) == "$2" ]]; }
    wait_for "$timeout" "profile $name state $want" _state_is "$name" "$want"
}

# ghostd_in NS NAME: a ghostd of its own in namespace NS under $T/NAME (profiles written
# before into $T/NAME/etc/profiles), its pid in GPID[NAME]; gctl_in NAME ARGS... drives it.
declare -A GPID
ghostd_in() {
    local d=$T/$2
    mkdir -p "$d/etc/profiles" "$d/run" "$d/state"
    [[ -f $d/etc/ghostd.json ]] || echo '{ "log_level": "info" }' >"$d/etc/ghostd.json"
    ip netns exec "$1" "$GHOSTD" --foreground --config-dir "$d/etc" --runtime-dir "$d/run" \
        --state-dir "$d/state" >>"$T/ghostd-$2.log" 2>&1 &
    GPID[$2]=$!
    track_pid $!
    wait_for 10 "ghostd $2 control socket" test -S "$d/run/ghostd.sock"
}
gctl_in() {
    local who=$1
    shift
    "$GHOSTCTL" --socket "$T/$who/run/ghostd.sock" "$@"
}

# ---------------------------------------------------------------- netns

# net_snapshot NS: rules, routes of every table, addresses and links of namespace NS, for
# comparing before/after (address lifetimes, which count down, are left out). Waits for
# IPv6 duplicate address detection to settle first (it adds routes when it finishes).
net_snapshot() {
    _no_tentative() { ! ip -n "$1" addr | has tentative; }
    wait_for 10 "IPv6 DAD in $1" _no_tentative "$1"
    {
        ip -n "$1" rule
        ip -n "$1" -4 route show table all
        ip -n "$1" -6 route show table all
        ip -n "$1" addr
        ip -n "$1" link
    } 2>&1 | sed -E 's/ (valid_lft|preferred_lft) [^ ]+//g'
}

# netns_create SUFFIX: creates namespace ghost-$RUN_ID-SUFFIX (deleted on exit), prints name.
# Registered in a file, not only the array, because callers usually run it in $(...).
netns_create() {
    local ns=ghost-$RUN_ID-$1
    ip netns add "$ns"
    _NETNS+=("$ns")
    echo "$ns" >>"$T/.netns"
    ip -n "$ns" link set lo up
    echo "$ns"
}

# netns_veth NS_A NS_B IP_A/PLEN IP_B/PLEN: veth pair between two namespaces.
netns_veth() {
    _VETH_N=$((${_VETH_N:-0} + 1))
    local a=$1 b=$2 ipa=$3 ipb=$4 va=v${RUN_ID}a${_VETH_N} vb=v${RUN_ID}b${_VETH_N}
    ip link add "$va" netns "$a" type veth peer name "$vb" netns "$b"
    ip -n "$a" addr add "$ipa" dev "$va"
    ip -n "$b" addr add "$ipb" dev "$vb"
    ip -n "$a" link set "$va" up
    ip -n "$b" link set "$vb" up
}

# ---------------------------------------------------------------- data checks

# sha_of FILE
sha_of() { sha256sum "$1" | awk '{print $1}'; }

# make_blob FILE MB: random test data.
make_blob() { head -c "$(($2 * 1024 * 1024))" /dev/urandom >"$1"; }

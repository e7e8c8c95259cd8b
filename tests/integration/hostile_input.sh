#!/usr/bin/env bash
# Hostile configuration input (issue 13 items 1, 7, 8): JSON nested 100,000 deep, and
# profile files that are not plain files, fed to a real ghostd while another profile runs:
#
#   nobody: rpc_probe.py, ghostctl check --daemon ──unix socket──▶ ghostd ──▶ server "hub"
#   root:   ghostctl reload / status / check ──────┘                  127.0.0.1:$HUB
#   $GHOST_ETC/profiles: deep.json, fifo.json, loop.json, dangling.json, zero.json (→ /dev/zero),
#                        x.json/ (a directory), big.json (2 MiB)
#
# Checks: every bad input gets an error naming the file (or request) and what is wrong with
# it (depth and line for deep JSON); nothing blocks; ghostd stays up; "hub" stays up and keeps
# answering SSH; config.check never opens a path a caller names; a too-deep ghostd.json stops
# ghostd at start with a message naming the file and line.
. "$(dirname "$0")/lib.sh"

# The system python: a per-user python (pyenv shims under /root) is not runnable by nobody.
PROBE="/usr/bin/python3 $(dirname "$0")/tools/rpc_probe.py"
as_nobody() { setpriv --reuid=nobody --regid=nogroup --clear-groups "$@"; }
deep_json() { python3 -c "import sys; n=100000; print('{\"server\": \"127.0.0.1:22\",\n \"x\": ' + '['*n + ']'*n + '}')"; }

# expect_rc CODE CMD...: runs CMD (stdout+stderr to $T/out), fails unless it exits CODE.
expect_rc() {
    local want=$1 rc=0
    shift
    "$@" >"$T/out" 2>&1 || rc=$?
    [[ $rc == "$want" ]] || fail "'$*' exited $rc, expected $want: $(head -c 600 "$T/out")"
}
# expect_out TEXT: the last expect_rc's output contains TEXT.
expect_out() { grep -qF -- "$1" "$T/out" || fail "output lacks '$1': $(head -c 600 "$T/out")"; }

# hub_works: ghostd is alive, "hub" is up and its listener speaks SSH.
hub_works() {
    kill -0 "$GHOSTD_PID" || fail "ghostd died"
    [[ $(profile_field hub .state) == up ]] || fail "hub is $(profile_field hub .state)"
    exec 3<>"/dev/tcp/127.0.0.1/$HUB"
    local banner
    read -r -t 5 banner <&3 || true
    exec 3<&-
    [[ $banner == SSH-2.0-* ]] || fail "hub does not answer SSH: '$banner'"
}

ghost_dirs
HUB=$(free_port)
touch "$T/authorized_keys"
write_profile hub "{ \"role\": \"server\", \"listen\": [ { \"address\": \"127.0.0.1:$HUB\" } ],
  \"authorized_keys\": \"$T/authorized_keys\" }"
start_ghostd
gctl up hub >/dev/null || fail "hub did not come up"
hub_works
SOCK=$GHOST_RUN/ghostd.sock

log "100,000 levels over the socket, as nobody"
as_nobody $PROBE "$SOCK" deep_request || fail "deep_request"
hub_works
pass "deep request refused (-32600, names the depth); ghostd and hub fine"

log "config.check takes content: deep content, and no path oracle (as nobody)"
as_nobody $PROBE "$SOCK" deep_config_check || fail "deep_config_check"
as_nobody $PROBE "$SOCK" config_check_no_oracle || fail "config_check_no_oracle"
hub_works
pass "config.check answers from content only"

log "the same as a profile file: reload, status, ghostctl check (local and --daemon)"
deep_json >"$GHOST_ETC/profiles/deep.json"
expect_rc 6 gctl reload
expect_out "deep.json: nesting deeper than 64 levels (arrays and objects) at line 2"
profile_field deep '.config_errors[0]' | has "deep.json: nesting deeper than 64 levels .* at line 2" ||
    fail "status of deep lacks the error: $(profile_field deep .config_errors)"
expect_rc 6 gctl check "$GHOST_ETC/profiles/deep.json"
expect_out "deep.json: nesting deeper than 64 levels (arrays and objects) at line 2"
expect_rc 6 as_nobody "$GHOSTCTL" --socket "$SOCK" check --daemon "$GHOST_ETC/profiles/deep.json"
expect_out "deep.json: nesting deeper than 64 levels (arrays and objects) at line 2"
hub_works
pass "deep profile: a config error naming file, depth and line"

log "files that are not plain files"
P=$GHOST_ETC/profiles
mkfifo "$P/fifo.json"
ln -s loop.json "$P/loop.json"
ln -s nowhere.json "$P/dangling.json"
ln -s /dev/zero "$P/zero.json"
mkdir "$P/x.json"
head -c $((2 << 20)) /dev/zero | tr '\0' ' ' >"$P/big.json"
declare -A WHY=(
    [fifo]="not a regular file: it is a FIFO (named pipe)"
    [loop]="cannot read file: symbolic link loop"
    [dangling]="cannot read file: dangling symbolic link (its target does not exist)"
    [zero]="not a regular file: it is a character device"
    [x]="not a regular file: it is a directory"
    [big]="file too large (limit 1048576 bytes)"
)
for name in "${!WHY[@]}"; do
    expect_rc 6 timeout 10 "$GHOSTCTL" check "$P/$name.json"
    expect_out "$P/$name.json: ${WHY[$name]}"
    expect_rc 6 as_nobody timeout 10 "$GHOSTCTL" --socket "$SOCK" check --daemon "$P/$name.json"
    expect_out "$P/$name.json: ${WHY[$name]}"
done
pass "ghostctl check: each refused at once with what is wrong"

$PROBE "$SOCK" reload_events >"$T/events" || fail "reload_events"
for name in "${!WHY[@]}"; do
    has -F "$P/$name.json: ${WHY[$name]}" <"$T/events" || fail "reload result lacks $name: $(cat "$T/events")"
    has "\"profile\": \"$name\", .*\"type\": \"profile.added\"" <"$T/events" ||
        fail "no profile.added event for $name: $(cat "$T/events")"
    profile_field "$name" '.config_errors[0]' | has -F "$P/$name.json: ${WHY[$name]}" ||
        fail "status of $name: $(profile_field "$name" .config_errors)"
done
gctl list | has "^fifo .*invalid" || fail "fifo not listed as invalid: $(gctl list)"
hub_works
pass "reload: every such file is an invalid profile with its error; hub kept running"

log "ghostd.json nested too deep: ghostd refuses to start, naming file and line"
stop_ghostd
deep_json >"$GHOST_ETC/ghostd.json"
expect_rc 1 timeout 20 "$GHOSTD" --foreground --config-dir "$GHOST_ETC" --runtime-dir "$GHOST_RUN" \
    --state-dir "$GHOST_STATE"
expect_out "ghostd: $GHOST_ETC/ghostd.json: nesting deeper than 64 levels (arrays and objects) at line 2"
rm "$GHOST_ETC/ghostd.json"
mkfifo "$GHOST_ETC/ghostd.json"
expect_rc 1 timeout 20 "$GHOSTD" --foreground --config-dir "$GHOST_ETC" --runtime-dir "$GHOST_RUN" \
    --state-dir "$GHOST_STATE"
expect_out "ghostd: $GHOST_ETC/ghostd.json: not a regular file: it is a FIFO (named pipe)"
pass "bad ghostd.json: clear refusal at start, no crash, no hang"

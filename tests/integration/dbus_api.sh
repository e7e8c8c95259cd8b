#!/usr/bin/env bash
# D-Bus front door end to end: a private system-type dbus-daemon with ghost's own policy
# file, a real ghostd owning org.ghost.Ghost1 on it, driven with gdbus and busctl as root,
# as an unprivileged user, and as a user the policy lets through but ghostd itself refuses.
#
#   gdbus/busctl (root | nobody | daemon) ──unix:path=$T/bus──▶ dbus-daemon (private,
#        gdbus monitor (signals) ─────────────────────────────┘   policy = systemd/org.ghost.Ghost1.conf)
#                                                                   │
#                                       ghostd (DBUS_SYSTEM_BUS_ADDRESS) ──tcp──▶ 127.0.0.1:$DEAD (refused)
set -euo pipefail

GHOSTD=${GHOSTD:?path to ghostd}
GHOSTCTL=${GHOSTCTL:?path to ghostctl}
SRC=${GHOST_SOURCE_DIR:-$(cd "$(dirname "$0")/../.." && pwd)}
for tool in dbus-daemon gdbus busctl setpriv python3; do
    command -v "$tool" >/dev/null || { echo "SKIP: $tool not installed (scripts/setup.sh)"; exit 77; }
done

T=$(mktemp -d /tmp/ghost-dbus.XXXXXX)
chmod 755 "$T"
BUS_PID= PID= MON=
BUS="unix:path=$T/bus"

cleanup() {
    set +e  # a killed child's status must not become the script's
    [[ -n "$MON" ]] && kill "$MON" 2>/dev/null
    [[ -n "$PID" ]] && kill "$PID" 2>/dev/null && wait "$PID" 2>/dev/null
    [[ -n "$BUS_PID" ]] && kill "$BUS_PID" 2>/dev/null && wait "$BUS_PID" 2>/dev/null
    rm -rf "$T"
}
trap cleanup EXIT

fail() {
    echo "FAIL: $*" >&2
    echo "--- ghostd log" >&2; tail -n 40 "$T/ghostd.log" >&2 || true
    echo "--- bus log" >&2; tail -n 20 "$T/bus.log" >&2 || true
    exit 1
}
wait_for() {  # wait_for SECONDS COMMAND...: poll until the command succeeds
    local deadline=$((SECONDS + $1)); shift
    until "$@" >/dev/null 2>&1; do
        ((SECONDS < deadline)) || return 1
        sleep 0.1
    done
}
free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }

MGR=(--dest org.ghost.Ghost1 --object-path /org/ghost/Ghost1)
# gdbus_as USER ARGS...: gdbus on the private bus as USER (root: no privilege change).
gdbus_as() {
    local user=$1; shift
    case $user in
        root) gdbus "$@" --address "$BUS" ;;
        nobody) setpriv --reuid=nobody --regid=nogroup --clear-groups gdbus "$@" --address "$BUS" ;;
        daemon) setpriv --reuid=daemon --regid=daemon --clear-groups gdbus "$@" --address "$BUS" ;;
        daemon+nogroup)
            setpriv --reuid=daemon --regid=daemon --groups="$(getent group nogroup | cut -d: -f3)" \
                gdbus "$@" --address "$BUS" ;;
    esac
}
call() {  # call USER OBJECT-PATH METHOD ARGS...
    local user=$1 path=$2 method=$3; shift 3
    gdbus_as "$user" call --dest org.ghost.Ghost1 --object-path "$path" --method "$method" "$@"
}
prop() {  # prop OBJECT-PATH NAME: one property of a profile object, as busctl prints it
    busctl --address="$BUS" get-property org.ghost.Ghost1 "$1" org.ghost.Ghost1.Profile "$2"
}
expect_error() {  # expect_error ERROR-NAME USER PATH METHOD ARGS...
    local want=$1; shift
    if call "$@" >"$T/out" 2>"$T/err"; then fail "'$*' succeeded, expected $want: $(cat "$T/out")"; fi
    grep -q "$want" "$T/err" || fail "'$*' failed without $want: $(cat "$T/err")"
}

DEAD=$(free_port)
ALPHA=/org/ghost/Ghost1/profile/alpha
mkdir -p "$T/etc/profiles" "$T/run" "$T/state"
# Members of nogroup stand in for group ghost, which the test machine need not have.
echo '{ "control_group": "nogroup" }' >"$T/etc/ghostd.json"
cat >"$T/etc/profiles/alpha.json" <<JSON
{ "server": "127.0.0.1:$DEAD", "ssh": { "user": "test" } }
JSON
cp "$T/etc/profiles/alpha.json" "$T/etc/profiles/beta.json"
# Invalid profiles whose errors carry an ESC sequence and bytes that are not UTF-8.
printf '{ "server": "\\u001b[31mevil.example:22" }\n' >"$T/etc/profiles/esc.json"
printf '{ "server": "bad\xff.example:22" }\n' >"$T/etc/profiles/utf.json"

# The bus: the system bus's default policy, ghost's policy file as installed, and one
# extra rule that lets user daemon past the bus so ghostd's own check can be seen.
cat >"$T/bus.conf" <<XML
<!DOCTYPE busconfig PUBLIC "-//freedesktop//DTD D-Bus Bus Configuration 1.0//EN"
 "http://www.freedesktop.org/standards/dbus/1.0/busconfig.dtd">
<busconfig>
  <type>system</type>
  <listen>unix:path=$T/bus</listen>
  <auth>EXTERNAL</auth>
  <policy context="default">
    <allow user="*"/>
    <deny own="*"/>
    <deny send_type="method_call"/>
    <allow send_type="signal"/>
    <allow send_requested_reply="true" send_type="method_return"/>
    <allow send_requested_reply="true" send_type="error"/>
    <allow receive_type="method_call"/>
    <allow receive_type="method_return"/>
    <allow receive_type="error"/>
    <allow receive_type="signal"/>
    <allow send_destination="org.freedesktop.DBus" send_interface="org.freedesktop.DBus"/>
    <allow send_destination="org.freedesktop.DBus" send_interface="org.freedesktop.DBus.Introspectable"/>
    <allow send_destination="org.freedesktop.DBus" send_interface="org.freedesktop.DBus.Properties"/>
  </policy>
  <policy user="root">
    <allow send_destination="org.freedesktop.DBus" send_interface="org.freedesktop.DBus.Monitoring"/>
  </policy>
  <include>$SRC/systemd/org.ghost.Ghost1.conf</include>
  <policy user="daemon">
    <allow send_destination="org.ghost.Ghost1"/>
  </policy>
</busconfig>
XML

echo "# private system bus"
dbus-daemon --config-file="$T/bus.conf" --nofork --nopidfile >"$T/bus.log" 2>&1 &
BUS_PID=$!
wait_for 10 test -S "$T/bus" || fail "dbus-daemon did not start"

echo "# ghostd owns org.ghost.Ghost1"
DBUS_SYSTEM_BUS_ADDRESS="$BUS" "$GHOSTD" --foreground --config-dir "$T/etc" \
    --runtime-dir "$T/run" --state-dir "$T/state" --log-level debug >"$T/ghostd.log" 2>&1 &
PID=$!
owned() { busctl --address="$BUS" status org.ghost.Ghost1 >/dev/null 2>&1; }
wait_for 10 owned || fail "org.ghost.Ghost1 not owned"

echo "# signals are observed from here on"
gdbus monitor --address "$BUS" --dest org.ghost.Ghost1 >"$T/monitor" 2>&1 &
MON=$!
wait_for 5 grep -q "owned by" "$T/monitor" || fail "gdbus monitor did not start: $(cat "$T/monitor")"

echo "# only root may own the name"
rc=0; setpriv --reuid=nobody --regid=nogroup --clear-groups \
    busctl --address="$BUS" call org.freedesktop.DBus /org/freedesktop/DBus org.freedesktop.DBus \
    RequestName su org.ghost.Ghost1 4 >"$T/out" 2>&1 || rc=$?
[[ $rc != 0 ]] || fail "nobody could request org.ghost.Ghost1: $(cat "$T/out")"

echo "# introspection, ListProfiles, GetManagedObjects"
call nobody /org/ghost/Ghost1 org.freedesktop.DBus.Introspectable.Introspect >"$T/out" ||
    fail "nobody cannot introspect"
grep -q 'interface name="org.ghost.Ghost1.Manager"' "$T/out" || fail "no Manager interface"
grep -q 'signal name="ProfileStateChanged"' "$T/out" || fail "no ProfileStateChanged signal"
call nobody /org/ghost/Ghost1 org.ghost.Ghost1.Manager.ListProfiles >"$T/out" ||
    fail "nobody cannot list: $(cat "$T/out")"
grep -q "('alpha', 'client', 'down', objectpath '$ALPHA')" "$T/out" ||
    fail "alpha not listed as expected: $(cat "$T/out")"
grep -q "'beta'" "$T/out" || fail "beta not listed: $(cat "$T/out")"
call nobody /org/ghost/Ghost1 org.freedesktop.DBus.ObjectManager.GetManagedObjects >"$T/out" ||
    fail "GetManagedObjects failed"
grep -q "'$ALPHA'" "$T/out" || fail "alpha not managed: $(cat "$T/out")"
call nobody /org/ghost/Ghost1 org.ghost.Ghost1.Manager.GetProfile alpha | grep -q "$ALPHA" ||
    fail "GetProfile alpha"

echo "# properties, readable by anyone"
[[ $(prop "$ALPHA" Name) == 's "alpha"' ]] || fail "Name: $(prop "$ALPHA" Name)"
[[ $(prop "$ALPHA" State) == 's "down"' ]] || fail "State: $(prop "$ALPHA" State)"
[[ $(prop "$ALPHA" Role) == 's "client"' ]] || fail "Role: $(prop "$ALPHA" Role)"
[[ $(prop "$ALPHA" BytesIn) == "t 0" ]] || fail "BytesIn: $(prop "$ALPHA" BytesIn)"
[[ $(prop "$ALPHA" Autostart) == "b false" ]] || fail "Autostart: $(prop "$ALPHA" Autostart)"
call nobody "$ALPHA" org.freedesktop.DBus.Properties.GetAll org.ghost.Ghost1.Profile >"$T/out" ||
    fail "nobody cannot GetAll"
for p in Name Role State LastError BytesIn BytesOut Autostart; do
    grep -q "'$p'" "$T/out" || fail "GetAll lacks $p: $(cat "$T/out")"
done
call nobody /org/ghost/Ghost1 org.ghost.Ghost1.Manager.GetStatus alpha >"$T/out" ||
    fail "nobody cannot GetStatus"
grep -q '\\"name\\": *\\"alpha\\"\|"name":"alpha"' "$T/out" || fail "GetStatus json: $(cat "$T/out")"

echo "# config bytes reach the bus escaped: GetStatus answers valid UTF-8 JSON, nothing raw"
for name in esc utf; do
    setpriv --reuid=nobody --regid=nogroup --clear-groups busctl --address="$BUS" --json=short \
        call org.ghost.Ghost1 /org/ghost/Ghost1 org.ghost.Ghost1.Manager GetStatus s "$name" \
        >"$T/out" 2>&1 || fail "GetStatus $name: $(cat -v "$T/out")"
    jq -r '.data[0]' "$T/out" | jq -r '.config_errors[0]' >"$T/errs" || fail "GetStatus $name: $(cat -v "$T/out")"
    ! LC_ALL=C grep -q "$(printf '[\001-\010\013-\037\177]')" "$T/errs" || fail "raw control bytes: $(cat -v "$T/errs")"
done
grep -qF 'bad\xff' "$T/errs" || fail "utf's error lacks the escaped byte: $(cat "$T/errs")"
setpriv --reuid=nobody --regid=nogroup --clear-groups busctl --address="$BUS" --json=short \
    call org.ghost.Ghost1 /org/ghost/Ghost1 org.ghost.Ghost1.Manager GetStatus s esc | jq -r '.data[0]' |
    jq -r '.config_errors[0]' | grep -qF "invalid host name '\x1b[31mevil.example'" ||
    fail "esc's error is not escaped as \\x1b"
call nobody /org/ghost/Ghost1/profile/utf org.freedesktop.DBus.Properties.GetAll org.ghost.Ghost1.Profile \
    >"$T/out" || fail "GetAll utf: $(cat "$T/out")"

echo "# errors: unknown profile, bad arguments"
expect_error org.ghost.Ghost1.Error.NotFound root /org/ghost/Ghost1 org.ghost.Ghost1.Manager.Up nosuch true
expect_error org.ghost.Ghost1.Error.NotFound nobody /org/ghost/Ghost1 org.ghost.Ghost1.Manager.GetStatus nosuch
expect_error org.freedesktop.DBus.Error.InvalidArgs root /org/ghost/Ghost1 org.ghost.Ghost1.Manager.Up 42

echo "# unprivileged: mutating methods refused by the bus policy"
expect_error org.freedesktop.DBus.Error.AccessDenied nobody /org/ghost/Ghost1 org.ghost.Ghost1.Manager.Up alpha true
expect_error org.freedesktop.DBus.Error.AccessDenied nobody /org/ghost/Ghost1 org.ghost.Ghost1.Manager.Down alpha
expect_error org.freedesktop.DBus.Error.AccessDenied nobody /org/ghost/Ghost1 org.ghost.Ghost1.Manager.Reload
expect_error org.freedesktop.DBus.Error.AccessDenied nobody "$ALPHA" org.ghost.Ghost1.Profile.Up true
expect_error org.freedesktop.DBus.Error.AccessDenied nobody "$ALPHA" org.ghost.Ghost1.Profile.Down

echo "# past the bus policy but not root nor in the control group: ghostd refuses too"
expect_error org.ghost.Ghost1.Error.PermissionDenied daemon /org/ghost/Ghost1 org.ghost.Ghost1.Manager.Up alpha false
grep -q "group nogroup" "$T/err" || fail "denial does not name the group: $(cat "$T/err")"
expect_error org.ghost.Ghost1.Error.PermissionDenied daemon "$ALPHA" org.ghost.Ghost1.Profile.Down
[[ $(prop "$ALPHA" State) == 's "down"' ]] || fail "a refused Up changed the state"

echo "# a control-group member may change state"
call daemon+nogroup "$ALPHA" org.ghost.Ghost1.Profile.Down >"$T/out" 2>&1 ||
    fail "group member refused: $(cat "$T/out")"

echo "# Up against a refused port: Failed with the reason, then State/LastError follow"
expect_error org.ghost.Ghost1.Error.Failed root /org/ghost/Ghost1 org.ghost.Ghost1.Manager.Up alpha true
grep -qi "refused" "$T/err" || fail "Up error lacks the reason: $(cat "$T/err")"
grep -q "127.0.0.1:$DEAD" "$T/err" || fail "Up error does not name the server: $(cat "$T/err")"
wait_for 5 sh -c "busctl --address='$BUS' get-property org.ghost.Ghost1 '$ALPHA' org.ghost.Ghost1.Profile State | grep -q failed" ||
    fail "State is not failed: $(prop "$ALPHA" State)"
prop "$ALPHA" LastError | grep -qi refused || fail "LastError: $(prop "$ALPHA" LastError)"

echo "# ProfileStateChanged and PropertiesChanged were emitted"
wait_for 5 grep -q "ProfileStateChanged ('alpha', 'failed'" "$T/monitor" ||
    fail "no ProfileStateChanged failed: $(cat "$T/monitor")"
grep -q "ProfileStateChanged ('alpha', 'connecting'" "$T/monitor" ||
    fail "no ProfileStateChanged connecting: $(cat "$T/monitor")"
grep -q "$ALPHA: org.freedesktop.DBus.Properties.PropertiesChanged ('org.ghost.Ghost1.Profile', {'State'" "$T/monitor" ||
    fail "no PropertiesChanged for State: $(cat "$T/monitor")"

echo "# Profile.Up without waiting answers at once; Down brings it down"
call root "$ALPHA" org.ghost.Ghost1.Profile.Up false >"$T/out" || fail "Profile.Up false: $(cat "$T/out")"
grep -q "('" "$T/out" || fail "Profile.Up returned no state: $(cat "$T/out")"
call root /org/ghost/Ghost1 org.ghost.Ghost1.Manager.Down alpha >"$T/out" || fail "Down: $(cat "$T/out")"
grep -q "('down',)" "$T/out" || fail "Down did not return down: $(cat "$T/out")"
wait_for 5 sh -c "busctl --address='$BUS' get-property org.ghost.Ghost1 '$ALPHA' org.ghost.Ghost1.Profile State | grep -q '\"down\"'" ||
    fail "State after Down: $(prop "$ALPHA" State)"

echo "# Reload: profiles appear and disappear as objects (names escaped)"
cp "$T/etc/profiles/alpha.json" "$T/etc/profiles/new-one.json"
rm "$T/etc/profiles/beta.json"
call root /org/ghost/Ghost1 org.ghost.Ghost1.Manager.Reload >"$T/out" || fail "Reload: $(cat "$T/out")"
grep -q "new-one" "$T/out" || fail "Reload report lacks new-one: $(cat "$T/out")"
NEW=/org/ghost/Ghost1/profile/new_2done
wait_for 5 busctl --address="$BUS" introspect org.ghost.Ghost1 "$NEW" || fail "no object $NEW"
[[ $(prop "$NEW" Name) == 's "new-one"' ]] || fail "new-one Name: $(prop "$NEW" Name)"
wait_for 5 sh -c "! busctl --address='$BUS' introspect org.ghost.Ghost1 /org/ghost/Ghost1/profile/beta" ||
    fail "beta object still exported"
wait_for 5 grep -q "InterfacesAdded (objectpath '$NEW'" "$T/monitor" || fail "no InterfacesAdded"
wait_for 5 grep -q "InterfacesRemoved (objectpath '/org/ghost/Ghost1/profile/beta'" "$T/monitor" ||
    fail "no InterfacesRemoved"

echo "# ghostctl --dbus: the same verbs through the bus, same answers and exit codes"
dctl() { DBUS_SYSTEM_BUS_ADDRESS="$BUS" "$GHOSTCTL" --dbus "$@"; }
dctl list >"$T/out" || fail "ghostctl --dbus list: $(cat "$T/out")"
grep -q "^alpha " "$T/out" || fail "ghostctl --dbus list lacks alpha: $(cat "$T/out")"
dctl --json status alpha | grep -q '"name": "alpha"' || fail "ghostctl --dbus status"
rc=0; dctl up alpha 2>"$T/err" || rc=$?
[[ $rc == 1 ]] || fail "ghostctl --dbus up of a refused server exited $rc: $(cat "$T/err")"
grep -qi "refused" "$T/err" || fail "ghostctl --dbus up error lacks the reason: $(cat "$T/err")"
rc=0; dctl up nosuch 2>/dev/null || rc=$?
[[ $rc == 5 ]] || fail "ghostctl --dbus up nosuch exited $rc"
rc=0; DBUS_SYSTEM_BUS_ADDRESS="$BUS" setpriv --reuid=nobody --regid=nogroup --clear-groups \
    "$GHOSTCTL" --dbus down alpha 2>"$T/err" || rc=$?
[[ $rc == 4 ]] || fail "ghostctl --dbus down as nobody exited $rc: $(cat "$T/err")"
dctl down alpha >/dev/null || fail "ghostctl --dbus down"

echo "# CheckConfig: anyone checks content they send; same answer as the socket's config.check"
DEEP65=$(python3 -c "print('{\"x\": ' + '[' * 64 + ']' * 64 + '}')")
call nobody /org/ghost/Ghost1 org.ghost.Ghost1.Manager.CheckConfig /home/u/deep.json "$DEEP65" \
    >"$T/out" 2>&1 || fail "nobody cannot CheckConfig: $(cat "$T/out")"
grep -q 'deep.json: nesting deeper than 64 levels (arrays and objects) at line 1, column 70' "$T/out" ||
    fail "CheckConfig of 65 levels: $(cat "$T/out")"
python3 -c "n=100000; print('{\"server\": \"127.0.0.1:22\",\n \"x\": ' + '['*n + ']'*n + '}')" \
    >"$T/deep.json"
chmod 644 "$T/deep.json"
for door in --dbus "--socket $T/run/ghostd.sock"; do
    rc=0; DBUS_SYSTEM_BUS_ADDRESS="$BUS" setpriv --reuid=nobody --regid=nogroup --clear-groups \
        "$GHOSTCTL" $door check --daemon "$T/deep.json" >"$T/out" 2>&1 || rc=$?
    [[ $rc == 6 ]] || fail "ghostctl $door check --daemon exited $rc: $(cat "$T/out")"
    grep -q "$T/deep.json: nesting deeper than 64 levels (arrays and objects) at line 2" "$T/out" ||
        fail "ghostctl $door check --daemon: $(cat "$T/out")"
done
kill -0 "$PID" || fail "ghostd died on CheckConfig"

echo "# the bus going away does not take ghostd down; the socket keeps working"
kill "$MON"; MON=
kill "$BUS_PID"; wait "$BUS_PID" 2>/dev/null || true; BUS_PID=
sleep 0.5
kill -0 "$PID" || fail "ghostd died with the bus"
"$GHOSTCTL" --socket "$T/run/ghostd.sock" list >"$T/out" || fail "socket dead after bus loss"
grep -q "^alpha" "$T/out" || fail "list after bus loss: $(cat "$T/out")"

echo "# SIGTERM: clean stop"
kill -TERM "$PID"
wait "$PID" || fail "ghostd exited non-zero on SIGTERM"
PID=
echo "PASS"

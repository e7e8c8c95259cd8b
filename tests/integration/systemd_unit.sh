#!/usr/bin/env bash
# The systemd and D-Bus integration files, as `cmake --install` lays them out: every file
# lands where systemd / dbus-daemon look for it, the unit passes `systemd-analyze verify`,
# its hardening keeps the exposure score low, sysusers/tmpfiles snippets do what they say
# in a scratch root, and the D-Bus policy parses.
#
#   cmake --install $GHOST_BUILD_DIR ──DESTDIR──▶ $T/dest/<prefix>/…
#   systemd-sysusers / systemd-tmpfiles ──--root──▶ $T/sysroot
set -euo pipefail

BUILD=${GHOST_BUILD_DIR:?path to the build directory}
GHOSTD=${GHOSTD:?path to ghostd}
MAX_EXPOSURE=${GHOST_MAX_EXPOSURE:-3.0}  # docs/security.md records the current score
for tool in systemd-analyze systemd-sysusers systemd-tmpfiles dbus-daemon; do
    command -v "$tool" >/dev/null || { echo "SKIP: $tool not installed (scripts/setup.sh)"; exit 77; }
done

T=$(mktemp -d /tmp/ghost-unit.XXXXXX)
cleanup() { rm -rf "$T"; }
trap cleanup EXIT
fail() { echo "FAIL: $*" >&2; exit 1; }

PREFIX=$(sed -n 's/^CMAKE_INSTALL_PREFIX:PATH=//p' "$BUILD/CMakeCache.txt")
echo "# cmake --install into a DESTDIR (prefix $PREFIX)"
DESTDIR="$T/dest" cmake --install "$BUILD" >"$T/install.log" 2>&1 || fail "install: $(tail "$T/install.log")"
find_one() {  # find_one NAME: the single installed file called NAME
    local hits
    hits=$(find "$T/dest" -path "*/$1" -type f)
    [[ $(wc -l <<<"$hits") == 1 && -n "$hits" ]] || fail "expected one installed $1, found: ${hits:-none}"
    echo "$hits"
}
UNIT=$(find_one systemd/system/ghostd.service)
SYSUSERS=$(find_one sysusers.d/ghost.conf)
TMPFILES=$(find_one tmpfiles.d/ghost.conf)
POLICY=$(find_one dbus-1/system.d/org.ghost.Ghost1.conf)
ACTIVATION=$(find_one dbus-1/system-services/org.ghost.Ghost1.service)
for f in "$UNIT" "$SYSUSERS" "$TMPFILES" "$POLICY" "$ACTIVATION"; do
    [[ $f == "$T/dest$PREFIX/"* || $f == "$T/dest/lib/"* || $f == "$T/dest/usr/lib/"* ]] ||
        fail "$f is outside the prefix and the system directories"
done

echo "# the unit: Type=notify, watchdog, reload, ExecStart under the prefix"
grep -qx "Type=notify" "$UNIT" || fail "not Type=notify"
grep -qx "NotifyAccess=main" "$UNIT" || fail "no NotifyAccess=main"
grep -qx "WatchdogSec=30s" "$UNIT" || fail "no WatchdogSec"
grep -qx 'ExecReload=/bin/kill -HUP $MAINPID' "$UNIT" || fail "no ExecReload"
grep -qx "ExecStart=$PREFIX/sbin/ghostd --foreground" "$UNIT" ||
    fail "ExecStart is not $PREFIX/sbin/ghostd: $(grep ExecStart "$UNIT")"
[[ -x "$T/dest$PREFIX/sbin/ghostd" ]] || fail "ghostd not installed where ExecStart points"
grep -q "@[A-Z_]*@" "$UNIT" && fail "unsubstituted @VAR@ in the unit: $(grep "@[A-Z_]*@" "$UNIT")"

echo "# systemd-analyze verify (ExecStart pointed at the built ghostd)"
mkdir -p "$T/units"
sed "s|^ExecStart=[^ ]*|ExecStart=$GHOSTD|" "$UNIT" >"$T/units/ghostd.service"
systemd-analyze verify "$T/units/ghostd.service" >"$T/verify" 2>&1 || fail "verify: $(cat "$T/verify")"
# verify only warns about most mistakes: any line naming our unit is one.
if grep -q "ghostd.service" "$T/verify"; then fail "verify complained: $(cat "$T/verify")"; fi

echo "# systemd-analyze security --offline=true"
systemd-analyze security --offline=true "$T/units/ghostd.service" >"$T/security" 2>&1 || true
score=$(sed -n 's/.*Overall exposure level for ghostd.service: \([0-9.]*\).*/\1/p' "$T/security")
[[ -n "$score" ]] || fail "no exposure score: $(tail -5 "$T/security")"
echo "exposure: $score (limit $MAX_EXPOSURE)"
grep "✗" "$T/security" | sed 's/  */ /g' || true
python3 -c "import sys; sys.exit(0 if float('$score') <= float('$MAX_EXPOSURE') else 1)" ||
    fail "exposure $score is above $MAX_EXPOSURE: hardening regressed"

echo "# sysusers: group ghost is created"
mkdir -p "$T/sysroot/etc"
: >"$T/sysroot/etc/passwd"; : >"$T/sysroot/etc/group"
systemd-sysusers --root="$T/sysroot" "$SYSUSERS" >"$T/sysusers" 2>&1 || fail "sysusers: $(cat "$T/sysusers")"
grep -q "^ghost:x:[0-9]*:" "$T/sysroot/etc/group" || fail "no group ghost: $(cat "$T/sysroot/etc/group")"

echo "# tmpfiles: directories with the documented modes"
systemd-tmpfiles --create --root="$T/sysroot" "$TMPFILES" >"$T/tmpfiles" 2>&1 ||
    fail "tmpfiles: $(cat "$T/tmpfiles")"
[[ $(stat -c %a "$T/sysroot/run/ghost") == 755 ]] || fail "/run/ghost mode"
[[ $(stat -c %a "$T/sysroot/var/lib/ghost") == 700 ]] || fail "/var/lib/ghost mode"
[[ -d "$T/sysroot/etc/ghost/profiles" ]] || fail "/etc/ghost/profiles missing"

echo "# D-Bus: the policy parses, the activation file names the unit"
cat >"$T/bus.conf" <<XML
<!DOCTYPE busconfig PUBLIC "-//freedesktop//DTD D-Bus Bus Configuration 1.0//EN"
 "http://www.freedesktop.org/standards/dbus/1.0/busconfig.dtd">
<busconfig>
  <type>system</type>
  <listen>unix:path=$T/bus</listen>
  <auth>EXTERNAL</auth>
  <include>$POLICY</include>
</busconfig>
XML
dbus-daemon --config-file="$T/bus.conf" --nofork --nopidfile --print-address=1 >"$T/addr" 2>"$T/bus.err" &
BUS=$!
for _ in $(seq 50); do [[ -s "$T/addr" ]] && break; sleep 0.1; done
kill "$BUS" 2>/dev/null; wait "$BUS" 2>/dev/null || true
[[ -s "$T/addr" ]] || fail "dbus-daemon rejected the policy: $(cat "$T/bus.err")"
# Known noise: group ghost may not exist on a build machine; fd limits when not root.
if grep -v 'Unknown group "ghost"\|fd limit' "$T/bus.err" | grep -qi "error\|warn\|invalid\|unknown"; then
    fail "dbus-daemon complained: $(cat "$T/bus.err")"
fi
grep -qx "Name=org.ghost.Ghost1" "$ACTIVATION" || fail "activation Name="
grep -qx "SystemdService=ghostd.service" "$ACTIVATION" || fail "activation SystemdService="
grep -qx "BusName=org.ghost.Ghost1" "$UNIT" || fail "unit lacks BusName="
echo "PASS"

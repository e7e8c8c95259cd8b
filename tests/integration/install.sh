#!/usr/bin/env bash
# `cmake --install` puts every file where systemd, D-Bus and the docs say, under a prefix
# and DESTDIR, and the installed ghostd runs from there.
set -euo pipefail
BUILD=${GHOST_BUILD_DIR:?build dir}
T=$(mktemp -d /tmp/ghost-install.XXXXXX)
trap 'rm -rf "$T"' EXIT
fail() { echo "FAIL: $*" >&2; exit 1; }

DESTDIR="$T/root" cmake --install "$BUILD" --prefix /usr >"$T/install.log"
R=$T/root
for f in usr/sbin/ghostd usr/bin/ghostctl etc/ghost/ghostd.json \
         usr/share/doc/ghost/rpc.md usr/share/doc/ghost/examples/profiles/work-socks.json; do
    [[ -e $R/$f ]] || fail "not installed: /$f"
done
[[ -d $R/etc/ghost/profiles ]] || fail "no /etc/ghost/profiles directory"
find "$R" -name ghostd.service | grep -q systemd/system || fail "unit not in a systemd unit dir"
find "$R" -name org.ghost.Ghost1.conf | grep -q dbus-1/system.d || fail "D-Bus policy not installed"
find "$R" -name org.ghost.Ghost1.service | grep -q system-services || fail "D-Bus activation not installed"
find "$R" -path '*sysusers.d/ghost.conf' | grep -q . || fail "sysusers snippet not installed"
find "$R" -path '*tmpfiles.d/ghost.conf' | grep -q . || fail "tmpfiles snippet not installed"
grep -q "ExecStart=/usr/sbin/ghostd" "$(find "$R" -name ghostd.service)" || fail "unit ExecStart does not use the prefix"
"$R/usr/sbin/ghostd" --check-config --config-dir "$R/etc/ghost" || fail "installed config does not validate"

# Another prefix, without DESTDIR tricks: paths follow it.
DESTDIR="$T/local" cmake --install "$BUILD" --prefix /opt/ghost >/dev/null
[[ -x $T/local/opt/ghost/sbin/ghostd ]] || fail "prefix /opt/ghost not honoured"
echo PASS

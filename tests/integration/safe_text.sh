#!/usr/bin/env bash
# Bytes from configs, authorized_keys and peers never reach a terminal raw: control bytes and
# invalid UTF-8 are escaped in ghostd's log, ghostctl's text and JSON output (text::printable).
#
#   profiles: "esc"  server name with an ESC colour sequence
#             "utf"  server name with bytes that are not UTF-8
#             "hub"  server on 127.0.0.1:$HUB; authorized_keys comment with an ESC sequence
#   ssh -N (OpenSSH, that key) ──▶ hub          ghostctl status / --json / check / sessions / list
. "$(dirname "$0")/lib.sh"

HUB=$(free_port)
ghost_dirs
# \u001b in JSON is a real ESC once parsed; \xff\xfe are raw bytes that are not UTF-8.
printf '{ "server": "\\u001b[31mevil\\u001b[0m.example:22", "ssh": { "user": "te\\u001b]0;pwned\\u0007st" } }\n' \
    >"$GHOST_ETC/profiles/esc.json"
printf '{ "server": "bad\xff\xfe\x9b31m.example:22" }\n' >"$GHOST_ETC/profiles/utf.json"
ssh-keygen -q -t ed25519 -N '' -C "$(printf '\e[31mred-team\e[0m')" -f "$T/user"
cp "$T/user.pub" "$T/authorized_keys"
write_profile hub "{ \"role\": \"server\", \"listen\": [ { \"address\": \"127.0.0.1:$HUB\" } ],
  \"authorized_keys\": \"$T/authorized_keys\" }"

# clean FILE WHAT: FILE holds no C0 control byte but newline, no DEL, no C1, only UTF-8.
clean() {
    python3 - "$1" <<'PY' || fail "$2 carries raw control bytes or invalid UTF-8: $(cat -v "$1" | head -20)"
import re, sys
data = open(sys.argv[1], "rb").read()
text = data.decode("utf-8")  # raises on invalid UTF-8
bad = re.search("[\x00-\x09\x0b-\x1f\x7f\x80-\x9f]", text)
sys.exit(1 if bad else 0)
PY
}
# shows FILE NEEDLE WHAT: the escaped form is there (the information is kept, not dropped).
shows() { grep -qF -- "$2" "$1" || fail "$3 lacks '$2': $(head -c 2000 "$1")"; }

start_ghostd
gctl up hub >/dev/null || fail "up hub: $(gctl status hub 2>&1)"
gctl --json status hub | jq -r '.. | objects | select(has("known_hosts")) | .known_hosts[]' >"$T/known_hosts"
ssh -F /dev/null -o BatchMode=yes -o StrictHostKeyChecking=yes -o UserKnownHostsFile="$T/known_hosts" \
    -o IdentitiesOnly=yes -i "$T/user" -p "$HUB" -N ghost@127.0.0.1 2>"$T/ssh.log" &
track_pid $!
_one_session() { [[ $(gctl --json sessions hub | jq length) == 1 ]]; }
wait_for 15 "the ssh session on hub" _one_session

log "ghostctl status, list, sessions (text)"
gctl status >"$T/status.txt" 2>&1 || true
clean "$T/status.txt" "ghostctl status"
shows "$T/status.txt" '\x1b[31mevil\x1b[0m.example' "ghostctl status"
shows "$T/status.txt" "last read: '\"bad\\xff'" "ghostctl status"  # the parser stops at the first bad byte
shows "$T/status.txt" 'ssh.user: must not contain' "ghostctl status"
gctl list >"$T/list.txt" 2>&1 || true
clean "$T/list.txt" "ghostctl list"
gctl sessions hub >"$T/sessions.txt" 2>&1 || fail "sessions: $(cat "$T/sessions.txt")"
clean "$T/sessions.txt" "ghostctl sessions"
shows "$T/sessions.txt" '\x1b[31mred-team\x1b[0m' "ghostctl sessions"
pass "text output escaped: $(grep -o 'invalid host name.*evil[^ ]*' "$T/status.txt" | head -1)"

log "ghostctl --json: valid JSON, nothing raw"
for what in "status" "status utf" "status esc" "sessions hub" "list"; do
    # shellcheck disable=SC2086
    gctl --json $what >"$T/out.json" 2>&1 || true
    clean "$T/out.json" "ghostctl --json $what"
    jq -e . "$T/out.json" >/dev/null || fail "ghostctl --json $what is not JSON: $(cat "$T/out.json")"
done
gctl --json sessions hub | jq -e '.[0].key_name == "\\x1b[31mred-team\\x1b[0m"' >/dev/null ||
    fail "key_name: $(gctl --json sessions hub)"
gctl --json status utf | jq -e '.config_errors[0] | contains("bad\\xff")' >/dev/null ||
    fail "config_errors: $(gctl --json status utf)"
pass "JSON output valid; bad bytes kept as \\xNN text"

log "ghostctl check, and the raw JSON-RPC answer"
rc=0; gctl check "$GHOST_ETC/profiles/esc.json" "$GHOST_ETC/profiles/utf.json" >"$T/check.txt" 2>&1 || rc=$?
[[ $rc == 6 ]] || fail "check exited $rc: $(cat -v "$T/check.txt")"
clean "$T/check.txt" "ghostctl check"
shows "$T/check.txt" '\x1b[31mevil' "ghostctl check"
shows "$T/check.txt" 'bad\xff' "ghostctl check"
gctl --json check "$GHOST_ETC/profiles/utf.json" >"$T/check.json" 2>&1 || true
clean "$T/check.json" "ghostctl --json check"
jq -e . "$T/check.json" >/dev/null || fail "ghostctl --json check is not JSON"
printf '%s\n' '{"jsonrpc":"2.0","id":1,"method":"profile.status","params":{"name":"esc"}}' |
    socat -t 5 - "UNIX-CONNECT:$GHOST_RUN/ghostd.sock" >"$T/raw.json"
clean "$T/raw.json" "the JSON-RPC answer"
python3 -c 'import json,sys; json.load(open(sys.argv[1]))' "$T/raw.json" || fail "raw answer not JSON"
pass "check and the raw RPC answer escaped"

log "ghostd's log"
clean "$T/ghostd.log" "ghostd's log"
shows "$T/ghostd.log" '\x1b[31mevil\x1b[0m' "ghostd's log"
shows "$T/ghostd.log" 'bad\xff' "ghostd's log"
shows "$T/ghostd.log" "key '\\x1b[31mred-team\\x1b[0m'" "ghostd's log"
kill -0 "$GHOSTD_PID" || fail "ghostd died"
gctl list | has "^hub " || fail "list afterwards"
pass "log escaped; ghostd up"
echo PASS

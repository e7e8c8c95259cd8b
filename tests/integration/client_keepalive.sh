#!/usr/bin/env bash
# Dead-peer detection: the path to the server silently drops everything (no FIN, no RST).
#
#   ns A (ghostd) 10.77.x.1 ---veth--- 10.77.x.2 ns B (sshd)
#
# With keepalive interval 1 s x count 3, the profile must leave `up` within a few seconds
# of the veth going down, and come back up once the link returns.
. "$(dirname "$0")/lib.sh"

NS_A=$(netns_create cli)
NS_B=$(netns_create srv)
netns_veth "$NS_A" "$NS_B" 10.77.9.1/24 10.77.9.2/24
VETH_B=$(ip -n "$NS_B" -o link show type veth | awk -F': ' '{print $2}' | cut -d@ -f1)

SSHD_NS=$NS_B SSHD_ADDR=10.77.9.2 start_sshd
GHOSTD_NS=$NS_A start_ghostd
ssh-keygen -q -t ed25519 -N '' -f "$T/id"
authorize_key "$T/id.pub"
write_profile ka "{
  \"server\": \"10.77.9.2:$SSHD_PORT\",
  \"ssh\": { \"user\": \"$(id -un)\", \"identity_file\": \"$T/id\", \"host_key\": \"$SSHD_FP\" },
  \"keepalive\": { \"interval\": 1, \"count\": 3 },
  \"reconnect\": { \"initial_delay\": 1, \"max_delay\": 2 }
}"
gctl reload >/dev/null
gctl up ka >/dev/null || fail "up failed: $(gctl --json status ka)"
state_is() { [[ $(gctl --json status ka | jq -r '.state') == "$1" ]]; }

ip -n "$NS_B" link set "$VETH_B" down
start=$SECONDS
wait_for 10 "dead peer detected" state_is reconnecting
pass "silent path loss detected in $((SECONDS - start)) s (limit 3 s + slack)"

ip -n "$NS_B" link set "$VETH_B" up
wait_for 30 "up again" state_is up
pass "link back -> up again"

#!/usr/bin/env bash
# Installs the Debian 12 packages ghost needs to build, test, benchmark and run the demo.
# Usage: scripts/setup.sh [--force]   (needs root; skips apt when everything is present)
set -euo pipefail

BUILD_PKGS=(
  build-essential cmake pkg-config
  libssh-dev libssl-dev libasio-dev nlohmann-json3-dev libsdbus-c++-dev
  libnl-3-dev libnl-route-3-dev libsystemd-dev libgtest-dev libgmock-dev
  clang libclang-rt-14-dev clang-format
)
PEER_PKGS=(
  openssh-server openssh-client curl socat iperf3 dbus libglib2.0-bin iproute2 procps
  util-linux systemd python3 jq microsocks tinyproxy-bin tcpdump dnsmasq-base bind9-dnsutils
  sshuttle proxychains4 iptables nginx-light tshark stunnel4 trojan putty-tools
  python3-paramiko openssl iputils-ping
)

missing=()
for p in "${BUILD_PKGS[@]}" "${PEER_PKGS[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done

if [[ ${#missing[@]} -eq 0 && "${1:-}" != "--force" ]]; then
  exit 0
fi
if [[ $(id -u) -ne 0 ]]; then
  echo "setup: missing packages: ${missing[*]}" >&2
  echo "setup: run as root (or: sudo apt-get install ${missing[*]})" >&2
  exit 1
fi
echo "setup: installing ${missing[*]}"
export DEBIAN_FRONTEND=noninteractive
apt-get update -qq
apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null

#pragma once
/// Packets the NAT engine writes back to the TUN on its own: TCP resets (refused or
/// unknown flows, full table) and ICMP/ICMPv6 port-unreachable errors (refused UDP).

#include <cstdint>
#include <span>
#include <vector>

#include "common/tun/packet.hpp"

namespace ghost::tun {

/// A TCP segment src -> dst (same family) with `flags`, sequence numbers, a window of
/// 65535 and `payload`; checksums filled in.
std::vector<uint8_t> build_tcp_segment(const SocketAddr& src, const SocketAddr& dst, uint8_t flags,
                                       uint32_t seq, uint32_t ack,
                                       std::span<const uint8_t> payload = {});

/// A UDP datagram src -> dst (same family) carrying `payload`; checksums filled in.
std::vector<uint8_t> build_udp_datagram(const SocketAddr& src, const SocketAddr& dst,
                                        std::span<const uint8_t> payload);

/// A RST answering the TCP segment `view`, sent as if by its destination (RFC 9293
/// §3.10.7.1): with the segment's ACK number as sequence if it carried ACK, otherwise
/// sequence 0 and RST|ACK acknowledging everything it occupied. Empty if `view` is a RST.
std::vector<uint8_t> build_tcp_reset(const PacketView& view);

/// An ICMP "port unreachable" (IPv4 type 3 code 3, IPv6 type 1 code 4) from the packet's
/// destination to its source, quoting as much of `data` as RFC 1812 / RFC 4443 allow.
std::vector<uint8_t> build_port_unreachable(std::span<const uint8_t> data, const PacketView& view);

}  // namespace ghost::tun

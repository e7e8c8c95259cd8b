#pragma once
/// Packets the NAT engine writes back to the TUN on its own: TCP resets (refused or
/// unknown flows, full table), ICMP/ICMPv6 port-unreachable errors (refused UDP), and what
/// the datagram channel brings back: UDP datagrams, echo replies, ICMP errors of UDP flows.

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

/// An ICMP echo request (IPv4 type 8, ICMPv6 type 128) or reply (0 / 129) from -> to
/// with `ident`, `sequence` and `data`; checksums filled in. Empty when the families
/// differ or the packet would not fit the IP length field.
std::vector<uint8_t> build_echo(const net::IpAddress& from, const net::IpAddress& to, bool request,
                                uint16_t ident, uint16_t sequence, std::span<const uint8_t> data);

/// True when `type` is an error an application's UDP socket may be told of: ICMP 3
/// (destination unreachable), 11 (time exceeded), 12 (parameter problem); ICMPv6 1
/// (destination unreachable), 2 (packet too big), 3 (time exceeded), 4 (parameter problem).
/// Never a redirect, an echo or anything else a kernel would act on beyond the socket.
bool is_icmp_error_type(bool v6, uint8_t type);

/// An ICMP/ICMPv6 error about the UDP datagram client -> remote that carried `payload`,
/// from remote's address to client, with `type` and `code`. `mtu` goes into the next-hop
/// MTU field of IPv4 "fragmentation needed" (type 3 code 4; at most 65535) or the MTU
/// field of ICMPv6 "packet too big" (type 2) and is ignored otherwise. It quotes the
/// datagram rebuilt (IP and UDP header, then `payload`) as far as RFC 1812 / RFC 4443
/// allow. Empty when the families differ or is_icmp_error_type() says no.
std::vector<uint8_t> build_udp_icmp_error(const SocketAddr& client, const SocketAddr& remote,
                                          uint8_t type, uint8_t code, uint32_t mtu,
                                          std::span<const uint8_t> payload = {});

}  // namespace ghost::tun

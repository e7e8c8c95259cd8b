#pragma once
/// Bounds-checked views of IPv4/IPv6 packets carrying TCP or UDP, as read from a TUN
/// device (no link header), and in-place address/port rewriting with incremental
/// checksum updates.

#include <array>
#include <cstddef>
#include <cstdint>
#include <span>
#include <string_view>

#include "common/net/endpoint.hpp"

namespace ghost::tun {

/// Why a packet was rejected; every length field is checked before use.
enum class ParseError : uint8_t {
    none,
    too_short,          // shorter than the fixed IP header
    bad_version,        // neither 4 nor 6
    bad_header_length,  // IPv4 IHL < 5 or beyond the packet
    bad_total_length,   // IPv4 total length / IPv6 payload length disagrees with the buffer
    fragment,           // IPv4 fragment or IPv6 fragment header (not reassembled)
    ipv6_extension,     // IPv6 extension header chain (not supported)
    bad_l4_length,      // TCP/UDP header does not fit, or UDP length is inconsistent
    bad_tcp_offset,     // TCP data offset < 5 or beyond the segment
    count_,
};

/// Number of ParseError values, for counter arrays.
inline constexpr size_t kParseErrorCount = static_cast<size_t>(ParseError::count_);

/// "too_short", "fragment", ... for counters and logs.
std::string_view to_string(ParseError e);

inline constexpr uint8_t kProtoIcmp = 1;
inline constexpr uint8_t kProtoTcp = 6;
inline constexpr uint8_t kProtoUdp = 17;
inline constexpr uint8_t kProtoIcmpv6 = 58;

inline constexpr uint8_t kTcpFin = 0x01;
inline constexpr uint8_t kTcpSyn = 0x02;
inline constexpr uint8_t kTcpRst = 0x04;
inline constexpr uint8_t kTcpPsh = 0x08;
inline constexpr uint8_t kTcpAck = 0x10;

inline constexpr size_t kIpv4HeaderLen = 20;
inline constexpr size_t kIpv6HeaderLen = 40;
inline constexpr size_t kTcpHeaderLen = 20;
inline constexpr size_t kUdpHeaderLen = 8;

/// An address and port.
struct SocketAddr {
    net::IpAddress ip;
    uint16_t port = 0;
    bool operator==(const SocketAddr&) const = default;
};

/// What parse_packet found. Offsets index the buffer that was parsed.
struct PacketView {
    bool v6 = false;
    uint8_t protocol = 0;  // kProtoTcp, kProtoUdp, ... (IPv6: the first next-header)
    net::IpAddress src;
    net::IpAddress dst;
    size_t ip_header_len = 0;
    size_t total_len = 0;  // the IP datagram's length (trailing bytes are ignored)
    size_t l4_offset = 0;
    size_t l4_len = 0;
    // TCP and UDP only:
    uint16_t sport = 0;
    uint16_t dport = 0;
    // TCP only:
    uint8_t tcp_flags = 0;
    uint32_t seq = 0;
    uint32_t ack = 0;
    size_t tcp_header_len = 0;
    size_t payload_len = 0;  // TCP/UDP payload bytes

    bool is_tcp() const { return protocol == kProtoTcp; }
    bool is_udp() const { return protocol == kProtoUdp; }
    bool has(uint8_t flag) const { return (tcp_flags & flag) != 0; }
    SocketAddr source() const { return {src, sport}; }
    SocketAddr destination() const { return {dst, dport}; }
};

/// Parses one IP packet. TCP and UDP headers are validated too; other protocols only
/// get the IP layer checked. Returns ParseError::none and fills *out on success.
ParseError parse_packet(std::span<const uint8_t> data, PacketView* out);

/// A transport checksum the kernel left for the device to finish (checksum offload: a
/// virtio-net header with NEEDS_CSUM). The 16-bit field at `start + offset` holds only
/// the pseudo-header sum, not complemented; whoever finishes it adds every byte from
/// `start` to the end and stores the complement there.
struct PartialChecksum {
    uint16_t start = 0;
    uint16_t offset = 0;
    bool operator==(const PartialChecksum&) const = default;
};

/// Byte offset of the checksum field inside the TCP/UDP/ICMP header of `view`.
size_t l4_checksum_offset(const PacketView& view);

/// True when `partial` is exactly the parsed TCP/UDP packet's own checksum field, the
/// only partial checksum rewrite_endpoints keeps partial.
bool is_own_l4_checksum(const PacketView& view, const PartialChecksum& partial);

/// Finishes a partial checksum in place, as a device would; false (nothing written) when
/// the field does not lie inside `data`.
bool finish_partial_checksum(std::span<uint8_t> data, const PartialChecksum& partial);

/// Rewrites a parsed TCP or UDP packet's source and destination (same address family)
/// in place, updating the IPv4 header checksum and the L4 checksum incrementally. With
/// `l4_partial` the L4 field holds a partial checksum (is_own_l4_checksum): only the
/// pseudo-header's addresses are accounted for, since the ports are summed when it is
/// finished.
void rewrite_endpoints(std::span<uint8_t> data, const PacketView& view, const SocketAddr& src,
                       const SocketAddr& dst, bool l4_partial = false);

/// ICMP (IPv4) and ICMPv6 echo message types.
inline constexpr uint8_t kIcmpEchoReply = 0;
inline constexpr uint8_t kIcmpEchoRequest = 8;
inline constexpr uint8_t kIcmpv6EchoRequest = 128;
inline constexpr uint8_t kIcmpv6EchoReply = 129;
inline constexpr size_t kIcmpHeaderLen = 8;

/// What parse_echo found in an echo request or reply.
struct EchoView {
    bool request = false;
    uint16_t ident = 0;
    uint16_t sequence = 0;
    size_t data_offset = 0;  // of the echo data in the parsed buffer
    size_t data_len = 0;
};

/// True when the parsed packet is an ICMP echo request or reply over IPv4, or an ICMPv6
/// one over IPv6, with code 0 and its whole 8-byte header; fills *out. The checksum is not
/// checked.
bool parse_echo(std::span<const uint8_t> data, const PacketView& view, EchoView* out);

/// Recomputes the L4 checksum of a parsed TCP/UDP/ICMPv6 packet from scratch (pseudo-header
/// included) and returns it; the stored value is treated as zero. For verification.
uint16_t compute_l4_checksum(std::span<const uint8_t> data, const PacketView& view);

/// True for IPv4 multicast/broadcast (224/4, 255.255.255.255) and IPv6 multicast (ff00::/8).
bool is_multicast_or_broadcast(const net::IpAddress& ip);

}  // namespace ghost::tun

#pragma once
/// Checksum and shape checks shared by the TUN fuzz targets.

#include <cstdint>
#include <span>

#include "common/tun/checksum.hpp"
#include "common/tun/packet.hpp"

namespace ghost::fuzz {

/// True when the parsed packet's IPv4 header checksum is right (always true for IPv6).
inline bool ip_checksum_ok(std::span<const uint8_t> data, const tun::PacketView& v) {
    return v.v6 || tun::internet_checksum(data.first(v.ip_header_len)) == 0;
}

/// True when the stored TCP/UDP/ICMP checksum matches the packet (IPv4 UDP without a
/// checksum counts as right). 0x0000 and 0xffff are the same number in one's complement.
inline bool l4_checksum_ok(std::span<const uint8_t> data, const tun::PacketView& v) {
    const size_t at = v.l4_offset + tun::l4_checksum_offset(v);
    if (v.l4_len < tun::l4_checksum_offset(v) + 2) return true;
    const uint16_t stored = tun::load_be16(data.data() + at);
    if (v.is_udp() && !v.v6 && stored == 0) return true;
    const uint16_t want = tun::compute_l4_checksum(data, v);
    return stored == want || ((stored == 0 || stored == 0xffff) && (want == 0 || want == 0xffff));
}

/// True when both checksums are right.
inline bool checksums_ok(std::span<const uint8_t> data, const tun::PacketView& v) {
    return ip_checksum_ok(data, v) && l4_checksum_ok(data, v);
}

}  // namespace ghost::fuzz

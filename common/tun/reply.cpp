#include "common/tun/reply.hpp"

#include <algorithm>
#include <cstring>

#include "common/tun/checksum.hpp"

namespace ghost::tun {

namespace {

constexpr uint8_t kTtl = 64;
constexpr size_t kIpv4ErrorMax = 576;   // RFC 1812 4.3.2.3
constexpr size_t kIpv6ErrorMax = 1280;  // RFC 4443 2.4 (c)

/// Writes an IP header for a packet `from` -> `to` with `l4_len` bytes after it.
size_t write_ip_header(std::vector<uint8_t>& out, const net::IpAddress& from,
                       const net::IpAddress& to, uint8_t protocol, size_t l4_len) {
    if (from.v6) {
        out.assign(kIpv6HeaderLen + l4_len, 0);
        out[0] = 0x60;
        store_be16(&out[4], static_cast<uint16_t>(l4_len));
        out[6] = protocol;
        out[7] = kTtl;
        std::memcpy(&out[8], from.bytes.data(), 16);
        std::memcpy(&out[24], to.bytes.data(), 16);
        return kIpv6HeaderLen;
    }
    out.assign(kIpv4HeaderLen + l4_len, 0);
    out[0] = 0x45;
    store_be16(&out[2], static_cast<uint16_t>(out.size()));
    store_be16(&out[6], 0x4000);  // DF
    out[8] = kTtl;
    out[9] = protocol;
    std::memcpy(&out[12], from.bytes.data(), 4);
    std::memcpy(&out[16], to.bytes.data(), 4);
    store_be16(&out[10], internet_checksum(std::span(out.data(), kIpv4HeaderLen)));
    return kIpv4HeaderLen;
}

/// Fills in the L4 checksum of a packet this file built.
void finish_l4_checksum(std::vector<uint8_t>& out) {
    PacketView v;
    if (parse_packet(out, &v) != ParseError::none) return;
    size_t off = v.l4_offset + (v.is_tcp() ? 16 : v.is_udp() ? 6 : 2);
    uint16_t sum = compute_l4_checksum(out, v);
    if (v.is_udp() && sum == 0) sum = 0xffff;  // 0 would mean "no checksum"
    store_be16(&out[off], sum);
}

}  // namespace

std::vector<uint8_t> build_tcp_segment(const SocketAddr& src, const SocketAddr& dst, uint8_t flags,
                                       uint32_t seq, uint32_t ack,
                                       std::span<const uint8_t> payload) {
    std::vector<uint8_t> out;
    size_t l4 = write_ip_header(out, src.ip, dst.ip, kProtoTcp, kTcpHeaderLen + payload.size());
    uint8_t* t = out.data() + l4;
    store_be16(t, src.port);
    store_be16(t + 2, dst.port);
    store_be32(t + 4, seq);
    store_be32(t + 8, ack);
    t[12] = (kTcpHeaderLen / 4) << 4;
    t[13] = flags;
    store_be16(t + 14, 0xffff);
    if (!payload.empty()) std::memcpy(t + kTcpHeaderLen, payload.data(), payload.size());
    finish_l4_checksum(out);
    return out;
}

std::vector<uint8_t> build_udp_datagram(const SocketAddr& src, const SocketAddr& dst,
                                        std::span<const uint8_t> payload) {
    std::vector<uint8_t> out;
    size_t l4 = write_ip_header(out, src.ip, dst.ip, kProtoUdp, kUdpHeaderLen + payload.size());
    uint8_t* u = out.data() + l4;
    store_be16(u, src.port);
    store_be16(u + 2, dst.port);
    store_be16(u + 4, static_cast<uint16_t>(kUdpHeaderLen + payload.size()));
    if (!payload.empty()) std::memcpy(u + kUdpHeaderLen, payload.data(), payload.size());
    finish_l4_checksum(out);
    return out;
}

std::vector<uint8_t> build_tcp_reset(const PacketView& view) {
    if (!view.is_tcp() || view.has(kTcpRst)) return {};
    if (view.has(kTcpAck))
        return build_tcp_segment(view.destination(), view.source(), kTcpRst, view.ack, 0);
    uint32_t len = static_cast<uint32_t>(view.payload_len) + (view.has(kTcpSyn) ? 1 : 0) +
                   (view.has(kTcpFin) ? 1 : 0);
    return build_tcp_segment(view.destination(), view.source(), kTcpRst | kTcpAck, 0,
                             view.seq + len);
}

std::vector<uint8_t> build_port_unreachable(std::span<const uint8_t> data, const PacketView& view) {
    std::vector<uint8_t> out;
    size_t ip_len = view.v6 ? kIpv6HeaderLen : kIpv4HeaderLen;
    size_t max_quote = (view.v6 ? kIpv6ErrorMax : kIpv4ErrorMax) - ip_len - 8;
    size_t quote = std::min({view.total_len, data.size(), max_quote});
    uint8_t proto = view.v6 ? kProtoIcmpv6 : kProtoIcmp;
    size_t l4 = write_ip_header(out, view.dst, view.src, proto, 8 + quote);
    out[l4] = view.v6 ? 1 : 3;      // destination unreachable
    out[l4 + 1] = view.v6 ? 4 : 3;  // port unreachable
    std::memcpy(&out[l4 + 8], data.data(), quote);
    finish_l4_checksum(out);
    return out;
}

}  // namespace ghost::tun

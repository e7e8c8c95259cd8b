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

/// An ICMP/ICMPv6 error from -> to: `type`, `code`, the 32-bit word after the checksum
/// (unused, or an MTU), then as much of `quote` as RFC 1812 / RFC 4443 allow.
std::vector<uint8_t> icmp_error(const net::IpAddress& from, const net::IpAddress& to, uint8_t type,
                                uint8_t code, uint32_t word, std::span<const uint8_t> quote) {
    std::vector<uint8_t> out;
    size_t ip_len = from.v6 ? kIpv6HeaderLen : kIpv4HeaderLen;
    size_t max_quote = (from.v6 ? kIpv6ErrorMax : kIpv4ErrorMax) - ip_len - 8;
    size_t n = std::min(quote.size(), max_quote);
    uint8_t proto = from.v6 ? kProtoIcmpv6 : kProtoIcmp;
    size_t l4 = write_ip_header(out, from, to, proto, 8 + n);
    out[l4] = type;
    out[l4 + 1] = code;
    store_be32(&out[l4 + 4], word);
    if (n > 0) std::memcpy(&out[l4 + 8], quote.data(), n);
    finish_l4_checksum(out);
    return out;
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
    return icmp_error(view.dst, view.src, view.v6 ? 1 : 3, view.v6 ? 4 : 3, 0,
                      data.first(std::min(view.total_len, data.size())));
}

std::vector<uint8_t> build_echo(const net::IpAddress& from, const net::IpAddress& to, bool request,
                                uint16_t ident, uint16_t sequence, std::span<const uint8_t> data) {
    size_t ip_len = from.v6 ? 0 : kIpv4HeaderLen;  // what the IP length field counts
    if (from.v6 != to.v6 || ip_len + kIcmpHeaderLen + data.size() > 0xffff) return {};
    std::vector<uint8_t> out;
    uint8_t proto = from.v6 ? kProtoIcmpv6 : kProtoIcmp;
    size_t l4 = write_ip_header(out, from, to, proto, kIcmpHeaderLen + data.size());
    if (from.v6)
        out[l4] = request ? kIcmpv6EchoRequest : kIcmpv6EchoReply;
    else
        out[l4] = request ? kIcmpEchoRequest : kIcmpEchoReply;
    store_be16(&out[l4 + 4], ident);
    store_be16(&out[l4 + 6], sequence);
    if (!data.empty()) std::memcpy(&out[l4 + kIcmpHeaderLen], data.data(), data.size());
    finish_l4_checksum(out);
    return out;
}

bool is_icmp_error_type(bool v6, uint8_t type) {
    if (v6) return type >= 1 && type <= 4;
    return type == 3 || type == 11 || type == 12;
}

std::vector<uint8_t> build_udp_icmp_error(const SocketAddr& client, const SocketAddr& remote,
                                          uint8_t type, uint8_t code, uint32_t mtu,
                                          std::span<const uint8_t> payload) {
    bool v6 = client.ip.v6;
    if (v6 != remote.ip.v6 || !is_icmp_error_type(v6, type)) return {};
    // The datagram as the application sent it (lengths and checksum describe all of it),
    // of which icmp_error() quotes the start.
    size_t fits = 0xffff - kUdpHeaderLen - (v6 ? 0 : kIpv4HeaderLen);
    std::vector<uint8_t> original =
        build_udp_datagram(client, remote, payload.first(std::min(fits, payload.size())));
    uint32_t word = 0;
    if (!v6 && type == 3 && code == 4) word = std::min<uint32_t>(mtu, 0xffff);
    if (v6 && type == 2) word = mtu;
    return icmp_error(remote.ip, client.ip, type, code, word, original);
}

}  // namespace ghost::tun

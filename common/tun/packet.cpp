#include "common/tun/packet.hpp"

#include <algorithm>
#include <cstring>

#include "common/tun/checksum.hpp"

namespace ghost::tun {

namespace {

net::IpAddress address_at(const uint8_t* p, bool v6) {
    net::IpAddress ip;
    ip.v6 = v6;
    std::memcpy(ip.bytes.data(), p, v6 ? 16 : 4);
    return ip;
}

ParseError parse_ipv4(std::span<const uint8_t> d, PacketView* v) {
    if (d.size() < kIpv4HeaderLen) return ParseError::too_short;
    size_t ihl = size_t{d[0] & 0x0fu} * 4;
    if (ihl < kIpv4HeaderLen || ihl > d.size()) return ParseError::bad_header_length;
    size_t total = load_be16(&d[2]);
    if (total < ihl || total > d.size()) return ParseError::bad_total_length;
    uint16_t frag = load_be16(&d[6]);
    if ((frag & 0x2000) != 0 || (frag & 0x1fff) != 0) return ParseError::fragment;
    v->v6 = false;
    v->protocol = d[9];
    v->src = address_at(&d[12], false);
    v->dst = address_at(&d[16], false);
    v->ip_header_len = ihl;
    v->total_len = total;
    return ParseError::none;
}

bool is_ipv6_extension(uint8_t next_header) {
    switch (next_header) {
        case 0:
        case 43:
        case 50:
        case 51:
        case 60:
        case 135:
        case 139:
        case 140:
            return true;
        default:
            return false;
    }
}

ParseError parse_ipv6(std::span<const uint8_t> d, PacketView* v) {
    if (d.size() < kIpv6HeaderLen) return ParseError::too_short;
    size_t payload = load_be16(&d[4]);
    // A zero payload length means a jumbogram, which a TUN never carries.
    if (payload == 0 || kIpv6HeaderLen + payload > d.size()) return ParseError::bad_total_length;
    uint8_t next = d[6];
    if (next == 44) return ParseError::fragment;
    if (is_ipv6_extension(next)) return ParseError::ipv6_extension;
    v->v6 = true;
    v->protocol = next;
    v->src = address_at(&d[8], true);
    v->dst = address_at(&d[24], true);
    v->ip_header_len = kIpv6HeaderLen;
    v->total_len = kIpv6HeaderLen + payload;
    return ParseError::none;
}

ParseError parse_tcp(std::span<const uint8_t> d, PacketView* v) {
    if (v->l4_len < kTcpHeaderLen) return ParseError::bad_l4_length;
    const uint8_t* t = d.data() + v->l4_offset;
    size_t doff = size_t{static_cast<uint8_t>(t[12] >> 4)} * 4;
    if (doff < kTcpHeaderLen || doff > v->l4_len) return ParseError::bad_tcp_offset;
    v->sport = load_be16(t);
    v->dport = load_be16(t + 2);
    v->seq = load_be32(t + 4);
    v->ack = load_be32(t + 8);
    v->tcp_flags = t[13];
    v->tcp_header_len = doff;
    v->payload_len = v->l4_len - doff;
    return ParseError::none;
}

ParseError parse_udp(std::span<const uint8_t> d, PacketView* v) {
    if (v->l4_len < kUdpHeaderLen) return ParseError::bad_l4_length;
    const uint8_t* u = d.data() + v->l4_offset;
    if (load_be16(u + 4) != v->l4_len) return ParseError::bad_l4_length;
    v->sport = load_be16(u);
    v->dport = load_be16(u + 2);
    v->payload_len = v->l4_len - kUdpHeaderLen;
    return ParseError::none;
}

size_t address_len(const PacketView& v) {
    return v.v6 ? 16 : 4;
}

}  // namespace

size_t l4_checksum_offset(const PacketView& v) {
    switch (v.protocol) {
        case kProtoTcp:
            return 16;
        case kProtoUdp:
            return 6;
        default:
            return 2;  // ICMP, ICMPv6
    }
}

std::string_view to_string(ParseError e) {
    switch (e) {
        case ParseError::none:
            return "none";
        case ParseError::too_short:
            return "too_short";
        case ParseError::bad_version:
            return "bad_version";
        case ParseError::bad_header_length:
            return "bad_header_length";
        case ParseError::bad_total_length:
            return "bad_total_length";
        case ParseError::fragment:
            return "fragment";
        case ParseError::ipv6_extension:
            return "ipv6_extension";
        case ParseError::bad_l4_length:
            return "bad_l4_length";
        case ParseError::bad_tcp_offset:
            return "bad_tcp_offset";
        case ParseError::count_:
            break;
    }
    return "unknown";
}

ParseError parse_packet(std::span<const uint8_t> data, PacketView* out) {
    if (data.empty()) return ParseError::too_short;
    PacketView v;
    uint8_t version = data[0] >> 4;
    ParseError err = version == 4   ? parse_ipv4(data, &v)
                     : version == 6 ? parse_ipv6(data, &v)
                                    : ParseError::bad_version;
    if (err != ParseError::none) return err;
    v.l4_offset = v.ip_header_len;
    v.l4_len = v.total_len - v.ip_header_len;
    auto datagram = data.first(v.total_len);
    if (v.is_tcp()) err = parse_tcp(datagram, &v);
    if (v.is_udp()) err = parse_udp(datagram, &v);
    if (err != ParseError::none) return err;
    *out = v;
    return ParseError::none;
}

bool is_own_l4_checksum(const PacketView& view, const PartialChecksum& partial) {
    return (view.is_tcp() || view.is_udp()) && partial.start == view.l4_offset &&
           partial.offset == l4_checksum_offset(view);
}

bool finish_partial_checksum(std::span<uint8_t> data, const PartialChecksum& partial) {
    size_t field = size_t{partial.start} + partial.offset;
    if (field + 2 > data.size()) return false;
    // The field's partial sum is one of the summed words, exactly as a device sums it.
    uint16_t sum = checksum_finish(checksum_add(data.subspan(partial.start)));
    store_be16(data.data() + field, sum);
    return true;
}

void rewrite_endpoints(std::span<uint8_t> data, const PacketView& view, const SocketAddr& src,
                       const SocketAddr& dst, bool l4_partial) {
    uint8_t* l4 = data.data() + view.l4_offset;
    uint8_t* l4_sum = l4 + l4_checksum_offset(view);
    // IPv4 UDP may carry no checksum (0); it must stay that way.
    bool l4_has_sum = l4_partial || !(view.is_udp() && !view.v6 && load_be16(l4_sum) == 0);
    // A partial sum is kept complemented here, so the same RFC 1624 update applies.
    uint16_t l4_check = l4_partial ? static_cast<uint16_t>(~load_be16(l4_sum)) : load_be16(l4_sum);
    size_t alen = address_len(view);
    size_t src_off = view.v6 ? 8 : 12;
    size_t dst_off = view.v6 ? 24 : 16;
    const std::pair<size_t, const net::IpAddress*> addrs[] = {{src_off, &src.ip},
                                                              {dst_off, &dst.ip}};
    for (const auto& [off, ip] : addrs) {
        std::span<const uint8_t> now(data.data() + off, alen);
        std::span<const uint8_t> next(ip->bytes.data(), alen);
        if (!view.v6) store_be16(&data[10], checksum_update(load_be16(&data[10]), now, next));
        l4_check = checksum_update(l4_check, now, next);
        std::memcpy(data.data() + off, ip->bytes.data(), alen);
    }
    if (!l4_partial) {
        l4_check = checksum_update16(l4_check, load_be16(l4), src.port);
        l4_check = checksum_update16(l4_check, load_be16(l4 + 2), dst.port);
    }
    store_be16(l4, src.port);
    store_be16(l4 + 2, dst.port);
    if (l4_partial) {
        store_be16(l4_sum, static_cast<uint16_t>(~l4_check));
    } else if (l4_has_sum) {
        if (view.is_udp() && l4_check == 0) l4_check = 0xffff;
        store_be16(l4_sum, l4_check);
    }
}

uint16_t compute_l4_checksum(std::span<const uint8_t> data, const PacketView& view) {
    if (view.l4_len < l4_checksum_offset(view) + 2 || view.l4_offset + view.l4_len > data.size())
        return 0;
    uint32_t sum = 0;
    if (view.v6 || view.protocol != kProtoIcmp) {
        size_t alen = address_len(view);
        sum = checksum_add(std::span(view.src.bytes.data(), alen), sum);
        sum = checksum_add(std::span(view.dst.bytes.data(), alen), sum);
        sum += view.protocol;
        sum +=
            static_cast<uint32_t>(view.l4_len >> 16) + static_cast<uint32_t>(view.l4_len & 0xffff);
    }
    auto l4 = data.subspan(view.l4_offset, view.l4_len);
    sum = checksum_add(l4, sum);
    // Take the stored checksum back out: adding its complement subtracts it.
    sum += static_cast<uint16_t>(~load_be16(l4.data() + l4_checksum_offset(view)));
    return checksum_finish(sum);
}

bool parse_echo(std::span<const uint8_t> data, const PacketView& view, EchoView* out) {
    if (view.protocol != (view.v6 ? kProtoIcmpv6 : kProtoIcmp)) return false;
    if (view.l4_len < kIcmpHeaderLen || view.l4_offset + view.l4_len > data.size()) return false;
    const uint8_t* m = data.data() + view.l4_offset;
    uint8_t request = view.v6 ? kIcmpv6EchoRequest : kIcmpEchoRequest;
    uint8_t reply = view.v6 ? kIcmpv6EchoReply : kIcmpEchoReply;
    if ((m[0] != request && m[0] != reply) || m[1] != 0) return false;
    out->request = m[0] == request;
    out->ident = load_be16(m + 4);
    out->sequence = load_be16(m + 6);
    out->data_offset = view.l4_offset + kIcmpHeaderLen;
    out->data_len = view.l4_len - kIcmpHeaderLen;
    return true;
}

bool is_multicast_or_broadcast(const net::IpAddress& ip) {
    if (ip.v6) return ip.bytes[0] == 0xff;
    if ((ip.bytes[0] & 0xf0) == 0xe0) return true;
    return std::all_of(ip.bytes.begin(), ip.bytes.begin() + 4, [](uint8_t b) { return b == 0xff; });
}

}  // namespace ghost::tun

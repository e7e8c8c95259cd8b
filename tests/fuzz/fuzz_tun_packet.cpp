// libFuzzer target for the TUN packet parser and rewriter (common/tun/packet, reply,
// checksum). Input: one packet as read from the TUN device (no link header).
// A packet that parses is rewritten to other endpoints (its checksums must stay right if
// they were), answered with a RST or an ICMP error (which must parse and be right), and
// its checksum is finished as a device would for every offload offset. An echo request or
// reply is answered with a rebuilt echo that must carry its identifier, sequence and data;
// a UDP datagram also gets the ICMP errors a datagram channel may report for its flow.

#include <cstdint>
#include <span>
#include <vector>

#include "common/tun/checksum.hpp"
#include "common/tun/packet.hpp"
#include "common/tun/reply.hpp"
#include "tests/fuzz/fuzz_util.hpp"
#include "tests/fuzz/tun_checks.hpp"

namespace {

using ghost::fuzz::check;
using ghost::fuzz::checksums_ok;
namespace tun = ghost::tun;
namespace net = ghost::net;

// Parses a packet this code built: it must parse, with right checksums.
tun::PacketView parse_own(std::span<const uint8_t> bytes, const char* what) {
    tun::PacketView v;
    check(tun::parse_packet(bytes, &v) == tun::ParseError::none, what);
    check(checksums_ok(bytes, v), what);
    return v;
}

void check_view(std::span<const uint8_t> data, const tun::PacketView& v) {
    check(v.total_len <= data.size() && v.ip_header_len <= v.total_len,
          "lengths beyond the buffer");
    check(v.l4_offset + v.l4_len == v.total_len, "L4 does not end with the datagram");
    if (v.is_tcp()) check(v.tcp_header_len + v.payload_len == v.l4_len, "TCP lengths disagree");
    if (v.is_udp()) check(tun::kUdpHeaderLen + v.payload_len == v.l4_len, "UDP lengths disagree");
    check(tun::to_string(tun::ParseError::none) == "none", "names");
}

void rewrite(std::span<const uint8_t> data, const tun::PacketView& v) {
    std::vector<uint8_t> copy(data.begin(), data.end());
    tun::SocketAddr src{v.dst, static_cast<uint16_t>(v.dport ^ 0x5a5a)};
    tun::SocketAddr dst{*net::IpAddress::parse(v.v6 ? "fdc7:6768:6f73:7400::1" : "198.18.0.1"),
                        1080};
    const bool ok_before = checksums_ok(data, v);
    tun::rewrite_endpoints(copy, v, src, dst);
    tun::PacketView after;
    check(tun::parse_packet(copy, &after) == tun::ParseError::none,
          "rewritten packet does not parse");
    check(after.src == src.ip && after.dst == dst.ip && after.sport == src.port &&
              after.dport == dst.port,
          "rewrite wrote other endpoints");
    check(after.total_len == v.total_len && after.payload_len == v.payload_len,
          "rewrite changed lengths");
    if (ok_before) check(checksums_ok(copy, after), "rewrite broke a right checksum");
}

void answer(std::span<const uint8_t> data, const tun::PacketView& v) {
    if (v.is_tcp()) {
        const auto rst = tun::build_tcp_reset(v);
        if (rst.empty()) return check(v.has(tun::kTcpRst), "no RST for a segment");
        const auto r = parse_own(rst, "RST does not parse or has a wrong checksum");
        check(r.has(tun::kTcpRst) && r.dst == v.src && r.dport == v.sport,
              "RST to the wrong place");
        return;
    }
    const auto icmp = tun::build_port_unreachable(data, v);
    const auto r = parse_own(icmp, "ICMP error does not parse or has a wrong checksum");
    check(r.dst == v.src && r.total_len <= 1280, "ICMP error to the wrong place or too large");
}

void echo(std::span<const uint8_t> data, const tun::PacketView& v) {
    tun::EchoView e;
    if (!tun::parse_echo(data, v, &e)) return;
    check(e.data_offset + e.data_len == v.total_len, "echo data does not end with the datagram");
    const auto payload = data.subspan(e.data_offset, e.data_len);
    const auto back = tun::build_echo(v.dst, v.src, !e.request, e.ident, e.sequence, payload);
    const auto r = parse_own(back, "echo does not parse or has a wrong checksum");
    tun::EchoView re;
    check(tun::parse_echo(back, r, &re) && re.request != e.request && re.ident == e.ident &&
              re.sequence == e.sequence && re.data_len == e.data_len && r.dst == v.src,
          "rebuilt echo differs");
}

void udp_errors(std::span<const uint8_t> data, const tun::PacketView& v) {
    const auto payload = data.subspan(v.l4_offset + tun::kUdpHeaderLen, v.payload_len);
    for (uint8_t type : {uint8_t(2), uint8_t(3), uint8_t(5), uint8_t(v.v6 ? 137 : 11)}) {
        const auto icmp =
            tun::build_udp_icmp_error(v.source(), v.destination(), type, 4, 1400, payload);
        if (!tun::is_icmp_error_type(v.v6, type)) {
            check(icmp.empty(), "ICMP error of a type that is none");
            continue;
        }
        const auto r = parse_own(icmp, "UDP ICMP error does not parse or has a wrong checksum");
        check(r.dst == v.src && r.src == v.dst && r.total_len <= 1280, "UDP ICMP error misplaced");
    }
}

void finish_partials(std::span<const uint8_t> data, const tun::PacketView& v) {
    for (uint16_t start : {uint16_t(0), uint16_t(v.l4_offset), uint16_t(v.total_len - 1),
                           uint16_t(v.total_len), uint16_t(0xffff)}) {
        std::vector<uint8_t> copy(data.begin(), data.begin() + v.total_len);
        const tun::PartialChecksum partial{start,
                                           static_cast<uint16_t>(tun::l4_checksum_offset(v))};
        (void)tun::is_own_l4_checksum(v, partial);
        (void)tun::finish_partial_checksum(copy, partial);
    }
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
    const std::span<const uint8_t> bytes(data, size);
    tun::PacketView v;
    const tun::ParseError err = tun::parse_packet(bytes, &v);
    check(tun::to_string(err) != "unknown", "unnamed parse error");
    if (err != tun::ParseError::none) return 0;
    check_view(bytes, v);
    (void)tun::compute_l4_checksum(bytes, v);
    (void)tun::is_multicast_or_broadcast(v.dst);
    finish_partials(bytes, v);
    if (v.is_tcp() || v.is_udp()) {
        rewrite(bytes, v);
        answer(bytes, v);
    }
    if (v.is_udp()) udp_errors(bytes, v);
    echo(bytes, v);
    return 0;
}

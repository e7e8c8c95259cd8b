#include "common/tun/packet.hpp"

#include <gtest/gtest.h>

#include <random>
#include <vector>

#include "common/tun/checksum.hpp"
#include "common/tun/reply.hpp"

namespace ghost::tun {
namespace {

net::IpAddress ip(const char* text) {
    return *net::IpAddress::parse(text);
}

const SocketAddr kApp4{ip("198.18.0.1"), 40000};
const SocketAddr kDst4{ip("10.77.0.2"), 8080};
const SocketAddr kApp6{ip("fdc7:6768:6f73:7400::1"), 40000};
const SocketAddr kDst6{ip("2001:db8::7"), 443};

std::vector<uint8_t> bytes(std::initializer_list<int> list) {
    std::vector<uint8_t> v;
    for (int b : list) v.push_back(static_cast<uint8_t>(b));
    return v;
}

ParseError parse(const std::vector<uint8_t>& pkt, PacketView* v = nullptr) {
    PacketView scratch;
    return parse_packet(pkt, v != nullptr ? v : &scratch);
}

TEST(NatPacket, ParsesIpv4Tcp) {
    auto pkt = build_tcp_segment(kApp4, kDst4, kTcpSyn, 1000, 0, bytes({1, 2, 3}));
    PacketView v;
    ASSERT_EQ(parse(pkt, &v), ParseError::none);
    EXPECT_FALSE(v.v6);
    EXPECT_TRUE(v.is_tcp());
    EXPECT_EQ(v.source(), kApp4);
    EXPECT_EQ(v.destination(), kDst4);
    EXPECT_EQ(v.seq, 1000u);
    EXPECT_TRUE(v.has(kTcpSyn));
    EXPECT_FALSE(v.has(kTcpAck));
    EXPECT_EQ(v.total_len, pkt.size());
    EXPECT_EQ(v.payload_len, 3u);
}

TEST(NatPacket, ParsesIpv6UdpAndIgnoresTrailingBytes) {
    auto pkt = build_udp_datagram(kApp6, kDst6, bytes({9, 9}));
    size_t len = pkt.size();
    pkt.push_back(0xaa);  // trailing junk beyond the payload length
    PacketView v;
    ASSERT_EQ(parse(pkt, &v), ParseError::none);
    EXPECT_TRUE(v.v6);
    EXPECT_TRUE(v.is_udp());
    EXPECT_EQ(v.total_len, len);
    EXPECT_EQ(v.destination(), kDst6);
    EXPECT_EQ(v.payload_len, 2u);
}

TEST(NatPacket, ParsesIpv4OptionsAndTcpOptions) {
    auto pkt = build_tcp_segment(kApp4, kDst4, kTcpSyn, 1, 0);
    // Grow the IPv4 header to 24 bytes (one NOP option word) and the TCP header to 24.
    pkt.insert(pkt.begin() + 20, {1, 1, 1, 0});
    pkt[0] = 0x46;
    pkt.insert(pkt.end(), {2, 4, 5, 0xb4});  // MSS option
    pkt[24 + 12] = 6 << 4;
    store_be16(&pkt[2], static_cast<uint16_t>(pkt.size()));
    PacketView v;
    ASSERT_EQ(parse(pkt, &v), ParseError::none);
    EXPECT_EQ(v.ip_header_len, 24u);
    EXPECT_EQ(v.tcp_header_len, 24u);
    EXPECT_EQ(v.payload_len, 0u);
}

TEST(NatPacket, RejectsMalformedPacketsByReason) {
    auto tcp4 = build_tcp_segment(kApp4, kDst4, kTcpAck, 1, 2);
    auto udp4 = build_udp_datagram(kApp4, kDst4, bytes({1}));
    auto tcp6 = build_tcp_segment(kApp6, kDst6, kTcpAck, 1, 2);
    struct Case {
        const char* what;
        std::vector<uint8_t> pkt;
        ParseError want;
    };
    std::vector<Case> cases;
    cases.push_back({"empty", {}, ParseError::too_short});
    cases.push_back(
        {"short v4", std::vector<uint8_t>(tcp4.begin(), tcp4.begin() + 19), ParseError::too_short});
    auto c = tcp4;
    c[0] = 0x55;
    cases.push_back({"version 5", c, ParseError::bad_version});
    c = tcp4;
    c[0] = 0x44;
    cases.push_back({"ihl 4", c, ParseError::bad_header_length});
    c = tcp4;
    c[0] = 0x4f;
    c.resize(40);
    cases.push_back({"ihl past end", c, ParseError::bad_header_length});
    c = tcp4;
    store_be16(&c[2], static_cast<uint16_t>(c.size() + 1));
    cases.push_back({"total > buffer", c, ParseError::bad_total_length});
    c = tcp4;
    store_be16(&c[2], 19);
    cases.push_back({"total < ihl", c, ParseError::bad_total_length});
    c = tcp4;
    store_be16(&c[6], 0x2000);
    cases.push_back({"more fragments", c, ParseError::fragment});
    c = tcp4;
    store_be16(&c[6], 0x0010);
    cases.push_back({"fragment offset", c, ParseError::fragment});
    c = tcp4;
    store_be16(&c[2], 30);
    c.resize(30);
    cases.push_back({"tcp header cut", c, ParseError::bad_l4_length});
    c = tcp4;
    c[20 + 12] = 4 << 4;
    cases.push_back({"tcp offset 4", c, ParseError::bad_tcp_offset});
    c = tcp4;
    c[20 + 12] = 15 << 4;
    cases.push_back({"tcp offset past end", c, ParseError::bad_tcp_offset});
    c = udp4;
    store_be16(&c[20 + 4], 7);
    cases.push_back({"udp length 7", c, ParseError::bad_l4_length});
    c = udp4;
    store_be16(&c[20 + 4], 100);
    cases.push_back({"udp length past end", c, ParseError::bad_l4_length});
    cases.push_back(
        {"short v6", std::vector<uint8_t>(tcp6.begin(), tcp6.begin() + 39), ParseError::too_short});
    c = tcp6;
    store_be16(&c[4], 0);
    cases.push_back({"v6 jumbo", c, ParseError::bad_total_length});
    c = tcp6;
    store_be16(&c[4], static_cast<uint16_t>(c.size()));
    cases.push_back({"v6 payload past end", c, ParseError::bad_total_length});
    c = tcp6;
    c[6] = 44;
    cases.push_back({"v6 fragment", c, ParseError::fragment});
    c = tcp6;
    c[6] = 0;
    cases.push_back({"v6 hop-by-hop", c, ParseError::ipv6_extension});
    for (const auto& k : cases) EXPECT_EQ(parse(k.pkt), k.want) << k.what;
}

TEST(NatPacket, ParseErrorsHaveNames) {
    for (size_t i = 0; i < kParseErrorCount; ++i)
        EXPECT_NE(to_string(static_cast<ParseError>(i)), "unknown");
}

TEST(NatPacket, EveryTruncationAndRandomBytesAreHandled) {
    std::mt19937 rng(99);
    for (auto pkt : {build_tcp_segment(kApp4, kDst4, kTcpAck, 1, 2, bytes({1, 2, 3, 4})),
                     build_tcp_segment(kApp6, kDst6, kTcpAck, 1, 2, bytes({1, 2, 3, 4})),
                     build_udp_datagram(kApp4, kDst4, bytes({5}))}) {
        for (size_t n = 0; n < pkt.size(); ++n) {
            std::vector<uint8_t> cut(pkt.begin(), pkt.begin() + n);
            EXPECT_NE(parse(cut), ParseError::none) << "prefix " << n;
        }
    }
    for (int round = 0; round < 20000; ++round) {
        std::vector<uint8_t> junk(rng() % 80);
        for (auto& b : junk) b = static_cast<uint8_t>(rng());
        if (!junk.empty())
            junk[0] = static_cast<uint8_t>((round % 2 ? 0x40 : 0x60) | (junk[0] & 0xf));
        PacketView v;
        if (parse_packet(junk, &v) == ParseError::none) {
            EXPECT_LE(v.total_len, junk.size());
            EXPECT_LE(v.l4_offset + v.l4_len, v.total_len);
        }
    }
}

TEST(NatPacket, ResetForSynAcknowledgesIt) {
    auto syn = build_tcp_segment(kApp4, kDst4, kTcpSyn, 5000, 0);
    PacketView v;
    ASSERT_EQ(parse(syn, &v), ParseError::none);
    auto rst = build_tcp_reset(v);
    PacketView r;
    ASSERT_EQ(parse(rst, &r), ParseError::none);
    EXPECT_EQ(r.source(), kDst4);
    EXPECT_EQ(r.destination(), kApp4);
    EXPECT_EQ(r.tcp_flags, kTcpRst | kTcpAck);
    EXPECT_EQ(r.seq, 0u);
    EXPECT_EQ(r.ack, 5001u);
    EXPECT_EQ(compute_l4_checksum(rst, r), load_be16(&rst[20 + 16]));
    EXPECT_EQ(internet_checksum(std::span(rst.data(), 20)), 0);
}

TEST(NatPacket, ResetForAckUsesItsAckNumber) {
    auto seg = build_tcp_segment(kApp6, kDst6, kTcpAck | kTcpPsh, 7, 12345, bytes({1, 2}));
    PacketView v;
    ASSERT_EQ(parse(seg, &v), ParseError::none);
    auto rst = build_tcp_reset(v);
    PacketView r;
    ASSERT_EQ(parse(rst, &r), ParseError::none);
    EXPECT_EQ(r.tcp_flags, kTcpRst);
    EXPECT_EQ(r.seq, 12345u);
    EXPECT_EQ(compute_l4_checksum(rst, r), load_be16(&rst[40 + 16]));
}

TEST(NatPacket, NoResetForAReset) {
    auto seg = build_tcp_segment(kApp4, kDst4, kTcpRst, 7, 0);
    PacketView v;
    ASSERT_EQ(parse(seg, &v), ParseError::none);
    EXPECT_TRUE(build_tcp_reset(v).empty());
}

TEST(NatPacket, PortUnreachableQuotesTheDatagram) {
    auto udp = build_udp_datagram(kApp4, kDst4, std::vector<uint8_t>(1000, 0x5a));
    PacketView v;
    ASSERT_EQ(parse(udp, &v), ParseError::none);
    auto icmp = build_port_unreachable(udp, v);
    PacketView r;
    ASSERT_EQ(parse(icmp, &r), ParseError::none);
    EXPECT_EQ(r.protocol, kProtoIcmp);
    EXPECT_EQ(r.src, kDst4.ip);
    EXPECT_EQ(r.dst, kApp4.ip);
    EXPECT_EQ(icmp.size(), 576u);
    EXPECT_EQ(icmp[20], 3);
    EXPECT_EQ(icmp[21], 3);
    EXPECT_TRUE(std::equal(icmp.begin() + 28, icmp.end(), udp.begin()));
    EXPECT_EQ(internet_checksum(std::span(icmp.data() + 20, icmp.size() - 20)), 0);
}

TEST(NatPacket, Icmpv6PortUnreachableHasValidChecksum) {
    auto udp = build_udp_datagram(kApp6, kDst6, std::vector<uint8_t>(2000, 1));
    PacketView v;
    ASSERT_EQ(parse(udp, &v), ParseError::none);
    auto icmp = build_port_unreachable(udp, v);
    PacketView r;
    ASSERT_EQ(parse(icmp, &r), ParseError::none);
    EXPECT_EQ(r.protocol, kProtoIcmpv6);
    EXPECT_EQ(icmp.size(), 1280u);
    EXPECT_EQ(icmp[40], 1);
    EXPECT_EQ(icmp[41], 4);
    EXPECT_EQ(compute_l4_checksum(icmp, r), load_be16(&icmp[42]));
}

// The packet parses, its IPv4 header and ICMP/ICMPv6 checksums are right.
PacketView checked(const std::vector<uint8_t>& pkt) {
    PacketView v;
    EXPECT_EQ(parse(pkt, &v), ParseError::none);
    if (!v.v6) {
        EXPECT_EQ(internet_checksum(std::span(pkt.data(), v.ip_header_len)), 0);
    }
    EXPECT_EQ(compute_l4_checksum(pkt, v), load_be16(&pkt[v.l4_offset + 2]));
    return v;
}

TEST(NatPacket, EchoRequestAndReplyRoundTrip) {
    std::vector<uint8_t> data(56, 0xa5);
    for (bool v6 : {false, true}) {
        const auto& app = v6 ? kApp6 : kApp4;
        const auto& dst = v6 ? kDst6 : kDst4;
        for (bool request : {true, false}) {
            auto pkt = build_echo(app.ip, dst.ip, request, 0x1234, 7, data);
            PacketView v = checked(pkt);
            EXPECT_EQ(v.protocol, v6 ? kProtoIcmpv6 : kProtoIcmp);
            EXPECT_EQ(v.src, app.ip);
            EXPECT_EQ(v.dst, dst.ip);
            EchoView e;
            ASSERT_TRUE(parse_echo(pkt, v, &e));
            EXPECT_EQ(e.request, request);
            EXPECT_EQ(e.ident, 0x1234);
            EXPECT_EQ(e.sequence, 7);
            ASSERT_EQ(e.data_len, data.size());
            EXPECT_TRUE(std::equal(data.begin(), data.end(), pkt.begin() + e.data_offset));
            uint8_t want = v6 ? (request ? 128 : 129) : (request ? 8 : 0);
            EXPECT_EQ(pkt[v.l4_offset], want);
        }
    }
    // Empty data, the largest data, one byte more, and mixed families.
    EXPECT_EQ(build_echo(kApp4.ip, kDst4.ip, false, 1, 1, {}).size(), 28u);
    EXPECT_EQ(build_echo(kApp4.ip, kDst4.ip, false, 1, 1, std::vector<uint8_t>(65507)).size(),
              65535u);
    EXPECT_TRUE(build_echo(kApp4.ip, kDst4.ip, false, 1, 1, std::vector<uint8_t>(65508)).empty());
    checked(build_echo(kApp6.ip, kDst6.ip, false, 1, 1, std::vector<uint8_t>(65527, 3)));
    EXPECT_TRUE(build_echo(kApp6.ip, kDst6.ip, false, 1, 1, std::vector<uint8_t>(65528)).empty());
    EXPECT_TRUE(build_echo(kApp4.ip, kDst6.ip, true, 1, 1, data).empty());
}

TEST(NatPacket, ParseEchoRefusesOtherIcmp) {
    auto pkt = build_echo(kApp4.ip, kDst4.ip, true, 1, 2, std::vector<uint8_t>(8));
    PacketView v;
    EchoView e;
    ASSERT_EQ(parse(pkt, &v), ParseError::none);
    auto other = pkt;
    other[20] = 3;  // destination unreachable
    EXPECT_FALSE(parse_echo(other, v, &e));
    other = pkt;
    other[21] = 1;  // code
    EXPECT_FALSE(parse_echo(other, v, &e));
    other = pkt;
    other[9] = kProtoIcmpv6;  // ICMPv6 over IPv4
    ASSERT_EQ(parse(other, &v), ParseError::none);
    EXPECT_FALSE(parse_echo(other, v, &e));
    // A header cut short.
    auto cut = build_echo(kApp4.ip, kDst4.ip, true, 1, 2, {});
    cut.resize(27);
    store_be16(&cut[2], 27);
    ASSERT_EQ(parse(cut, &v), ParseError::none);
    EXPECT_FALSE(parse_echo(cut, v, &e));
    // UDP is no echo.
    auto udp = build_udp_datagram(kApp4, kDst4, std::vector<uint8_t>(8));
    ASSERT_EQ(parse(udp, &v), ParseError::none);
    EXPECT_FALSE(parse_echo(udp, v, &e));
}

TEST(NatPacket, UdpIcmpErrorQuotesTheRebuiltDatagram) {
    std::vector<uint8_t> payload(1000, 0x42);
    auto icmp = build_udp_icmp_error(kApp4, kDst4, 3, 3, 0, payload);
    PacketView v = checked(icmp);
    EXPECT_EQ(v.protocol, kProtoIcmp);
    EXPECT_EQ(v.src, kDst4.ip);
    EXPECT_EQ(v.dst, kApp4.ip);
    EXPECT_EQ(icmp.size(), 576u);
    EXPECT_EQ(icmp[20], 3);
    EXPECT_EQ(icmp[21], 3);
    EXPECT_EQ(load_be32(&icmp[24]), 0u);
    // The quote: the datagram as the application sent it, lengths and all.
    std::span<const uint8_t> quote(icmp.data() + 28, icmp.size() - 28);
    EXPECT_EQ(quote[0], 0x45);
    EXPECT_EQ(load_be16(&quote[2]), 20u + 8 + 1000);
    EXPECT_EQ(internet_checksum(quote.first(20)), 0);
    EXPECT_EQ(quote[9], kProtoUdp);
    EXPECT_TRUE(std::equal(kApp4.ip.bytes.begin(), kApp4.ip.bytes.begin() + 4, &quote[12]));
    EXPECT_TRUE(std::equal(kDst4.ip.bytes.begin(), kDst4.ip.bytes.begin() + 4, &quote[16]));
    EXPECT_EQ(load_be16(&quote[20]), kApp4.port);
    EXPECT_EQ(load_be16(&quote[22]), kDst4.port);
    EXPECT_EQ(load_be16(&quote[24]), 8u + 1000);
    EXPECT_TRUE(std::all_of(quote.begin() + 28, quote.end(), [](uint8_t b) { return b == 0x42; }));
    // The same as the NAT's own answer to that datagram.
    auto udp = build_udp_datagram(kApp4, kDst4, payload);
    PacketView u;
    ASSERT_EQ(parse(udp, &u), ParseError::none);
    EXPECT_EQ(icmp, build_port_unreachable(udp, u));
}

TEST(NatPacket, UdpIcmpErrorWithoutPayloadQuotesTheHeaders) {
    auto icmp = build_udp_icmp_error(kApp4, kDst4, 3, 13, 0);  // administratively prohibited
    checked(icmp);
    EXPECT_EQ(icmp.size(), 20u + 8 + 28);
    EXPECT_EQ(icmp[21], 13);
    auto icmp6 = build_udp_icmp_error(kApp6, kDst6, 1, 1, 0);
    PacketView v = checked(icmp6);
    EXPECT_EQ(v.protocol, kProtoIcmpv6);
    EXPECT_EQ(icmp6.size(), 40u + 8 + 48);
    EXPECT_EQ(icmp6[48 + 6], kProtoUdp);  // the quoted IPv6 header's next header
    EXPECT_EQ(load_be16(&icmp6[48 + 40]), kApp6.port);
    EXPECT_EQ(load_be16(&icmp6[48 + 42]), kDst6.port);
}

TEST(NatPacket, UdpIcmpErrorCarriesTheMtu) {
    auto frag = build_udp_icmp_error(kApp4, kDst4, 3, 4, 1400, std::vector<uint8_t>(10));
    checked(frag);
    EXPECT_EQ(load_be16(&frag[24]), 0u);
    EXPECT_EQ(load_be16(&frag[26]), 1400u);
    // 16 bits for IPv4: larger values are cut to the largest.
    frag = build_udp_icmp_error(kApp4, kDst4, 3, 4, 70000);
    EXPECT_EQ(load_be16(&frag[26]), 65535u);
    // Only "fragmentation needed" has the field.
    auto other = build_udp_icmp_error(kApp4, kDst4, 3, 3, 1400);
    EXPECT_EQ(load_be32(&other[24]), 0u);

    auto big = build_udp_icmp_error(kApp6, kDst6, 2, 0, 1280, std::vector<uint8_t>(3000, 9));
    EXPECT_EQ(checked(big).protocol, kProtoIcmpv6);
    EXPECT_EQ(big.size(), 1280u);
    EXPECT_EQ(big[40], 2);
    EXPECT_EQ(load_be32(&big[44]), 1280u);
    EXPECT_EQ(load_be16(&big[48 + 4]), 8u + 3000);  // the quoted payload length
    auto time = build_udp_icmp_error(kApp6, kDst6, 3, 0, 1280);
    EXPECT_EQ(load_be32(&time[44]), 0u);
}

TEST(NatPacket, UdpIcmpErrorRefusesWhatIsNoError) {
    EXPECT_TRUE(is_icmp_error_type(false, 3));
    EXPECT_TRUE(is_icmp_error_type(false, 11));
    EXPECT_TRUE(is_icmp_error_type(false, 12));
    EXPECT_TRUE(is_icmp_error_type(true, 1));
    EXPECT_TRUE(is_icmp_error_type(true, 4));
    for (int t : {0, 4, 5, 8, 9, 13}) EXPECT_FALSE(is_icmp_error_type(false, t)) << t;
    for (int t : {0, 5, 128, 129, 134, 137}) EXPECT_FALSE(is_icmp_error_type(true, t)) << t;
    EXPECT_TRUE(build_udp_icmp_error(kApp4, kDst4, 5, 0, 0).empty());    // redirect
    EXPECT_TRUE(build_udp_icmp_error(kApp6, kDst6, 137, 0, 0).empty());  // redirect
    EXPECT_TRUE(build_udp_icmp_error(kApp4, kDst6, 3, 3, 0).empty());    // families
}

TEST(NatPacket, MulticastAndBroadcast) {
    EXPECT_TRUE(is_multicast_or_broadcast(ip("224.0.0.251")));
    EXPECT_TRUE(is_multicast_or_broadcast(ip("255.255.255.255")));
    EXPECT_TRUE(is_multicast_or_broadcast(ip("ff02::fb")));
    EXPECT_FALSE(is_multicast_or_broadcast(ip("10.0.0.1")));
    EXPECT_FALSE(is_multicast_or_broadcast(ip("2001:db8::1")));
}

}  // namespace
}  // namespace ghost::tun

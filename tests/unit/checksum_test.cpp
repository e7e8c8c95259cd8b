#include "common/tun/checksum.hpp"

#include <gtest/gtest.h>

#include <random>
#include <vector>

#include "common/tun/packet.hpp"
#include "common/tun/reply.hpp"

namespace ghost::tun {
namespace {

net::IpAddress ip(const char* text) {
    return *net::IpAddress::parse(text);
}

TEST(Checksum, MatchesRfc1071Example) {
    // RFC 1071 section 3: the sum of these words is ddf2, so the checksum is 220d.
    const uint8_t data[] = {0x00, 0x01, 0xf2, 0x03, 0xf4, 0xf5, 0xf6, 0xf7};
    EXPECT_EQ(checksum_finish(checksum_add(data)), static_cast<uint16_t>(~0xddf2));
    EXPECT_EQ(internet_checksum(data), 0x220d);
}

TEST(Checksum, PadsOddLengthWithZero) {
    const uint8_t odd[] = {0x12, 0x34, 0x56};
    const uint8_t even[] = {0x12, 0x34, 0x56, 0x00};
    EXPECT_EQ(internet_checksum(odd), internet_checksum(even));
}

TEST(Checksum, DataWithItsChecksumSumsToAllOnes) {
    std::vector<uint8_t> data = {0x45, 0x00, 0x00, 0x3c, 0x1c, 0x46, 0x40, 0x00, 0x40, 0x06,
                                 0x00, 0x00, 0xac, 0x10, 0x0a, 0x63, 0xac, 0x10, 0x0a, 0x0c};
    store_be16(&data[10], internet_checksum(data));
    EXPECT_EQ(load_be16(&data[10]), 0xb1e6);  // the classic Wikipedia IPv4 header example
    EXPECT_EQ(internet_checksum(data), 0);
}

TEST(Checksum, IncrementalUpdateEqualsRecomputation) {
    std::mt19937 rng(1624);
    for (int round = 0; round < 5000; ++round) {
        std::vector<uint8_t> data(2 * (1 + rng() % 40));
        for (auto& b : data) b = static_cast<uint8_t>(rng());
        size_t word = 2 * (rng() % (data.size() / 2));
        if (round % 7 == 0) store_be16(&data[word], 0x0000);  // edge values of RFC 1624
        if (round % 11 == 0) store_be16(&data[word], 0xffff);
        uint16_t before = internet_checksum(data);
        uint16_t old_word = load_be16(&data[word]);
        uint16_t new_word = round % 13 == 0 ? 0xffff : static_cast<uint16_t>(rng());
        store_be16(&data[word], new_word);
        uint16_t updated = checksum_update16(before, old_word, new_word);
        // One's complement has two zeros; both must verify, and the field must match
        // a from-scratch computation except for that representation.
        std::vector<uint8_t> with = data;
        with.insert(with.end(),
                    {static_cast<uint8_t>(updated >> 8), static_cast<uint8_t>(updated)});
        EXPECT_EQ(internet_checksum(with), 0) << "round " << round;
        uint16_t scratch = internet_checksum(data);
        EXPECT_TRUE(updated == scratch || (updated ^ scratch) == 0xffff) << "round " << round;
    }
}

TEST(Checksum, MultiWordUpdateEqualsRecomputation) {
    std::mt19937 rng(7);
    for (int round = 0; round < 1000; ++round) {
        std::vector<uint8_t> data(64);
        for (auto& b : data) b = static_cast<uint8_t>(rng());
        uint16_t before = internet_checksum(data);
        std::vector<uint8_t> old_bytes(data.begin() + 8, data.begin() + 24);
        std::vector<uint8_t> new_bytes(16);
        for (auto& b : new_bytes) b = static_cast<uint8_t>(rng());
        std::copy(new_bytes.begin(), new_bytes.end(), data.begin() + 8);
        uint16_t updated = checksum_update(before, old_bytes, new_bytes);
        uint16_t scratch = internet_checksum(data);
        EXPECT_TRUE(updated == scratch || (updated ^ scratch) == 0xffff);
    }
}

/// Checks every checksum of a packet against a from-scratch computation.
void expect_checksums_valid(const std::vector<uint8_t>& pkt) {
    PacketView v;
    ASSERT_EQ(parse_packet(pkt, &v), ParseError::none);
    if (!v.v6) {
        EXPECT_EQ(internet_checksum(std::span(pkt.data(), v.ip_header_len)), 0);
    }
    size_t off = v.l4_offset + (v.is_tcp() ? 16 : 6);
    uint16_t stored = load_be16(&pkt[off]);
    uint16_t scratch = compute_l4_checksum(pkt, v);
    if (v.is_udp() && scratch == 0) scratch = 0xffff;
    EXPECT_TRUE(stored == scratch || (stored ^ scratch) == 0xffff)
        << std::hex << "stored " << stored << " scratch " << scratch;
}

/// Random endpoints of one family.
SocketAddr random_endpoint(std::mt19937& rng, bool v6) {
    net::IpAddress a;
    a.v6 = v6;
    for (size_t i = 0; i < (v6 ? 16u : 4u); ++i) a.bytes[i] = static_cast<uint8_t>(rng());
    return {a, static_cast<uint16_t>(rng())};
}

/// Round `round` of a randomized test: IPv6 on odd rounds, TCP on rounds 0 and 1 mod 4 and
/// UDP otherwise, random endpoints and up to `max_payload - 1` random payload bytes.
std::vector<uint8_t> random_packet(std::mt19937& rng, int round, size_t max_payload) {
    bool v6 = round % 2 == 1;
    std::vector<uint8_t> payload(rng() % max_payload);
    for (auto& b : payload) b = static_cast<uint8_t>(rng());
    SocketAddr s = random_endpoint(rng, v6);
    SocketAddr d = random_endpoint(rng, v6);
    return round % 4 < 2 ? build_tcp_segment(s, d, kTcpAck | kTcpPsh, rng(), rng(), payload)
                         : build_udp_datagram(s, d, payload);
}

TEST(Checksum, RewriteKeepsTcpAndIpv4ChecksumsValid) {
    std::mt19937 rng(42);
    for (int round = 0; round < 2000; ++round) {
        bool v6 = round % 2 == 1;
        auto pkt = random_packet(rng, round, 200);
        expect_checksums_valid(pkt);
        PacketView v;
        ASSERT_EQ(parse_packet(pkt, &v), ParseError::none);
        SocketAddr ns = random_endpoint(rng, v6);
        SocketAddr nd = random_endpoint(rng, v6);
        rewrite_endpoints(pkt, v, ns, nd);
        PacketView after;
        ASSERT_EQ(parse_packet(pkt, &after), ParseError::none);
        EXPECT_EQ(after.source(), ns);
        EXPECT_EQ(after.destination(), nd);
        expect_checksums_valid(pkt);
    }
}

TEST(Checksum, RewriteLeavesAbsentIpv4UdpChecksumAbsent) {
    auto pkt = build_udp_datagram({ip("10.0.0.1"), 1000}, {ip("10.0.0.2"), 53},
                                  std::vector<uint8_t>{1, 2, 3});
    PacketView v;
    ASSERT_EQ(parse_packet(pkt, &v), ParseError::none);
    store_be16(&pkt[v.l4_offset + 6], 0);
    rewrite_endpoints(pkt, v, {ip("198.18.0.2"), 4000}, {ip("198.18.0.1"), 5000});
    EXPECT_EQ(load_be16(&pkt[v.l4_offset + 6]), 0);
    EXPECT_EQ(internet_checksum(std::span(pkt.data(), 20)), 0);
}

/// What the kernel hands over with checksum offload: the L4 field holds the pseudo-header
/// sum only (not complemented), for the device to finish.
std::vector<uint8_t> as_partial(std::vector<uint8_t> pkt, PartialChecksum* partial) {
    PacketView v;
    EXPECT_EQ(parse_packet(pkt, &v), ParseError::none);
    *partial = {static_cast<uint16_t>(v.l4_offset), static_cast<uint16_t>(l4_checksum_offset(v))};
    size_t field = v.l4_offset + partial->offset;
    store_be16(&pkt[field], 0);
    uint32_t pseudo = 0;
    size_t alen = v.v6 ? 16 : 4;
    pseudo = checksum_add(std::span(v.src.bytes.data(), alen), pseudo);
    pseudo = checksum_add(std::span(v.dst.bytes.data(), alen), pseudo);
    pseudo += v.protocol + static_cast<uint32_t>(v.l4_len);
    store_be16(&pkt[field], static_cast<uint16_t>(~checksum_finish(pseudo)));
    return pkt;
}

TEST(Checksum, PartialChecksumStaysPartialThroughARewriteAndFinishesValid) {
    std::mt19937 rng(11);
    for (int round = 0; round < 2000; ++round) {
        bool v6 = round % 2 == 1;
        auto full = random_packet(rng, round, 300);
        PartialChecksum partial;
        auto pkt = as_partial(full, &partial);
        PacketView v;
        ASSERT_EQ(parse_packet(pkt, &v), ParseError::none);
        ASSERT_TRUE(is_own_l4_checksum(v, partial));
        // Finishing it as a device would gives the packet's real checksum.
        auto finished = pkt;
        ASSERT_TRUE(finish_partial_checksum(finished, partial));
        expect_checksums_valid(finished);

        SocketAddr ns = random_endpoint(rng, v6);
        SocketAddr nd = random_endpoint(rng, v6);
        rewrite_endpoints(pkt, v, ns, nd, true);
        PacketView after;
        ASSERT_EQ(parse_packet(pkt, &after), ParseError::none);
        EXPECT_EQ(after.source(), ns);
        EXPECT_EQ(after.destination(), nd);
        // Still partial: the field is the new pseudo-header sum, and finishing it is valid.
        auto expected = as_partial(pkt, &partial);
        uint16_t got = load_be16(&pkt[v.l4_offset + partial.offset]);
        uint16_t want = load_be16(&expected[v.l4_offset + partial.offset]);
        EXPECT_TRUE(got == want || (got ^ want) == 0xffff) << std::hex << got << " vs " << want;
        ASSERT_TRUE(finish_partial_checksum(pkt, partial));
        expect_checksums_valid(pkt);
    }
}

TEST(Checksum, PartialChecksumOutsideThePacketIsNotFinished) {
    auto pkt = build_udp_datagram({ip("10.0.0.1"), 1000}, {ip("10.0.0.2"), 53},
                                  std::vector<uint8_t>{1, 2, 3});
    auto before = pkt;
    EXPECT_FALSE(finish_partial_checksum(pkt, {20, static_cast<uint16_t>(pkt.size() - 21)}));
    EXPECT_FALSE(finish_partial_checksum(pkt, {60000, 6}));
    EXPECT_EQ(pkt, before);
}

}  // namespace
}  // namespace ghost::tun

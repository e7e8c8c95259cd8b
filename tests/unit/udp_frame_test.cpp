// The datagram channel's frame codec (common/udp/frame): exact bytes on the wire, round
// trips of every frame type and family, every truncation, bad lengths and families,
// unknown types skipped, payload limits, and the reader's bounded buffer.
#include "common/udp/frame.hpp"

#include <gtest/gtest.h>

#include <string>
#include <vector>

namespace ghost::udp {
namespace {

using Bytes = std::vector<uint8_t>;

tun::SocketAddr addr(const char* ip, uint16_t port) {
    return {*net::IpAddress::parse(ip), port};
}

Datagram udp4(size_t payload = 3) {
    Datagram d;
    d.client = addr("10.0.0.2", 40000);
    d.remote = addr("192.0.2.7", 53);
    d.payload.assign(payload, 0xab);
    return d;
}

Datagram udp6(size_t payload = 3) {
    Datagram d;
    d.client = addr("fd00::2", 40000);
    d.remote = addr("2001:db8::7", 443);
    d.payload.assign(payload, 0xcd);
    return d;
}

Datagram icmp_error6() {
    Datagram d = udp6(0);
    d.type = FrameType::icmp_error;
    d.icmp_type = 2;  // packet too big
    d.icmp_code = 0;
    d.mtu = 1280;
    return d;
}

Bytes encoded(const Datagram& d) {
    Bytes out;
    EXPECT_TRUE(encode(d, out));
    return out;
}

Bytes encoded(const Hello& h) {
    Bytes out;
    encode(h, out);
    return out;
}

/// Feeds `bytes` whole and returns every frame until next() stops.
std::vector<FrameReader::Frame> read_all(FrameReader& r, const Bytes& bytes) {
    EXPECT_EQ(r.feed(bytes), bytes.size());
    std::vector<FrameReader::Frame> frames;
    while (auto f = r.next()) frames.push_back(std::move(*f));
    return frames;
}

std::optional<Datagram> decode_one(const Bytes& bytes) {
    FrameReader r;
    auto frames = read_all(r, bytes);
    if (frames.size() != 1 || !r.error().empty()) return std::nullopt;
    return frames[0].datagram;
}

std::string error_of(const Bytes& bytes) {
    FrameReader r;
    read_all(r, bytes);
    return r.error();
}

TEST(UdpFrame, HelloBytes) {
    const Hello h{.version = 1,
                  .features = kFeatureIcmpEcho4 | kFeatureIcmpEcho6,
                  .max_payload = 1400,
                  .max_flows = 0x01020304};
    const Bytes want = {0, 0, 0, 9, 1, 1, 3, 0x05, 0x78, 1, 2, 3, 4};
    EXPECT_EQ(encoded(h), want);
    FrameReader r;
    auto frames = read_all(r, want);
    ASSERT_EQ(frames.size(), 1u);
    EXPECT_EQ(frames[0].type, FrameType::hello);
    EXPECT_EQ(frames[0].hello, h);
    EXPECT_FALSE(frames[0].datagram);
}

TEST(UdpFrame, UdpV4Bytes) {
    const Bytes want = {0,    0,    0, 17, 2, 4, 10, 0,    0,    2,   0x9c,
                        0x40, 0xc0, 0, 2,  7, 0, 53, 0xab, 0xab, 0xab};
    EXPECT_EQ(encoded(udp4()), want);
    EXPECT_EQ(encoded_size(udp4()), want.size());
    EXPECT_EQ(decode_one(want), udp4());
}

TEST(UdpFrame, IcmpErrorV4Bytes) {
    Datagram d = udp4(0);
    d.type = FrameType::icmp_error;
    d.icmp_type = 3;
    d.icmp_code = 4;
    d.mtu = 1400;
    const Bytes want = {0,    0, 0, 20, 4, 4,  10, 0, 0, 2, 0x9c, 0x40,
                        0xc0, 0, 2, 7,  0, 53, 3,  4, 0, 0, 0x05, 0x78};
    EXPECT_EQ(encoded(d), want);
    EXPECT_EQ(decode_one(want), d);
}

TEST(UdpFrame, RoundTripsEveryTypeAndFamily) {
    std::vector<Datagram> all = {udp4(), udp6(), udp4(0), udp6(0), icmp_error6()};
    Datagram echo4 = udp4(56);  // ident 40000, sequence 53
    echo4.type = FrameType::icmp_echo;
    Datagram echo6 = udp6(0);
    echo6.type = FrameType::icmp_echo;
    all.push_back(echo4);
    all.push_back(echo6);
    Datagram err4 = udp4(0);
    err4.type = FrameType::icmp_error;
    err4.icmp_type = 3;
    err4.icmp_code = 13;
    all.push_back(err4);
    Bytes stream;
    encode(Hello{.features = kFeatureIcmpEcho4, .max_payload = 65507, .max_flows = 256}, stream);
    for (const auto& d : all) {
        const size_t before = stream.size();
        ASSERT_TRUE(encode(d, stream));
        EXPECT_EQ(stream.size() - before, encoded_size(d));
    }
    FrameReader r;
    auto frames = read_all(r, stream);
    EXPECT_EQ(r.error(), "");
    ASSERT_EQ(frames.size(), all.size() + 1);
    EXPECT_EQ(frames[0].hello->max_payload, 65507);
    for (size_t i = 0; i < all.size(); ++i) {
        EXPECT_EQ(frames[i + 1].type, all[i].type);
        EXPECT_EQ(frames[i + 1].datagram, all[i]) << i;
    }
}

TEST(UdpFrame, PayloadZeroAndMax) {
    for (Datagram d : {udp4(0), udp6(0), udp4(kMaxPayload), udp6(kMaxPayload)}) {
        const Bytes b = encoded(d);
        EXPECT_LE(b.size() - 4, kMaxFrameBody);
        EXPECT_EQ(decode_one(b), d);
    }
    // A udp frame over IPv6 with the largest payload is the largest frame there is.
    EXPECT_EQ(encoded_size(udp6(kMaxPayload)), 4 + kMaxFrameBody);
}

TEST(UdpFrame, EncodeRefuses) {
    Bytes out = {7};
    Datagram mixed = udp4();
    mixed.remote = addr("2001:db8::1", 1);
    EXPECT_FALSE(encode(mixed, out));
    EXPECT_FALSE(encode(udp4(kMaxPayload + 1), out));
    EXPECT_FALSE(encode(udp6(kMaxPayload + 1), out));
    Datagram hello_type = udp4();
    hello_type.type = FrameType::hello;
    EXPECT_FALSE(encode(hello_type, out));
    Datagram unknown = udp4();
    unknown.type = static_cast<FrameType>(99);
    EXPECT_FALSE(encode(unknown, out));
    Datagram error_with_payload = icmp_error6();
    error_with_payload.payload = {1};
    EXPECT_FALSE(encode(error_with_payload, out));
    EXPECT_EQ(out, Bytes{7});  // nothing appended
    for (const auto& d : {mixed, udp4(kMaxPayload + 1), hello_type, error_with_payload}) {
        EXPECT_EQ(encoded_size(d), 0u);
    }
}

TEST(UdpFrame, EveryTruncationWaitsThenCompletes) {
    Bytes stream = encoded(Hello{.max_payload = 1200, .max_flows = 8});
    for (const auto& d : {udp4(), udp6(), icmp_error6()}) encode(d, stream);
    // Every prefix yields whole frames only, never an error; the rest completes them.
    for (size_t cut = 0; cut <= stream.size(); ++cut) {
        FrameReader r;
        size_t got = 0;
        ASSERT_EQ(r.feed({stream.data(), cut}), cut);
        while (r.next()) ++got;
        EXPECT_EQ(r.error(), "") << cut;
        ASSERT_EQ(r.feed({stream.data() + cut, stream.size() - cut}), stream.size() - cut);
        while (r.next()) ++got;
        EXPECT_EQ(r.error(), "") << cut;
        EXPECT_EQ(got, 4u) << cut;
    }
}

TEST(UdpFrame, ByteAtATime) {
    Bytes stream;
    for (const auto& d : {udp6(1000), icmp_error6(), udp4(0)}) encode(d, stream);
    FrameReader r;
    std::vector<Datagram> got;
    for (uint8_t b : stream) {
        ASSERT_EQ(r.feed({&b, 1}), 1u);
        while (auto f = r.next()) got.push_back(*f->datagram);
    }
    ASSERT_EQ(got.size(), 3u);
    EXPECT_EQ(got[0], udp6(1000));
    EXPECT_EQ(got[2], udp4(0));
}

TEST(UdpFrame, LengthZeroFails) {
    EXPECT_EQ(error_of({0, 0, 0, 0, 2}), "datagram frame length 0");
}

TEST(UdpFrame, LengthOverLimitFailsBeforeTheBody) {
    const uint32_t n = kMaxFrameBody + 1;
    const Bytes b = {uint8_t(n >> 24), uint8_t(n >> 16), uint8_t(n >> 8), uint8_t(n)};
    EXPECT_EQ(error_of(b), "datagram frame length 65546 (at most 65545)");
    EXPECT_EQ(error_of({0xff, 0xff, 0xff, 0xff}),
              "datagram frame length 4294967295 (at most 65545)");
    // Exactly the limit with an unknown type is skipped, not refused.
    Bytes big(4 + kMaxFrameBody, 0);
    big[1] = uint8_t(kMaxFrameBody >> 16);
    big[2] = uint8_t(kMaxFrameBody >> 8);
    big[3] = uint8_t(kMaxFrameBody);
    big[4] = 200;
    FrameReader r;
    EXPECT_TRUE(read_all(r, big).empty());
    EXPECT_EQ(r.error(), "");
    EXPECT_EQ(r.skipped(), 1u);
}

TEST(UdpFrame, BadFamilyFails) {
    for (FrameType t : {FrameType::udp, FrameType::icmp_echo, FrameType::icmp_error}) {
        Datagram d = t == FrameType::icmp_error ? icmp_error6() : udp6();
        d.type = t;
        Bytes b = encoded(d);
        b[5] = 5;
        const std::string name = t == FrameType::udp         ? "udp"
                                 : t == FrameType::icmp_echo ? "icmp_echo"
                                                             : "icmp_error";
        EXPECT_EQ(error_of(b), "datagram " + name + " frame with family 5 (4 or 6 expected)");
    }
    EXPECT_EQ(error_of({0, 0, 0, 1, 2}), "datagram udp frame of 1 bytes has no family");
}

TEST(UdpFrame, ShortAddressesFail) {
    // A v6 frame cut inside its addresses, with the length saying so.
    Bytes b = encoded(udp6(0));
    b.resize(4 + 30);
    b[3] = 30;
    EXPECT_EQ(error_of(b),
              "datagram udp frame of 30 bytes is shorter than its IPv6 addresses (38)");
    // A v4 frame claiming family 6: its addresses no longer fit.
    Bytes c = encoded(udp4(0));
    c[5] = 6;
    EXPECT_EQ(error_of(c),
              "datagram udp frame of 14 bytes is shorter than its IPv6 addresses (38)");
}

TEST(UdpFrame, IcmpErrorLengthIsExact) {
    Bytes b = encoded(icmp_error6());
    b.push_back(0);
    b[3] += 1;
    EXPECT_EQ(error_of(b), "datagram icmp_error frame of 45 bytes (44 expected for IPv6)");
    Bytes c = encoded(icmp_error6());
    c.pop_back();
    c[3] -= 1;
    EXPECT_EQ(error_of(c), "datagram icmp_error frame of 43 bytes (44 expected for IPv6)");
}

TEST(UdpFrame, OversizePayloadFails) {
    // Over IPv4 the length limit leaves room for 24 bytes more than kMaxPayload.
    Bytes b = encoded(udp4(kMaxPayload));
    b.push_back(0);
    const uint32_t n = static_cast<uint32_t>(b.size() - 4);
    b[1] = uint8_t(n >> 16);
    b[2] = uint8_t(n >> 8);
    b[3] = uint8_t(n);
    EXPECT_EQ(error_of(b), "datagram udp frame with a payload of 65508 bytes (at most 65507)");
}

TEST(UdpFrame, HelloChecks) {
    EXPECT_EQ(error_of({0, 0, 0, 3, 1, 1, 0}),
              "datagram hello frame of 3 bytes (at least 9 expected)");
    EXPECT_EQ(error_of({0, 0, 0, 9, 1, 0, 0, 0, 0, 0, 0, 0, 0}),
              "datagram hello frame with version 0");
    // A later version may append fields: version 1 reads its own and ignores the rest.
    FrameReader r;
    auto frames = read_all(r, {0, 0, 0, 11, 1, 2, 1, 0, 100, 0, 0, 0, 9, 0xee, 0xee});
    ASSERT_EQ(frames.size(), 1u);
    EXPECT_EQ(frames[0].hello,
              (Hello{.version = 2, .features = 1, .max_payload = 100, .max_flows = 9}));
}

TEST(UdpFrame, UnknownTypesSkipped) {
    Bytes stream = {0, 0, 0, 1, 0};  // type 0, empty body
    encode(udp4(), stream);
    for (uint8_t t : {5, 255}) {
        const Bytes unknown = {0, 0, 0, 4, t, 1, 2, 3};
        stream.insert(stream.end(), unknown.begin(), unknown.end());
    }
    encode(udp6(), stream);
    FrameReader r;
    auto frames = read_all(r, stream);
    EXPECT_EQ(r.error(), "");
    ASSERT_EQ(frames.size(), 2u);
    EXPECT_EQ(frames[0].datagram, udp4());
    EXPECT_EQ(frames[1].datagram, udp6());
    EXPECT_EQ(r.skipped(), 3u);
}

TEST(UdpFrame, FailedReaderStaysFailed) {
    Bytes stream = {0, 0, 0, 0};
    encode(udp4(), stream);
    FrameReader r;
    EXPECT_TRUE(read_all(r, stream).empty());
    EXPECT_EQ(r.error(), "datagram frame length 0");
    const Bytes more = encoded(udp4());
    EXPECT_EQ(r.feed(more), more.size());  // taken and dropped
    EXPECT_FALSE(r.next());
    EXPECT_EQ(r.error(), "datagram frame length 0");
}

TEST(UdpFrame, FramesBeforeAnErrorAreDelivered) {
    Bytes stream = encoded(udp4());
    stream.insert(stream.end(), {0, 0, 0, 0});
    FrameReader r;
    auto frames = read_all(r, stream);
    ASSERT_EQ(frames.size(), 1u);
    EXPECT_EQ(r.error(), "datagram frame length 0");
}

TEST(UdpFrame, ReaderCapacity) {
    // Many small frames: the reader takes kCapacity bytes, then more only after next().
    const Bytes one = encoded(udp4(100));
    Bytes stream;
    while (stream.size() < 3 * FrameReader::kCapacity)
        stream.insert(stream.end(), one.begin(), one.end());
    FrameReader r;
    size_t fed = 0, frames = 0;
    while (fed < stream.size()) {
        const size_t n = r.feed({stream.data() + fed, stream.size() - fed});
        EXPECT_LE(n, FrameReader::kCapacity);
        if (fed == 0) {
            EXPECT_EQ(n, FrameReader::kCapacity);
        }
        fed += n;
        EXPECT_EQ(r.feed({stream.data() + fed, stream.size() - fed}), 0u);  // full
        while (auto f = r.next()) {
            EXPECT_EQ(f->datagram, udp4(100));
            ++frames;
        }
        ASSERT_EQ(r.error(), "");
    }
    EXPECT_EQ(frames, stream.size() / one.size());
}

TEST(UdpFrame, ReaderCapacityHoldsTwoLargestFrames) {
    // Two largest frames fill the reader exactly; a partial third waits for room.
    const Bytes big = encoded(udp6(kMaxPayload));
    Bytes stream = big;
    stream.insert(stream.end(), big.begin(), big.end());
    stream.insert(stream.end(), big.begin(), big.end());
    FrameReader r;
    ASSERT_EQ(r.feed(stream), FrameReader::kCapacity);
    ASSERT_TRUE(r.next());
    // One frame taken: room for exactly one more.
    EXPECT_EQ(r.feed({stream.data() + FrameReader::kCapacity, big.size()}), big.size());
    ASSERT_TRUE(r.next());
    ASSERT_TRUE(r.next());
    EXPECT_FALSE(r.next());
    EXPECT_EQ(r.error(), "");
}

}  // namespace
}  // namespace ghost::udp

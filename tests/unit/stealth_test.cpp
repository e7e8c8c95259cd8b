// The knock token, its replay cache, HTTP head parsing and WebSocket framing.
#include <gtest/gtest.h>

#include <random>
#include <string>
#include <vector>

#include "common/stealth/knock.hpp"
#include "common/stealth/websocket.hpp"
#include "common/text/base64.hpp"

using namespace ghost::stealth;
using namespace ghost::text;
using std::chrono::seconds;

namespace {

const std::string kSecret = "0123456789abcdef0123456789abcdef";
const auto kNow = std::chrono::system_clock::time_point(seconds(1'800'000'000));

std::string flip(std::string s, size_t i) {
    s[i] = s[i] == 'A' ? 'B' : 'A';
    return s;
}

}  // namespace

TEST(Knock, TokenIsAcceptedOnceWithinTheWindow) {
    ReplayCache cache;
    std::string t = make_token(kSecret, "/ws", kNow);
    EXPECT_EQ(cache.check(kSecret, "/ws", t, kNow + seconds(10)), TokenCheck::ok);
    EXPECT_EQ(cache.check(kSecret, "/ws", t, kNow + seconds(11)), TokenCheck::replayed);
    EXPECT_EQ(cache.size(), 1u);
}

TEST(Knock, WrongSecretPathOrTamperingIsRejected) {
    ReplayCache cache;
    std::string t = make_token(kSecret, "/ws", kNow);
    EXPECT_EQ(cache.check("another secret of 32 bytes......", "/ws", t, kNow), TokenCheck::bad_mac);
    EXPECT_EQ(cache.check(kSecret, "/other", t, kNow), TokenCheck::bad_mac);
    EXPECT_EQ(cache.check(kSecret, "/ws", flip(t, 20), kNow), TokenCheck::bad_mac);
    EXPECT_EQ(cache.check(kSecret, "/ws", "", kNow), TokenCheck::malformed);
    EXPECT_EQ(cache.check(kSecret, "/ws", "!!!not-base64!!!", kNow), TokenCheck::malformed);
    EXPECT_EQ(cache.check(kSecret, "/ws", t.substr(0, 40), kNow), TokenCheck::malformed);
    EXPECT_EQ(cache.check(kSecret, "/ws", std::string(5000, 'A'), kNow), TokenCheck::malformed);
    EXPECT_EQ(cache.size(), 0u);
}

TEST(Knock, ExpiredOrFutureTokensAreRejected) {
    ReplayCache cache;
    EXPECT_EQ(cache.check(kSecret, "/ws",
                          make_token(kSecret, "/ws", kNow - kKnockWindow - seconds(1)), kNow),
              TokenCheck::expired);
    EXPECT_EQ(cache.check(kSecret, "/ws",
                          make_token(kSecret, "/ws", kNow + kKnockWindow + seconds(1)), kNow),
              TokenCheck::expired);
    EXPECT_EQ(cache.check(kSecret, "/ws",
                          make_token(kSecret, "/ws", kNow - kKnockWindow + seconds(1)), kNow),
              TokenCheck::ok);
}

TEST(Knock, ReplayCacheIsBoundedAndForgetsExpiredNonces) {
    ReplayCache cache(3);
    for (int i = 0; i < 3; ++i)
        EXPECT_EQ(cache.check(kSecret, "/ws", make_token(kSecret, "/ws", kNow), kNow),
                  TokenCheck::ok);
    // Full of live nonces: refuse rather than forget one that could then be replayed.
    EXPECT_EQ(cache.check(kSecret, "/ws", make_token(kSecret, "/ws", kNow), kNow),
              TokenCheck::cache_full);
    // Once they are past the window they are dropped and new tokens pass.
    auto later = kNow + 2 * kKnockWindow + seconds(1);
    EXPECT_EQ(cache.check(kSecret, "/ws", make_token(kSecret, "/ws", later), later),
              TokenCheck::ok);
    EXPECT_EQ(cache.size(), 1u);
}

TEST(Knock, RequestRoundTripsThroughTheServerCheck) {
    KnockRequest r{"/ws", "example.org", make_token(kSecret, "/ws", kNow), websocket_key()};
    std::string req = build_knock_request(r);
    ASSERT_EQ(head_length(req), req.size());
    auto head = parse_head(req);
    ASSERT_TRUE(head);
    std::string key;
    auto token = knock_token(*head, "/ws", &key);
    ASSERT_TRUE(token);
    EXPECT_EQ(*token, r.token);
    EXPECT_EQ(key, r.key);
    EXPECT_FALSE(knock_token(*head, "/other", &key));
    EXPECT_TRUE(could_be_knock("GE", "/ws"));
    EXPECT_TRUE(could_be_knock("GET /w", "/ws"));
    EXPECT_TRUE(could_be_knock("GET /ws?x=1 HTTP/1.1", "/ws"));
    EXPECT_FALSE(could_be_knock("GET /wsx HTTP/1.1", "/ws"));
    EXPECT_FALSE(could_be_knock("SSH-2.0-OpenSSH", "/ws"));
    EXPECT_FALSE(could_be_knock("POST /ws HTTP/1.1", "/ws"));
}

TEST(Knock, UpgradesWithoutTokenOrWithBrokenHeadersAreNotKnocks) {
    std::string key;
    auto no_cookie = parse_head(
        "GET /ws HTTP/1.1\r\nHost: a\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
        "Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n\r\n");
    ASSERT_TRUE(no_cookie);
    EXPECT_FALSE(knock_token(*no_cookie, "/ws", &key));
    auto http10 = parse_head(
        "GET /ws HTTP/1.0\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
        "Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n"
        "Cookie: sid=abc\r\n\r\n");
    ASSERT_TRUE(http10);
    EXPECT_FALSE(knock_token(*http10, "/ws", &key));
    auto short_key = parse_head(
        "GET /ws HTTP/1.1\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
        "Sec-WebSocket-Key: c2hvcnQ=\r\nSec-WebSocket-Version: 13\r\nCookie: sid=abc\r\n\r\n");
    ASSERT_TRUE(short_key);
    EXPECT_FALSE(knock_token(*short_key, "/ws", &key));
    auto other_cookie = parse_head(
        "GET /ws HTTP/1.1\r\nUpgrade: websocket\r\nConnection: keep-alive, Upgrade\r\n"
        "Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n"
        "Cookie: a=1; sid=tok; b=2\r\n\r\n");
    ASSERT_TRUE(other_cookie);
    EXPECT_EQ(knock_token(*other_cookie, "/ws", &key).value_or(""), "tok");
    EXPECT_FALSE(parse_head("GET / HTTP/1.1\r\nBad Header: x\r\n\r\n"));
    EXPECT_FALSE(parse_head("GET / HTTP/1.1\r\n: x\r\n\r\n"));
    EXPECT_FALSE(parse_head(std::string("GET / HTTP/1.1\r\nA: \0\r\n\r\n", 22)));
    EXPECT_EQ(head_length("GET / HTTP/1.1\r\nHost: a\r\n"), 0u);
}

TEST(WebSocket, AcceptMatchesTheRfcExample) {
    EXPECT_EQ(websocket_accept("dGhlIHNhbXBsZSBub25jZQ=="), "s3pPLMBiTxaQ9kYGzzhZRbK+xOo=");
}

TEST(WebSocket, Base64RoundTrips) {
    // As the knock reads tokens and keys: either alphabet, padding optional.
    auto decode = [](std::string_view s) {
        return base64_decode(s, Base64Alphabet::either, Base64Padding::optional);
    };
    for (std::string s : {"", "a", "ab", "abc", "abcd", "\xff\x00\x10 binary"}) {
        EXPECT_EQ(decode(base64_encode(s)).value_or("x"), s);
        EXPECT_EQ(decode(base64url_encode(s)).value_or("x"), s);
    }
    EXPECT_FALSE(decode("a$b"));
}

namespace {

/// Frames `payloads` as a client would (masked), concatenated.
std::string client_frames(const std::vector<std::string>& payloads) {
    std::string out;
    uint8_t mask[4] = {0x12, 0x34, 0x56, 0x78};
    for (const auto& p : payloads) {
        std::string f(ws_header_size(p.size(), true) + p.size(), '\0');
        auto* b = reinterpret_cast<uint8_t*>(f.data());
        size_t h = ws_header_size(p.size(), true);
        ws_write_header(b, WsOpcode::binary, p.size(), mask);
        std::copy(p.begin(), p.end(), f.begin() + static_cast<long>(h));
        ws_mask(b + h, p.size(), mask, 0);
        out += f;
    }
    return out;
}

/// Decodes `wire` fed in chunks of `chunk` bytes; returns the payload stream.
std::string decode_in_chunks(WsDecoder& d, const std::string& wire, size_t chunk,
                             WsDecoder::Events& ev) {
    std::string out;
    for (size_t off = 0; off < wire.size(); off += chunk) {
        std::string part = wire.substr(off, chunk);
        size_t n = d.decode(reinterpret_cast<uint8_t*>(part.data()), part.size(), ev);
        out.append(part.data(), n);
        if (!ev.error.empty() || ev.close) break;
    }
    return out;
}

}  // namespace

TEST(WebSocket, DecoderReassemblesFramesSplitAnywhere) {
    std::mt19937 rng(7);
    std::vector<std::string> payloads = {"", "x", std::string(125, 'a'), std::string(126, 'b'),
                                         std::string(70000, 'c')};
    for (auto& p : payloads)
        for (auto& ch : p) ch = static_cast<char>(rng());
    std::string want;
    for (auto& p : payloads) want += p;
    std::string wire = client_frames(payloads);
    for (size_t chunk : {size_t{1}, size_t{3}, size_t{13}, size_t{4096}, wire.size()}) {
        WsDecoder d(true);
        WsDecoder::Events ev;
        EXPECT_EQ(decode_in_chunks(d, wire, chunk, ev), want) << "chunk " << chunk;
        EXPECT_TRUE(ev.error.empty()) << ev.error;
    }
}

TEST(WebSocket, ControlFramesAndProtocolErrors) {
    uint8_t mask[4] = {1, 2, 3, 4};
    WsDecoder d(true);
    WsDecoder::Events ev;
    std::string wire = ws_control_frame(WsOpcode::ping, "hi", mask) + client_frames({"data"}) +
                       ws_control_frame(WsOpcode::close, std::string("\x03\xe8", 2), mask) +
                       client_frames({"after"});
    EXPECT_EQ(decode_in_chunks(d, wire, wire.size(), ev), "data");
    EXPECT_TRUE(ev.ping);
    EXPECT_EQ(ev.ping_payload, "hi");
    EXPECT_TRUE(ev.close);
    EXPECT_EQ(ev.close_code, 1000);

    // A server must refuse unmasked client frames; a client refuses masked server frames.
    WsDecoder strict(true);
    WsDecoder::Events e2;
    std::string unmasked = ws_control_frame(WsOpcode::ping, "x", nullptr);
    decode_in_chunks(strict, unmasked, unmasked.size(), e2);
    EXPECT_NE(e2.error.find("unmasked"), std::string::npos);

    WsDecoder d3(false);
    WsDecoder::Events e3;
    std::string text = "\x81\x02hi";
    decode_in_chunks(d3, text, text.size(), e3);
    EXPECT_NE(e3.error.find("opcode 1"), std::string::npos) << e3.error;

    WsDecoder d4(false);
    WsDecoder::Events e4;
    std::string big_ping = "\x89\x7e\x00\x80" + std::string(128, 'p');
    decode_in_chunks(d4, big_ping, big_ping.size(), e4);
    EXPECT_NE(e4.error.find("control"), std::string::npos) << e4.error;

    WsDecoder d5(false);
    WsDecoder::Events e5;
    std::string orphan = std::string("\x80\x01", 2) + "z";
    decode_in_chunks(d5, orphan, orphan.size(), e5);
    EXPECT_NE(e5.error.find("continuation"), std::string::npos) << e5.error;
}

TEST(WebSocket, MaskIsItsOwnInverseAtAnyOffset) {
    const uint8_t mask[4] = {0xde, 0xad, 0xbe, 0xef};
    std::string data(1001, '\0');
    for (size_t i = 0; i < data.size(); ++i) data[i] = static_cast<char>(i * 7);
    std::string copy = data;
    auto* p = reinterpret_cast<uint8_t*>(data.data());
    size_t off = ws_mask(p, 5, mask, 0);
    off = ws_mask(p + 5, 996, mask, off);
    EXPECT_NE(data, copy);
    ws_mask(p, data.size(), mask, 0);
    EXPECT_EQ(data, copy);
}

// libFuzzer target for the knock (common/stealth/knock): what the TLS listener does with
// the first bytes of a connection (could_be_knock, head_length, parse_head, knock_token,
// ReplayCache::check), and what the client does with the server's answer.
// Input: byte 0 = flags (bit 0: parse as the client reading the answer), byte 1 = chunk
// seed, rest = bytes from the peer. "@T@" in the input is replaced by a valid token for
// the path (so the fuzzer reaches the accepted and replayed paths), "@X@" by an expired one.

#include <chrono>
#include <cstdint>
#include <iterator>
#include <string>

#include "common/stealth/knock.hpp"
#include "common/text/base64.hpp"
#include "tests/fuzz/fuzz_util.hpp"

namespace {

using ghost::fuzz::check;
namespace ks = ghost::stealth;
namespace text = ghost::text;

constexpr std::string_view kSecret = "0123456789abcdef0123456789abcdef";
constexpr std::string_view kPath = "/ws";
const auto kNow = std::chrono::system_clock::time_point{std::chrono::seconds{1'700'000'000}};

// Tokens made once per process, so that one input always means the same bytes: "@T@"
// number k of an input is valid token k (distinct nonces), "@X@" an expired one.
std::string with_tokens(std::string_view in) {
    static const std::string kValid[] = {
        ks::make_token(kSecret, kPath, kNow), ks::make_token(kSecret, kPath, kNow),
        ks::make_token(kSecret, kPath, kNow - std::chrono::seconds{89})};
    static const std::string kExpired =
        ks::make_token(kSecret, kPath, kNow - std::chrono::hours{1});
    std::string out;
    size_t valid = 0;
    for (size_t i = 0; i < in.size();) {
        if (in.substr(i, 3) == "@T@") {
            out += kValid[valid++ % std::size(kValid)];
            i += 3;
        } else if (in.substr(i, 3) == "@X@") {
            out += kExpired;
            i += 3;
        } else {
            out += in[i++];
        }
    }
    return out;
}

// The listener's decision on the bytes received so far; true once decided.
bool server_decides(std::string_view b, ks::ReplayCache& replay) {
    if (!ks::could_be_knock(b, kPath)) return true;  // fallback
    const size_t len = ks::head_length(b);
    if (len == 0) return b.size() > ks::kMaxKnockHead;  // read more, or fallback
    check(len <= b.size(), "head longer than the input");
    auto head = ks::parse_head(b.substr(0, len));
    std::string key;
    auto token = head ? ks::knock_token(*head, kPath, &key) : std::nullopt;
    if (!token) return true;
    check(!key.empty(), "token without a key");
    const ks::TokenCheck first = replay.check(kSecret, kPath, *token, kNow);
    check(ks::to_string(first)[0] != '?', "unnamed token check");
    if (first == ks::TokenCheck::ok) {
        check(replay.check(kSecret, kPath, *token, kNow) == ks::TokenCheck::replayed,
              "an accepted token was accepted again");
        const std::string answer = ks::build_switching_protocols(ks::websocket_accept(key), "d");
        check(ks::parse_head(answer).has_value(), "own 101 answer does not parse");
    }
    return true;
}

// The client reading the server's answer to its knock.
bool client_reads(std::string_view b) {
    const size_t len = ks::head_length(b);
    if (len == 0) return b.size() > 16 * 1024;
    auto head = ks::parse_head(b.substr(0, len));
    if (!head) return true;
    check(!head->start_line.empty(), "head without a start line");
    (void)(head->get("Sec-WebSocket-Accept") == ks::websocket_accept("dGhlIHNhbXBsZSBub25jZQ=="));
    (void)head->has_token("Connection", "upgrade");
    return true;
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
    if (size < 2) return 0;
    const bool client = data[0] & 1;
    const std::string stream = with_tokens(ghost::fuzz::as_text(data + 2, size - 2));
    ks::ReplayCache replay(4);
    ghost::fuzz::Chunker chunks(stream, data[1], 1 + data[1] % 64);
    std::string received;
    while (!chunks.done()) {
        received += chunks.next();
        if (client ? client_reads(received) : server_decides(received, replay)) break;
    }
    // Tokens and base64 as the peer may write them (read as the knock reads them).
    auto raw =
        text::base64_decode(stream, text::Base64Alphabet::either, text::Base64Padding::optional);
    if (raw) {
        check(text::base64_decode(text::base64_encode(*raw), text::Base64Alphabet::standard,
                                  text::Base64Padding::required) == raw,
              "base64 round trip");
        check(text::base64_decode(text::base64url_encode(*raw), text::Base64Alphabet::url,
                                  text::Base64Padding::optional) == raw,
              "base64url round trip");
    }
    (void)replay.check(kSecret, kPath, stream, kNow);
    return 0;
}

#pragma once
/// The knock: how a ghost client proves, inside TLS, that it holds the listener's secret
/// before the server speaks SSH (DESIGN.md §10). It is an ordinary RFC 6455 WebSocket
/// upgrade whose `Cookie: sid=` value is a token
///
///     base64url( ts[8, big endian unix seconds] || nonce[16] || HMAC-SHA256(secret, label || ts ||
///     nonce || path) )
///
/// valid for kKnockWindow either side of the server's clock, and only once (ReplayCache).
/// Everything that is not a valid knock goes to the fallback web server, so nothing here
/// produces an answer a prober could see.

#include <array>
#include <chrono>
#include <cstdint>
#include <deque>
#include <optional>
#include <string>
#include <string_view>
#include <unordered_set>
#include <vector>

namespace ghost::stealth {

/// How far a token's timestamp may be from the server's clock.
inline constexpr std::chrono::seconds kKnockWindow{90};
/// The largest request head the server reads while waiting for a knock (nginx's
/// large_client_header_buffers are 4 × 8 KiB; a knock is well under 1 KiB).
inline constexpr size_t kMaxKnockHead = 8192;
/// Minimum secret length in bytes.
inline constexpr size_t kMinSecret = 16;
/// The cookie that carries the token.
inline constexpr std::string_view kKnockCookie = "sid";

/// The token for `path` at time `now` with a random nonce.
std::string make_token(std::string_view secret, std::string_view path,
                       std::chrono::system_clock::time_point now);

/// Result of checking a token.
enum class TokenCheck { ok, malformed, bad_mac, expired, replayed, cache_full };
const char* to_string(TokenCheck c);

/// Remembers nonces of accepted tokens until they expire, so a token works once.
/// Holds at most `capacity` nonces; when full of unexpired ones, new tokens are refused
/// (fail closed) rather than forgetting one that could then be replayed.
class ReplayCache {
  public:
    explicit ReplayCache(size_t capacity = 65536) : capacity_(capacity) {}
    /// Checks `token` for `path` and, when valid, records its nonce.
    TokenCheck check(std::string_view secret, std::string_view path, std::string_view token,
                     std::chrono::system_clock::time_point now);
    size_t size() const { return seen_.size(); }

  private:
    void expire(int64_t now_s);
    size_t capacity_;
    std::unordered_set<std::string> seen_;
    std::deque<std::pair<int64_t, std::string>> order_;  // (expiry, nonce), by insertion
};

// ---------------------------------------------------------------- HTTP / WebSocket

/// A parsed HTTP/1.x request or response head (up to and including the blank line).
struct HttpHead {
    std::string start_line;  // "GET /ws HTTP/1.1" / "HTTP/1.1 101 Switching Protocols"
    std::vector<std::pair<std::string, std::string>> headers;  // in order, values trimmed
    /// First value of header `name` (case-insensitive), or empty.
    std::string get(std::string_view name) const;
    /// True when comma-separated header `name` has token `token` (case-insensitive).
    bool has_token(std::string_view name, std::string_view token) const;
};

/// Length of the head in `data` (through "\r\n\r\n"), or 0 when not complete yet.
size_t head_length(std::string_view data);
/// Parses a complete head; nullopt when it is not well-formed HTTP/1.x.
std::optional<HttpHead> parse_head(std::string_view head);

/// Sec-WebSocket-Accept for a Sec-WebSocket-Key (RFC 6455 §4.2.2).
std::string websocket_accept(std::string_view key);
/// A fresh random Sec-WebSocket-Key.
std::string websocket_key();

/// What a knock request must look like, as the server checks it.
struct KnockRequest {
    std::string path;   // configured path, e.g. "/ws"
    std::string host;   // Host header value to send (client side)
    std::string token;  // client side
    std::string key;    // Sec-WebSocket-Key (client side)
};
/// The client's upgrade request: what Firefox sends for `new WebSocket(wss://host/path)`.
std::string build_knock_request(const KnockRequest& r);

/// Server side: when `head` is a WebSocket upgrade to `path` carrying a cookie token,
/// returns that token and sets *key; nullopt otherwise (not an upgrade, other path, no token).
std::optional<std::string> knock_token(const HttpHead& head, std::string_view path,
                                       std::string* key);
/// True while `data` (the first bytes of a connection) could still become a request for
/// `path`: it is a prefix of "GET <path>" or starts with "GET <path>" followed by ' ' or '?'.
bool could_be_knock(std::string_view data, std::string_view path);

/// The server's 101 answer, in nginx's header style.
std::string build_switching_protocols(std::string_view accept, std::string_view date);

}  // namespace ghost::stealth

#include "common/stealth/knock.hpp"

#include "common/net/text.hpp"
#include "common/text/base64.hpp"

#include <openssl/evp.h>
#include <openssl/hmac.h>
#include <openssl/rand.h>
#include <openssl/sha.h>

#include <algorithm>
#include <cstring>

namespace ghost::stealth {
namespace {

constexpr std::string_view kLabel = "ghost-knock-v1";
constexpr size_t kTsLen = 8, kNonceLen = 16, kMacLen = 32;
constexpr size_t kTokenLen = kTsLen + kNonceLen + kMacLen;

std::string random_bytes(size_t n) {
    std::string out(n, '\0');
    RAND_bytes(reinterpret_cast<unsigned char*>(out.data()), static_cast<int>(n));
    return out;
}

std::string mac(std::string_view secret, std::string_view ts_nonce, std::string_view path) {
    std::string msg;
    msg.reserve(kLabel.size() + ts_nonce.size() + path.size());
    msg.append(kLabel).append(ts_nonce).append(path);
    unsigned char out[EVP_MAX_MD_SIZE];
    unsigned int len = 0;
    HMAC(EVP_sha256(), secret.data(), static_cast<int>(secret.size()),
         reinterpret_cast<const unsigned char*>(msg.data()), msg.size(), out, &len);
    return std::string(reinterpret_cast<char*>(out), len);
}

using net::iequals;
using net::trim_ows;

/// Tokens and Sec-WebSocket-Keys are read in either alphabet, with or without padding.
std::optional<std::string> decode(std::string_view b64) {
    return text::base64_decode(b64, text::Base64Alphabet::either, text::Base64Padding::optional);
}

int64_t seconds(std::chrono::system_clock::time_point t) {
    return std::chrono::duration_cast<std::chrono::seconds>(t.time_since_epoch()).count();
}

}  // namespace

// ---------------------------------------------------------------- tokens

std::string make_token(std::string_view secret, std::string_view path,
                       std::chrono::system_clock::time_point now) {
    auto ts = static_cast<uint64_t>(seconds(now));
    std::string raw(kTsLen, '\0');
    for (size_t i = 0; i < kTsLen; ++i) raw[i] = static_cast<char>(ts >> (8 * (kTsLen - 1 - i)));
    raw += random_bytes(kNonceLen);
    raw += mac(secret, raw, path);
    return text::base64url_encode(raw);
}

const char* to_string(TokenCheck c) {
    switch (c) {
        case TokenCheck::ok:
            return "ok";
        case TokenCheck::malformed:
            return "malformed token";
        case TokenCheck::bad_mac:
            return "wrong secret";
        case TokenCheck::expired:
            return "token outside the time window";
        case TokenCheck::replayed:
            return "replayed token";
        case TokenCheck::cache_full:
            return "replay cache full";
    }
    return "?";
}

void ReplayCache::expire(int64_t now_s) {
    while (!order_.empty() && order_.front().first < now_s) {
        seen_.erase(order_.front().second);
        order_.pop_front();
    }
}

TokenCheck ReplayCache::check(std::string_view secret, std::string_view path,
                              std::string_view token, std::chrono::system_clock::time_point now) {
    if (token.size() > 2 * kTokenLen) return TokenCheck::malformed;
    auto raw = decode(token);
    if (!raw || raw->size() != kTokenLen) return TokenCheck::malformed;
    std::string_view r(*raw);
    std::string expect = mac(secret, r.substr(0, kTsLen + kNonceLen), path);
    if (CRYPTO_memcmp(expect.data(), r.data() + kTsLen + kNonceLen, kMacLen) != 0)
        return TokenCheck::bad_mac;
    uint64_t ts = 0;
    for (size_t i = 0; i < kTsLen; ++i) ts = (ts << 8) | static_cast<unsigned char>(r[i]);
    const int64_t now_s = seconds(now), window = kKnockWindow.count();
    const auto t = static_cast<int64_t>(ts);
    if (ts > static_cast<uint64_t>(INT64_MAX) || t < now_s - window || t > now_s + window)
        return TokenCheck::expired;
    expire(now_s);
    std::string nonce(r.substr(kTsLen, kNonceLen));
    if (seen_.count(nonce)) return TokenCheck::replayed;
    if (seen_.size() >= capacity_) return TokenCheck::cache_full;
    seen_.insert(nonce);
    // Forgotten once the token could no longer pass the window check anyway.
    order_.emplace_back(t + window, std::move(nonce));
    // Clock steps can make expiries non-monotonic; keep the deque ordered enough for
    // expire() by sorting the (rare) out-of-order tail element into place.
    for (size_t i = order_.size() - 1; i > 0 && order_[i - 1].first > order_[i].first; --i)
        std::swap(order_[i - 1], order_[i]);
    return TokenCheck::ok;
}

// ---------------------------------------------------------------- HTTP heads

std::string HttpHead::get(std::string_view name) const {
    for (const auto& [k, v] : headers)
        if (iequals(k, name)) return v;
    return {};
}

bool HttpHead::has_token(std::string_view name, std::string_view token) const {
    for (const auto& [k, v] : headers) {
        if (!iequals(k, name)) continue;
        std::string_view rest(v);
        while (!rest.empty()) {
            size_t comma = rest.find(',');
            if (iequals(trim_ows(rest.substr(0, comma)), token)) return true;
            if (comma == std::string_view::npos) break;
            rest.remove_prefix(comma + 1);
        }
    }
    return false;
}

size_t head_length(std::string_view data) {
    size_t end = data.find("\r\n\r\n");
    return end == std::string_view::npos ? 0 : end + 4;
}

std::optional<HttpHead> parse_head(std::string_view head) {
    if (head.size() < 4 || head.substr(head.size() - 4) != "\r\n\r\n") return std::nullopt;
    head.remove_suffix(2);  // keep one CRLF terminating the last line
    HttpHead h;
    bool first = true;
    while (!head.empty()) {
        size_t eol = head.find("\r\n");
        if (eol == std::string_view::npos) return std::nullopt;
        std::string_view line = head.substr(0, eol);
        head.remove_prefix(eol + 2);
        for (char c : line)
            if (c == '\0' || c == '\r' || c == '\n') return std::nullopt;
        if (first) {
            if (line.empty()) return std::nullopt;
            h.start_line = std::string(line);
            first = false;
            continue;
        }
        size_t colon = line.find(':');
        if (colon == 0 || colon == std::string_view::npos) return std::nullopt;
        std::string_view name = line.substr(0, colon);
        for (char c : name)
            if (c == ' ' || c == '\t') return std::nullopt;
        h.headers.emplace_back(std::string(name), std::string(trim_ows(line.substr(colon + 1))));
    }
    if (first) return std::nullopt;
    return h;
}

std::string websocket_accept(std::string_view key) {
    std::string in(key);
    in += "258EAFA5-E914-47DA-95CA-C5AB0DC85B11";
    unsigned char digest[SHA_DIGEST_LENGTH];
    SHA1(reinterpret_cast<const unsigned char*>(in.data()), in.size(), digest);
    return text::base64_encode(std::string_view(reinterpret_cast<char*>(digest), sizeof digest));
}

std::string websocket_key() {
    return text::base64_encode(random_bytes(16));
}

std::string build_knock_request(const KnockRequest& r) {
    std::string s;
    s.reserve(512);
    s += "GET " + r.path + " HTTP/1.1\r\n";
    s += "Host: " + r.host + "\r\n";
    s += "User-Agent: Mozilla/5.0 (X11; Linux x86_64; rv:109.0) Gecko/20100101 Firefox/115.0\r\n";
    s += "Accept: */*\r\n";
    s += "Accept-Language: en-US,en;q=0.5\r\n";
    s += "Accept-Encoding: gzip, deflate, br\r\n";
    s += "Sec-WebSocket-Version: 13\r\n";
    s += "Origin: https://" + r.host + "\r\n";
    s += "Sec-WebSocket-Key: " + r.key + "\r\n";
    s += "Connection: keep-alive, Upgrade\r\n";
    s += "Cookie: " + std::string(kKnockCookie) + "=" + r.token + "\r\n";
    s += "Sec-Fetch-Dest: empty\r\n";
    s += "Sec-Fetch-Mode: websocket\r\n";
    s += "Sec-Fetch-Site: same-origin\r\n";
    s += "Pragma: no-cache\r\n";
    s += "Cache-Control: no-cache\r\n";
    s += "Upgrade: websocket\r\n\r\n";
    return s;
}

std::optional<std::string> knock_token(const HttpHead& head, std::string_view path,
                                       std::string* key) {
    std::string_view line(head.start_line);
    if (line.substr(0, 4) != "GET ") return std::nullopt;
    line.remove_prefix(4);
    size_t sp = line.find(' ');
    if (sp == std::string_view::npos || line.substr(sp + 1) != "HTTP/1.1") return std::nullopt;
    std::string_view target = line.substr(0, sp);
    if (target.substr(0, target.find('?')) != path) return std::nullopt;
    if (!head.has_token("Upgrade", "websocket") || !head.has_token("Connection", "upgrade") ||
        head.get("Sec-WebSocket-Version") != "13")
        return std::nullopt;
    std::string k = head.get("Sec-WebSocket-Key");
    auto decoded = decode(k);
    if (!decoded || decoded->size() != 16) return std::nullopt;
    for (const auto& [name, value] : head.headers) {
        if (!iequals(name, "Cookie")) continue;
        std::string_view rest(value);
        while (!rest.empty()) {
            size_t semi = rest.find(';');
            std::string_view pair = trim_ows(rest.substr(0, semi));
            size_t eq = pair.find('=');
            if (eq != std::string_view::npos && pair.substr(0, eq) == kKnockCookie) {
                *key = k;
                return std::string(pair.substr(eq + 1));
            }
            if (semi == std::string_view::npos) break;
            rest.remove_prefix(semi + 1);
        }
    }
    return std::nullopt;
}

bool could_be_knock(std::string_view data, std::string_view path) {
    std::string want = "GET " + std::string(path);
    if (data.size() <= want.size()) return want.compare(0, data.size(), data) == 0;
    return data.substr(0, want.size()) == want &&
           (data[want.size()] == ' ' || data[want.size()] == '?');
}

std::string build_switching_protocols(std::string_view accept, std::string_view date) {
    std::string s = "HTTP/1.1 101 Switching Protocols\r\nServer: nginx/1.22.1\r\nDate: ";
    s.append(date);
    s += "\r\nConnection: upgrade\r\nUpgrade: websocket\r\nSec-WebSocket-Accept: ";
    s.append(accept);
    s += "\r\n\r\n";
    return s;
}

}  // namespace ghost::stealth

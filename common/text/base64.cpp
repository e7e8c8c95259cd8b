#include "common/text/base64.hpp"

#include <cstdint>

namespace ghost::text {
namespace {

constexpr std::string_view kStandard =
    "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
constexpr std::string_view kUrl =
    "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";

/// Encodes with `table`; appends '=' to a multiple of 4 when `pad`.
std::string encode(std::string_view bytes, std::string_view table, bool pad) {
    std::string out;
    out.reserve((bytes.size() + 2) / 3 * 4);
    size_t i = 0;
    auto at = [&](size_t k) { return static_cast<uint32_t>(static_cast<uint8_t>(bytes[k])); };
    for (; i + 3 <= bytes.size(); i += 3) {
        const uint32_t v = (at(i) << 16) | (at(i + 1) << 8) | at(i + 2);
        for (int shift = 18; shift >= 0; shift -= 6) out += table[(v >> shift) & 63];
    }
    const size_t rest = bytes.size() - i;
    if (rest == 0) return out;
    const uint32_t v = (at(i) << 16) | (rest == 2 ? at(i + 1) << 8 : 0);
    out += table[(v >> 18) & 63];
    out += table[(v >> 12) & 63];
    if (rest == 2) out += table[(v >> 6) & 63];
    if (pad) out.append(3 - rest, '=');
    return out;
}

/// The value of `c` in `alphabet`, or -1.
int sextet(char c, Base64Alphabet alphabet) {
    if (c >= 'A' && c <= 'Z') return c - 'A';
    if (c >= 'a' && c <= 'z') return c - 'a' + 26;
    if (c >= '0' && c <= '9') return c - '0' + 52;
    const bool standard = alphabet != Base64Alphabet::url;
    const bool url = alphabet != Base64Alphabet::standard;
    if ((standard && c == '+') || (url && c == '-')) return 62;
    if ((standard && c == '/') || (url && c == '_')) return 63;
    return -1;
}

/// True when `pads` trailing '=' are allowed after a last group that needs `needed`.
bool padding_allowed(Base64Padding padding, size_t pads, size_t needed) {
    switch (padding) {
        case Base64Padding::required:
            return pads == needed;
        case Base64Padding::optional:
            return pads <= needed;
        case Base64Padding::up_to_two:
            return pads <= 2;
        case Base64Padding::any:
            return true;
    }
    return false;
}

}  // namespace

std::string base64_encode(std::string_view bytes) {
    return encode(bytes, kStandard, true);
}

std::string base64url_encode(std::string_view bytes) {
    return encode(bytes, kUrl, false);
}

std::optional<std::string> base64_decode(std::string_view text, Base64Alphabet alphabet,
                                         Base64Padding padding) {
    size_t pads = 0;
    while (pads < text.size() && text[text.size() - 1 - pads] == '=') ++pads;
    const std::string_view data = text.substr(0, text.size() - pads);
    if (data.size() % 4 == 1) return std::nullopt;  // 6 bits cannot end a byte
    const size_t needed = (4 - data.size() % 4) % 4;
    if (!padding_allowed(padding, pads, needed)) return std::nullopt;
    std::string out;
    out.reserve(data.size() / 4 * 3 + 2);
    uint32_t acc = 0;  // the `bits` low bits not yet written
    int bits = 0;
    for (char c : data) {
        const int v = sextet(c, alphabet);
        if (v < 0) return std::nullopt;
        acc = (acc << 6) | static_cast<uint32_t>(v);
        bits += 6;
        if (bits >= 8) {
            bits -= 8;
            out.push_back(static_cast<char>((acc >> bits) & 0xff));
            acc &= (1u << bits) - 1;
        }
    }
    return out;
}

}  // namespace ghost::text

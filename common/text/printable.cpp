#include "common/text/printable.hpp"

#include <cstdint>

namespace ghost::text {
namespace {

constexpr char kHex[] = "0123456789abcdef";

/// Length of the well-formed UTF-8 sequence at in[i] (RFC 3629 table), 0 when ill-formed.
size_t utf8_length(std::string_view in, size_t i) {
    auto byte = [&](size_t k) { return static_cast<uint8_t>(in[k]); };
    const uint8_t b0 = byte(i);
    size_t len = 0;
    uint8_t lo = 0x80, hi = 0xbf;  // allowed range of the second byte
    if (b0 < 0x80) return 1;
    if (b0 >= 0xc2 && b0 <= 0xdf)
        len = 2;
    else if (b0 >= 0xe0 && b0 <= 0xef)
        len = 3;
    else if (b0 >= 0xf0 && b0 <= 0xf4)
        len = 4;
    else
        return 0;               // continuation byte, C0/C1 (overlong) or F5..FF
    if (b0 == 0xe0) lo = 0xa0;  // overlong
    if (b0 == 0xed) hi = 0x9f;  // UTF-16 surrogates
    if (b0 == 0xf0) lo = 0x90;  // overlong
    if (b0 == 0xf4) hi = 0x8f;  // above U+10FFFF
    if (i + len > in.size()) return 0;
    if (byte(i + 1) < lo || byte(i + 1) > hi) return 0;
    for (size_t k = 2; k < len; ++k)
        if (byte(i + k) < 0x80 || byte(i + k) > 0xbf) return 0;
    return len;
}

bool is_c0_or_del(uint8_t c) {
    return c < 0x20 || c == 0x7f;
}
/// U+0080..U+009F, encoded C2 80..C2 9F.
bool is_c1(std::string_view in, size_t i) {
    return static_cast<uint8_t>(in[i]) == 0xc2 && static_cast<uint8_t>(in[i + 1]) <= 0x9f;
}

void append_hex(std::string& out, const char* prefix, uint8_t c) {
    out += prefix;
    out += kHex[c >> 4];
    out += kHex[c & 0xf];
}

void append_c0(std::string& out, uint8_t c) {
    switch (c) {
        case '\t':
            out += "\\t";
            return;
        case '\n':
            out += "\\n";
            return;
        case '\r':
            out += "\\r";
            return;
        default:
            append_hex(out, "\\x", c);
    }
}

}  // namespace

bool is_printable(std::string_view in) {
    for (size_t i = 0; i < in.size();) {
        const auto c = static_cast<uint8_t>(in[i]);
        if (is_c0_or_del(c)) return false;
        const size_t len = utf8_length(in, i);
        if (len == 0 || (len == 2 && is_c1(in, i))) return false;
        i += len;
    }
    return true;
}

std::string printable(std::string_view in) {
    if (is_printable(in)) return std::string(in);
    std::string out;
    out.reserve(in.size() + 16);
    for (size_t i = 0; i < in.size();) {
        const auto c = static_cast<uint8_t>(in[i]);
        const size_t len = utf8_length(in, i);
        if (is_c0_or_del(c)) {
            append_c0(out, c);
        } else if (len == 0) {
            append_hex(out, "\\x", c);  // resynchronise at the next byte
        } else if (len == 2 && is_c1(in, i)) {
            append_hex(out, "\\u00", static_cast<uint8_t>(in[i + 1]));
        } else {
            out.append(in.substr(i, len));
        }
        i += len == 0 ? 1 : len;
    }
    return out;
}

}  // namespace ghost::text

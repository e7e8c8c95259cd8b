#include "common/proxy/credentials.hpp"

#include <cstdint>

namespace ghost::proxy {

bool constant_time_equal(std::string_view a, std::string_view b) {
    const std::size_t n = a.size() > b.size() ? a.size() : b.size();
    // Fold the length difference in too, so a prefix never compares equal.
    std::size_t diff = a.size() ^ b.size();
    for (std::size_t i = 0; i < n; ++i) {
        const auto x = static_cast<uint8_t>(i < a.size() ? a[i] : 0);
        const auto y = static_cast<uint8_t>(i < b.size() ? b[i] : 0);
        diff |= static_cast<std::size_t>(x ^ y);
    }
    return diff == 0;
}

bool credentials_match(const Credentials& creds, std::string_view user, std::string_view pass) {
    const bool user_ok = constant_time_equal(creds.username, user);
    const bool pass_ok = constant_time_equal(creds.password, pass);
    return user_ok & pass_ok;
}

std::string printable(std::string_view text, std::size_t max_len) {
    static constexpr char kHex[] = "0123456789abcdef";
    std::string out;
    const std::size_t n = text.size() < max_len ? text.size() : max_len;
    out.reserve(n + 3);
    for (std::size_t i = 0; i < n; ++i) {
        const auto c = static_cast<uint8_t>(text[i]);
        if (c >= 0x20 && c < 0x7f && c != '\\') {
            out.push_back(static_cast<char>(c));
        } else {
            out += "\\x";
            out.push_back(kHex[c >> 4]);
            out.push_back(kHex[c & 0xf]);
        }
    }
    if (text.size() > max_len) out += "...";
    return out;
}

}  // namespace ghost::proxy

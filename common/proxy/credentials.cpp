#include "common/proxy/credentials.hpp"

#include <cstdint>

#include "common/text/printable.hpp"

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
    std::string out = text::printable(text.substr(0, max_len));
    if (text.size() > max_len) out += "...";
    return out;
}

}  // namespace ghost::proxy

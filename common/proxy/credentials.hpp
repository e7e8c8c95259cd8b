#pragma once
/// Username/password pair a proxy front door requires, and a timing-safe comparison.

#include <string>
#include <string_view>

namespace ghost::proxy {

/// Credentials configured for a SOCKS5 (RFC 1929) or HTTP Basic front door.
struct Credentials {
    std::string username;
    std::string password;
};

/// True when a and b are equal; the time taken depends only on the longer length.
bool constant_time_equal(std::string_view a, std::string_view b);

/// True when user/pass match creds; both fields are always compared (no early exit).
bool credentials_match(const Credentials& creds, std::string_view user, std::string_view pass);

/// Text safe to put in a log line or error message (text::printable), cut at max_len input
/// bytes with "..." appended: a peer's username may be 255 bytes of anything.
std::string printable(std::string_view text, std::size_t max_len = 64);

}  // namespace ghost::proxy

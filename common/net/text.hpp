#pragma once
/// Small ASCII helpers shared by the HTTP-ish parsers (HTTP CONNECT, the knock).

#include <algorithm>
#include <cctype>
#include <string_view>

namespace ghost::net {

/// Case-insensitive ASCII equality.
inline bool iequals(std::string_view a, std::string_view b) {
    return a.size() == b.size() && std::equal(a.begin(), a.end(), b.begin(), [](char x, char y) {
               return std::tolower(static_cast<unsigned char>(x)) ==
                      std::tolower(static_cast<unsigned char>(y));
           });
}

/// Strips HTTP optional whitespace (spaces and tabs) from both ends.
inline std::string_view trim_ows(std::string_view s) {
    while (!s.empty() && (s.front() == ' ' || s.front() == '\t')) s.remove_prefix(1);
    while (!s.empty() && (s.back() == ' ' || s.back() == '\t')) s.remove_suffix(1);
    return s;
}

}  // namespace ghost::net

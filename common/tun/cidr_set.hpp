#pragma once
/// Prefix arithmetic for split-tunnel routes: the configured CIDRs minus the excluded ones.

#include <cstddef>
#include <optional>
#include <string>
#include <vector>

#include "common/net/endpoint.hpp"

namespace ghost::tun {

/// The most prefixes subtract_cidrs will produce before giving up.
inline constexpr size_t kMaxRoutePrefixes = 4096;

/// `include` minus `exclude` as a list of disjoint prefixes (families kept apart).
/// nullopt (and *why) if the result would exceed kMaxRoutePrefixes.
std::optional<std::vector<net::Cidr>> subtract_cidrs(const std::vector<net::Cidr>& include,
                                                     const std::vector<net::Cidr>& exclude,
                                                     std::string* why = nullptr);

}  // namespace ghost::tun

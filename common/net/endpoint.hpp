#pragma once
/// Host/port endpoints and CIDR prefixes: parsing and formatting, no I/O.

#include <array>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

namespace ghost::net {

/// A host (IPv4 literal, IPv6 literal without brackets, or DNS name) and a port.
struct Endpoint {
    std::string host;
    uint16_t port = 0;

    /// "host:port", with brackets around IPv6 literals.
    std::string str() const;
    bool operator==(const Endpoint&) const = default;
};

/// Parses "host:port", "[v6]:port". Port must be 1..65535 unless allow_port0.
/// Returns nullopt and sets *why to a human reason on failure.
std::optional<Endpoint> parse_endpoint(std::string_view text, std::string* why = nullptr,
                                       bool allow_port0 = false);

/// Parses a listen address: "host:port", "[v6]:port" or a bare "port" (host = default_host).
std::optional<Endpoint> parse_listen(std::string_view text, std::string_view default_host,
                                     std::string* why = nullptr, bool allow_port0 = false);

/// True when text is a valid DNS host name (RFC 1123 labels, total <= 253).
bool is_valid_hostname(std::string_view text);

/// An IPv4 or IPv6 address in network byte order.
struct IpAddress {
    bool v6 = false;
    std::array<uint8_t, 16> bytes{};  // v4 uses the first 4 bytes

    static std::optional<IpAddress> parse(std::string_view text);
    std::string str() const;
    bool is_loopback() const;
    bool is_link_local() const;
    bool is_unspecified() const;
    /// The embedded IPv4 address of an IPv4-mapped IPv6 address (::ffff:a.b.c.d); else itself.
    IpAddress unmapped() const;
    bool operator==(const IpAddress&) const = default;
    auto operator<=>(const IpAddress&) const = default;
};

/// An address prefix "a.b.c.d/n" or "v6/n"; host bits must be zero.
struct Cidr {
    IpAddress address;
    uint8_t prefix_len = 0;

    static std::optional<Cidr> parse(std::string_view text, std::string* why = nullptr);
    /// The prefix of length `prefix_len` (clamped to the family's width) that holds `ip`.
    static Cidr of(const IpAddress& ip, unsigned prefix_len);
    bool contains(const IpAddress& ip) const;
    std::string str() const;
    bool operator==(const Cidr&) const = default;
    auto operator<=>(const Cidr&) const = default;
};

}  // namespace ghost::net

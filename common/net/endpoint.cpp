#include "common/net/endpoint.hpp"

#include <arpa/inet.h>

#include <algorithm>
#include <cstring>

namespace ghost::net {
namespace {

void set_why(std::string* why, std::string text) {
    if (why) *why = std::move(text);
}

bool all_digits(std::string_view s) {
    return !s.empty() &&
           std::all_of(s.begin(), s.end(), [](char c) { return c >= '0' && c <= '9'; });
}

bool digits_and_dots(std::string_view s) {
    return !s.empty() && std::all_of(s.begin(), s.end(),
                                     [](char c) { return (c >= '0' && c <= '9') || c == '.'; });
}

/// Parses a decimal number <= max; rejects signs, spaces and leading '+'.
std::optional<uint32_t> parse_small_uint(std::string_view s, uint32_t max) {
    if (!all_digits(s) || s.size() > 10) return std::nullopt;
    uint64_t v = 0;
    for (char c : s) v = v * 10 + static_cast<uint64_t>(c - '0');
    if (v > max) return std::nullopt;
    return static_cast<uint32_t>(v);
}

std::optional<uint16_t> parse_port(std::string_view s, bool allow_port0, std::string* why) {
    if (s.empty()) {
        set_why(why, "missing port");
        return std::nullopt;
    }
    auto v = parse_small_uint(s, 65535);
    if (!v || (*v == 0 && !allow_port0)) {
        set_why(why, "invalid port '" + std::string(s) + "' (must be 1..65535)");
        return std::nullopt;
    }
    return static_cast<uint16_t>(*v);
}

/// Checks the host part: an IPv4 literal, an IPv6 literal (bracketed == true) or a DNS name.
bool check_host(std::string_view host, bool bracketed, std::string* why) {
    if (host.empty()) {
        set_why(why, "empty host");
        return false;
    }
    auto ip = IpAddress::parse(host);
    if (bracketed) {
        if (ip && ip->v6) return true;
        set_why(why, "invalid IPv6 address '" + std::string(host) + "'");
        return false;
    }
    if (host.find(':') != std::string_view::npos) {
        set_why(why, "IPv6 address must be in brackets, e.g. [" + std::string(host) + "]:PORT");
        return false;
    }
    if (digits_and_dots(host)) {
        if (ip) return true;
        set_why(why, "invalid IPv4 address '" + std::string(host) + "'");
        return false;
    }
    if (is_valid_hostname(host)) return true;
    set_why(why, "invalid host name '" + std::string(host) + "'");
    return false;
}

}  // namespace

std::string Endpoint::str() const {
    if (host.find(':') != std::string::npos) return "[" + host + "]:" + std::to_string(port);
    return host + ":" + std::to_string(port);
}

std::optional<Endpoint> parse_endpoint(std::string_view text, std::string* why, bool allow_port0) {
    std::string_view host;
    std::string_view port;
    bool bracketed = false;
    if (!text.empty() && text.front() == '[') {
        auto close = text.find(']');
        if (close == std::string_view::npos) {
            set_why(why, "missing ']' after IPv6 address");
            return std::nullopt;
        }
        host = text.substr(1, close - 1);
        auto rest = text.substr(close + 1);
        if (rest.empty() || rest.front() != ':') {
            set_why(why, rest.empty() ? "missing port" : "expected ':' after ']'");
            return std::nullopt;
        }
        port = rest.substr(1);
        bracketed = true;
    } else {
        auto colon = text.rfind(':');
        if (colon == std::string_view::npos) {
            set_why(why, "missing port (expected host:port)");
            return std::nullopt;
        }
        host = text.substr(0, colon);
        port = text.substr(colon + 1);
    }
    if (!check_host(host, bracketed, why)) return std::nullopt;
    auto p = parse_port(port, allow_port0, why);
    if (!p) return std::nullopt;
    return Endpoint{std::string(host), *p};
}

std::optional<Endpoint> parse_listen(std::string_view text, std::string_view default_host,
                                     std::string* why, bool allow_port0) {
    if (all_digits(text)) {
        auto p = parse_port(text, allow_port0, why);
        if (!p) return std::nullopt;
        return Endpoint{std::string(default_host), *p};
    }
    return parse_endpoint(text, why, allow_port0);
}

bool is_valid_hostname(std::string_view text) {
    if (!text.empty() && text.back() == '.') text.remove_suffix(1);  // FQDN form
    if (text.empty() || text.size() > 253) return false;
    size_t start = 0;
    while (start <= text.size()) {
        auto dot = text.find('.', start);
        auto label = text.substr(start, dot == std::string_view::npos ? text.npos : dot - start);
        if (label.empty() || label.size() > 63) return false;
        if (label.front() == '-' || label.back() == '-') return false;
        for (char c : label) {
            bool ok = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
                      c == '-';
            if (!ok) return false;
        }
        if (dot == std::string_view::npos) break;
        start = dot + 1;
    }
    return true;
}

std::optional<IpAddress> IpAddress::parse(std::string_view text) {
    if (text.empty() || text.size() > 45) return std::nullopt;
    std::string s(text);  // inet_pton needs a NUL-terminated string
    IpAddress ip;
    if (inet_pton(AF_INET, s.c_str(), ip.bytes.data()) == 1) return ip;
    ip.v6 = true;
    if (inet_pton(AF_INET6, s.c_str(), ip.bytes.data()) == 1) return ip;
    return std::nullopt;
}

std::string IpAddress::str() const {
    char buf[INET6_ADDRSTRLEN] = {};
    inet_ntop(v6 ? AF_INET6 : AF_INET, bytes.data(), buf, sizeof buf);
    return buf;
}

namespace {

/// True for ::ffff:a.b.c.d; *v4 receives the embedded IPv4 address.
bool is_v4_mapped(const IpAddress& ip, IpAddress* v4) {
    static constexpr uint8_t kPrefix[12] = {0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff};
    if (!ip.v6 || std::memcmp(ip.bytes.data(), kPrefix, sizeof kPrefix) != 0) return false;
    v4->v6 = false;
    v4->bytes = {};
    std::copy_n(ip.bytes.begin() + 12, 4, v4->bytes.begin());
    return true;
}

}  // namespace

IpAddress IpAddress::unmapped() const {
    IpAddress v4;
    return is_v4_mapped(*this, &v4) ? v4 : *this;
}

bool IpAddress::is_loopback() const {
    IpAddress v4;
    if (is_v4_mapped(*this, &v4)) return v4.is_loopback();
    if (!v6) return bytes[0] == 127;
    for (size_t i = 0; i < 15; ++i)
        if (bytes[i] != 0) return false;
    return bytes[15] == 1;
}

bool IpAddress::is_link_local() const {
    IpAddress v4;
    if (is_v4_mapped(*this, &v4)) return v4.is_link_local();
    if (!v6) return bytes[0] == 169 && bytes[1] == 254;
    return bytes[0] == 0xfe && (bytes[1] & 0xc0) == 0x80;
}

bool IpAddress::is_unspecified() const {
    size_t n = v6 ? 16 : 4;
    return std::all_of(bytes.begin(), bytes.begin() + static_cast<long>(n),
                       [](uint8_t b) { return b == 0; });
}

namespace {

/// Zeroes every bit after the first prefix_len bits.
IpAddress mask(IpAddress ip, unsigned prefix_len) {
    size_t n = ip.v6 ? 16 : 4;
    for (size_t i = 0; i < n; ++i) {
        unsigned first_bit = static_cast<unsigned>(i) * 8;
        if (first_bit >= prefix_len) {
            ip.bytes[i] = 0;
        } else if (prefix_len - first_bit < 8) {
            ip.bytes[i] &= static_cast<uint8_t>(0xff00u >> (prefix_len - first_bit));
        }
    }
    return ip;
}

}  // namespace

std::optional<Cidr> Cidr::parse(std::string_view text, std::string* why) {
    auto slash = text.find('/');
    auto addr_text = text.substr(0, slash);
    auto ip = IpAddress::parse(addr_text);
    if (!ip) {
        set_why(why, addr_text.empty() ? "missing address before '/'"
                                       : "invalid IP address '" + std::string(addr_text) + "'");
        return std::nullopt;
    }
    uint32_t max_len = ip->v6 ? 128 : 32;
    uint32_t len = max_len;  // a bare address is a host prefix
    if (slash != std::string_view::npos) {
        auto len_text = text.substr(slash + 1);
        auto parsed = parse_small_uint(len_text, max_len);
        if (!parsed) {
            set_why(why, "invalid prefix length '" + std::string(len_text) + "' (must be 0.." +
                             std::to_string(max_len) + ")");
            return std::nullopt;
        }
        len = *parsed;
    }
    Cidr cidr{*ip, static_cast<uint8_t>(len)};
    IpAddress network = mask(*ip, len);
    if (!(network == *ip)) {
        Cidr suggestion{network, cidr.prefix_len};
        set_why(why, "host bits set, did you mean " + suggestion.str() + "?");
        return std::nullopt;
    }
    return cidr;
}

Cidr Cidr::of(const IpAddress& ip, unsigned prefix_len) {
    unsigned len = std::min(prefix_len, ip.v6 ? 128u : 32u);
    return {mask(ip, len), static_cast<uint8_t>(len)};
}

bool Cidr::contains(const IpAddress& ip) const {
    if (ip.v6 != address.v6) return false;
    return mask(ip, prefix_len) == address;
}

std::string Cidr::str() const {
    return address.str() + "/" + std::to_string(prefix_len);
}

}  // namespace ghost::net

#include "common/proxy/socks5.hpp"

#include <arpa/inet.h>

#include <algorithm>
#include <cstring>
#include <utility>

namespace ghost::proxy {
namespace {

constexpr uint8_t kVersion = 0x05;
constexpr uint8_t kAuthVersion = 0x01;
constexpr uint8_t kMethodNoAuth = 0x00;
constexpr uint8_t kMethodUserPass = 0x02;
constexpr uint8_t kMethodNoneAcceptable = 0xff;
constexpr uint8_t kCmdConnect = 0x01;
constexpr uint8_t kCmdBind = 0x02;
constexpr uint8_t kCmdUdpAssociate = 0x03;
constexpr std::size_t kRequestHeader = 4;  // VER CMD RSV ATYP

std::string hex_byte(uint8_t b) {
    static constexpr char kHex[] = "0123456789abcdef";
    return std::string("0x") + kHex[b >> 4] + kHex[b & 0xf];
}

std::string method_list(const uint8_t* methods, std::size_t n) {
    std::string out;
    for (std::size_t i = 0; i < n; ++i) {
        if (i) out += ' ';
        out += hex_byte(methods[i]);
    }
    return out;
}

std::string format_ipv4(const uint8_t* p) {
    return std::to_string(p[0]) + '.' + std::to_string(p[1]) + '.' + std::to_string(p[2]) + '.' +
           std::to_string(p[3]);
}

std::string format_ipv6(const uint8_t* p) {
    char text[INET6_ADDRSTRLEN] = {};
    inet_ntop(AF_INET6, p, text, sizeof text);
    return text;
}

std::string_view command_name(uint8_t cmd) {
    switch (cmd) {
        case kCmdBind:
            return "BIND";
        case kCmdUdpAssociate:
            return "UDP ASSOCIATE";
        default:
            return "unknown command";
    }
}

/// Returns an error message when the domain name holds a byte that cannot be part of a
/// host name we would pass on (control characters, space, non-ASCII).
std::optional<std::string> check_domain(const uint8_t* p, std::size_t n) {
    for (std::size_t i = 0; i < n; ++i) {
        if (p[i] <= 0x20 || p[i] >= 0x7f) {
            return "SOCKS5 domain name contains byte " + hex_byte(p[i]) + " at offset " +
                   std::to_string(i) + " (expected printable ASCII)";
        }
    }
    return std::nullopt;
}

}  // namespace

std::string_view socks5_reply_name(Socks5Reply code) {
    switch (code) {
        case Socks5Reply::succeeded:
            return "succeeded";
        case Socks5Reply::general_failure:
            return "general SOCKS server failure";
        case Socks5Reply::not_allowed:
            return "connection not allowed by ruleset";
        case Socks5Reply::network_unreachable:
            return "network unreachable";
        case Socks5Reply::host_unreachable:
            return "host unreachable";
        case Socks5Reply::connection_refused:
            return "connection refused";
        case Socks5Reply::ttl_expired:
            return "TTL expired";
        case Socks5Reply::command_not_supported:
            return "command not supported";
        case Socks5Reply::address_type_not_supported:
            return "address type not supported";
    }
    return "unknown reply code";
}

Socks5Server::Socks5Server(std::optional<Credentials> credentials)
    : credentials_(std::move(credentials)) {}

void Socks5Server::fail(std::string reason, std::vector<uint8_t> reply) {
    stage_ = Stage::failed;
    error_ = std::move(reason);
    error_reply_ = std::move(reply);
}

std::size_t Socks5Server::greeting_wanted() {
    if (have_ >= 1 && buf_[0] != kVersion) {
        if (buf_[0] == 0x04) {
            // A SOCKS4 client reads an 8-byte reply; 0x5b is "request rejected or failed".
            fail("SOCKS version 4 not supported (expected 5)", {0x00, 0x5b, 0, 0, 0, 0, 0, 0});
        } else {
            fail("SOCKS version " + std::to_string(buf_[0]) + " not supported (expected 5)", {});
        }
        return 0;
    }
    if (have_ < 2) return have_ + 1;  // fixed fields one byte at a time: exact error offsets
    if (buf_[1] == 0) {
        fail("SOCKS5 greeting offers 0 authentication methods (NMETHODS must be >= 1)",
             {kVersion, kMethodNoneAcceptable});
        return 0;
    }
    return 2 + std::size_t{buf_[1]};
}

std::size_t Socks5Server::auth_wanted() {
    if (have_ >= 1 && buf_[0] != kAuthVersion) {
        fail("SOCKS5 username/password version " + std::to_string(buf_[0]) +
                 " not supported (expected 1)",
             {kAuthVersion, 0x01});
        return 0;
    }
    if (have_ < 2) return have_ + 1;
    const std::size_t ulen = buf_[1];
    if (ulen == 0) {
        fail("SOCKS5 username length 0 (expected 1..255)", {kAuthVersion, 0x01});
        return 0;
    }
    if (have_ < 3 + ulen) return 3 + ulen;
    return 3 + ulen + buf_[2 + ulen];
}

std::size_t Socks5Server::request_wanted() {
    const auto error_reply = [](Socks5Reply code) { return socks5_reply(code); };
    if (have_ >= 1 && buf_[0] != kVersion) {
        fail("SOCKS5 request version " + std::to_string(buf_[0]) + " (expected 5)",
             error_reply(Socks5Reply::general_failure));
        return 0;
    }
    if (have_ >= 2 && buf_[1] != kCmdConnect) {
        fail("SOCKS5 command " + hex_byte(buf_[1]) + " (" + std::string(command_name(buf_[1])) +
                 ") not supported; only CONNECT (0x01) is",
             error_reply(Socks5Reply::command_not_supported));
        return 0;
    }
    if (have_ >= 3 && buf_[2] != 0) {
        fail("SOCKS5 request reserved byte is " + hex_byte(buf_[2]) + " (expected 0x00)",
             error_reply(Socks5Reply::general_failure));
        return 0;
    }
    if (have_ < kRequestHeader) return have_ + 1;
    switch (buf_[3]) {
        case static_cast<uint8_t>(Socks5AddressType::ipv4):
            return kRequestHeader + 4 + 2;
        case static_cast<uint8_t>(Socks5AddressType::ipv6):
            return kRequestHeader + 16 + 2;
        case static_cast<uint8_t>(Socks5AddressType::domain):
            break;
        default:
            fail("SOCKS5 address type " + hex_byte(buf_[3]) +
                     " not supported (expected 0x01 IPv4, 0x03 domain or 0x04 IPv6)",
                 error_reply(Socks5Reply::address_type_not_supported));
            return 0;
    }
    if (have_ < kRequestHeader + 1) return kRequestHeader + 1;
    if (buf_[4] == 0) {
        fail("SOCKS5 domain name length 0 (expected 1..255)",
             error_reply(Socks5Reply::general_failure));
        return 0;
    }
    return kRequestHeader + 1 + buf_[4] + 2;
}

std::size_t Socks5Server::wanted() {
    switch (stage_) {
        case Stage::greeting:
            return greeting_wanted();
        case Stage::auth:
            return auth_wanted();
        case Stage::request:
            return request_wanted();
        case Stage::done:
        case Stage::failed:
            break;
    }
    return 0;
}

void Socks5Server::process_greeting(Socks5Step& step) {
    const uint8_t* methods = buf_.data() + 2;
    const std::size_t n = buf_[1];
    const uint8_t want = credentials_ ? kMethodUserPass : kMethodNoAuth;
    if (std::find(methods, methods + n, want) == methods + n) {
        fail("SOCKS5 client offers no acceptable authentication method (offered " +
                 method_list(methods, n) + "; need " + hex_byte(want) +
                 (credentials_ ? " username/password)" : " no authentication)"),
             {kVersion, kMethodNoneAcceptable});
        return;
    }
    step.reply.insert(step.reply.end(), {kVersion, want});
    stage_ = credentials_ ? Stage::auth : Stage::request;
}

void Socks5Server::process_auth(Socks5Step& step) {
    const std::size_t ulen = buf_[1];
    const std::size_t plen = buf_[2 + ulen];
    const std::string_view user(reinterpret_cast<const char*>(buf_.data() + 2), ulen);
    const std::string_view pass(reinterpret_cast<const char*>(buf_.data() + 3 + ulen), plen);
    if (plen == 0) {
        fail("SOCKS5 password length 0 for user '" + printable(user) + "' (expected 1..255)",
             {kAuthVersion, 0x01});
        return;
    }
    if (!credentials_match(*credentials_, user, pass)) {
        fail("SOCKS5 username/password rejected for user '" + printable(user) + "'",
             {kAuthVersion, 0x01});
        return;
    }
    username_ = user;
    step.reply.insert(step.reply.end(), {kAuthVersion, 0x00});
    stage_ = Stage::request;
}

void Socks5Server::process_request(Socks5Step& step) {
    Socks5Request req;
    req.atyp = static_cast<Socks5AddressType>(buf_[3]);
    const uint8_t* addr = buf_.data() + kRequestHeader;
    const uint8_t* port = buf_.data() + have_ - 2;
    switch (req.atyp) {
        case Socks5AddressType::ipv4:
            req.host = format_ipv4(addr);
            break;
        case Socks5AddressType::ipv6:
            req.host = format_ipv6(addr);
            break;
        case Socks5AddressType::domain:
            if (auto bad = check_domain(addr + 1, addr[0])) {
                fail(std::move(*bad), socks5_reply(Socks5Reply::general_failure));
                return;
            }
            req.host.assign(reinterpret_cast<const char*>(addr + 1), addr[0]);
            break;
    }
    req.port = static_cast<uint16_t>((port[0] << 8) | port[1]);
    if (req.port == 0) {
        fail("SOCKS5 destination port 0 for host '" + req.host + "' (expected 1..65535)",
             socks5_reply(Socks5Reply::general_failure));
        return;
    }
    step.request = std::move(req);
    stage_ = Stage::done;
}

void Socks5Server::process(Socks5Step& step) {
    switch (stage_) {
        case Stage::greeting:
            process_greeting(step);
            break;
        case Stage::auth:
            process_auth(step);
            break;
        case Stage::request:
            process_request(step);
            break;
        case Stage::done:
        case Stage::failed:
            break;
    }
    have_ = 0;
}

Socks5Step Socks5Server::feed(std::span<const uint8_t> input) {
    Socks5Step step;
    if (stage_ == Stage::done || stage_ == Stage::failed) {
        step.status = ParseStatus::error;
        step.error = stage_ == Stage::done ? "SOCKS5 handshake already complete"
                                           : "SOCKS5 handshake already failed: " + error_;
        return step;
    }
    std::size_t pos = 0;
    while (stage_ != Stage::done) {
        const std::size_t want = wanted();  // also validates the bytes buffered so far
        if (stage_ == Stage::failed) break;
        if (have_ < want) {
            if (pos == input.size()) break;
            const std::size_t take = std::min(want - have_, input.size() - pos);
            std::memcpy(buf_.data() + have_, input.data() + pos, take);
            have_ += take;
            pos += take;
            continue;
        }
        process(step);
        if (stage_ == Stage::failed) break;
    }
    step.consumed = pos;
    if (stage_ == Stage::failed) {
        step.status = ParseStatus::error;
        step.error = error_;
        step.reply.insert(step.reply.end(), error_reply_.begin(), error_reply_.end());
    } else if (stage_ == Stage::done) {
        step.status = ParseStatus::done;
    }
    return step;
}

std::vector<uint8_t> socks5_reply(Socks5Reply code, std::string_view bound_host,
                                  uint16_t bound_port) {
    std::vector<uint8_t> out{kVersion, static_cast<uint8_t>(code), 0x00};
    const std::string host(bound_host);
    uint8_t v4[4] = {};
    uint8_t v6[16] = {};
    if (!host.empty() && inet_pton(AF_INET6, host.c_str(), v6) == 1) {
        out.push_back(static_cast<uint8_t>(Socks5AddressType::ipv6));
        out.insert(out.end(), v6, v6 + sizeof v6);
    } else if (host.empty() || host.size() > 255 || inet_pton(AF_INET, host.c_str(), v4) == 1) {
        // Empty or a name too long to encode is reported as 0.0.0.0.
        out.push_back(static_cast<uint8_t>(Socks5AddressType::ipv4));
        out.insert(out.end(), v4, v4 + sizeof v4);
    } else {
        out.push_back(static_cast<uint8_t>(Socks5AddressType::domain));
        out.push_back(static_cast<uint8_t>(host.size()));
        out.insert(out.end(), host.begin(), host.end());
    }
    out.push_back(static_cast<uint8_t>(bound_port >> 8));
    out.push_back(static_cast<uint8_t>(bound_port & 0xff));
    return out;
}

}  // namespace ghost::proxy

#include "common/proxy/http_connect.hpp"
#include "common/net/text.hpp"
#include "common/text/base64.hpp"

#include <arpa/inet.h>

#include <algorithm>
#include <cctype>
#include <utility>

namespace ghost::proxy {
namespace {

using net::iequals;
using net::trim_ows;

bool is_tchar(char c) {
    static constexpr std::string_view kExtra = "!#$%&'*+-.^_`|~";
    return std::isalnum(static_cast<unsigned char>(c)) || kExtra.find(c) != kExtra.npos;
}

bool is_token(std::string_view s) {
    return !s.empty() && std::all_of(s.begin(), s.end(), is_tchar);
}

std::string quoted(std::string_view s) {
    return "'" + printable(s) + "'";
}

bool valid_host_name(std::string_view host) {
    return !host.empty() && host.size() <= 255 && std::all_of(host.begin(), host.end(), [](char c) {
        return std::isalnum(static_cast<unsigned char>(c)) || c == '-' || c == '.' || c == '_';
    });
}

/// Parses the decimal port of a CONNECT target; nullopt unless 1..65535.
std::optional<uint16_t> parse_port(std::string_view s) {
    if (s.empty() || s.size() > 5) return std::nullopt;
    uint32_t v = 0;
    for (char c : s) {
        if (c < '0' || c > '9') return std::nullopt;
        v = v * 10 + static_cast<uint32_t>(c - '0');
    }
    if (v == 0 || v > 65535) return std::nullopt;
    return static_cast<uint16_t>(v);
}

/// Splits an authority-form target ("host:port", "[v6]:port") into request.host/port.
/// Returns an error message, or empty on success.
std::string parse_authority(std::string_view target, HttpConnectRequest& request) {
    std::string_view host;
    std::string_view port;
    if (target.find("://") != target.npos) {
        return "CONNECT target " + quoted(target) + " is a URL (expected host:port)";
    }
    if (!target.empty() && target.front() == '[') {
        const auto close = target.find(']');
        if (close == target.npos) return "CONNECT target " + quoted(target) + " lacks ']'";
        host = target.substr(1, close - 1);
        if (close + 1 >= target.size() || target[close + 1] != ':') {
            return "CONNECT target " + quoted(target) + " has no port (expected [addr]:port)";
        }
        port = target.substr(close + 2);
        const std::string text(host);
        unsigned char addr[16];
        if (inet_pton(AF_INET6, text.c_str(), addr) != 1) {
            return "CONNECT target " + quoted(target) + " has an invalid IPv6 address";
        }
        char canon[INET6_ADDRSTRLEN] = {};
        inet_ntop(AF_INET6, addr, canon, sizeof canon);
        request.host = canon;
        request.ipv6_literal = true;
    } else {
        const auto colon = target.rfind(':');
        if (colon == target.npos) {
            return "CONNECT target " + quoted(target) + " has no port (expected host:port)";
        }
        host = target.substr(0, colon);
        port = target.substr(colon + 1);
        if (host.find(':') != host.npos) {
            return "CONNECT target " + quoted(target) +
                   " is ambiguous: put IPv6 addresses in brackets, e.g. [::1]:443";
        }
        if (!valid_host_name(host)) {
            return "CONNECT target host " + quoted(host) + " is not a valid host name or address";
        }
        request.host = host;
    }
    const auto p = parse_port(port);
    if (!p) return "CONNECT target port " + quoted(port) + " is not a number in 1..65535";
    request.port = *p;
    return {};
}

std::string sanitize_realm(std::string_view realm) {
    std::string out;
    for (char c : realm) {
        if (c >= 0x20 && c < 0x7f && c != '"' && c != '\\') out.push_back(c);
    }
    return out;
}

}  // namespace

HttpConnectParser::HttpConnectParser(std::optional<Credentials> credentials, std::string realm)
    : credentials_(std::move(credentials)), realm_(std::move(realm)) {}

void HttpConnectParser::fail(int status, std::string reason) {
    stage_ = Stage::failed;
    error_status_ = status;
    error_ = std::move(reason);
}

HttpConnectStep HttpConnectParser::feed(std::string_view input) {
    HttpConnectStep step;
    if (stage_ == Stage::done || stage_ == Stage::failed) {
        step.status = ParseStatus::error;
        step.error = stage_ == Stage::done ? "HTTP CONNECT request already complete"
                                           : "HTTP CONNECT request already failed: " + error_;
        return step;
    }
    std::size_t pos = 0;
    while (pos < input.size() && (stage_ == Stage::request_line || stage_ == Stage::headers)) {
        const std::string_view rest = input.substr(pos);
        const auto nl = rest.find('\n');
        const std::size_t take = nl == rest.npos ? rest.size() : nl + 1;
        if (take > kMaxHeadBytes - head_bytes_) {
            const bool in_line = stage_ == Stage::request_line;
            pos += kMaxHeadBytes - head_bytes_;
            fail(in_line ? 414 : 431,
                 "HTTP request head exceeds " + std::to_string(kMaxHeadBytes) + " bytes");
            break;
        }
        line_.append(rest.data(), nl == rest.npos ? take : nl);
        head_bytes_ += take;
        pos += take;
        if (stage_ == Stage::request_line && line_.size() > kMaxRequestLine) {
            fail(414, "HTTP request line exceeds " + std::to_string(kMaxRequestLine) + " bytes");
            break;
        }
        if (nl == rest.npos) break;
        handle_line(line_);
        line_.clear();
    }
    step.consumed = pos;
    if (stage_ == Stage::failed) {
        step.status = ParseStatus::error;
        step.http_status = error_status_;
        step.error = error_;
        step.response = http_error_response(error_status_, error_, realm_);
    } else if (stage_ == Stage::done) {
        step.status = ParseStatus::done;
        step.request = request_;
    }
    return step;
}

void HttpConnectParser::handle_line(std::string_view line) {
    if (!line.empty() && line.back() == '\r') line.remove_suffix(1);
    const auto bad = std::find_if(line.begin(), line.end(), [](char c) {
        const auto u = static_cast<unsigned char>(c);
        return (u < 0x20 && c != '\t') || u == 0x7f;
    });
    if (bad != line.end()) {
        static constexpr char kHex[] = "0123456789abcdef";
        const auto u = static_cast<unsigned char>(*bad);
        fail(400, std::string("HTTP request head contains control byte 0x") + kHex[u >> 4] +
                      kHex[u & 0xf] + " in line " + quoted(line));
        return;
    }
    if (stage_ == Stage::request_line) {
        if (!line.empty()) handle_request_line(line);  // RFC 9112 2.2: skip leading CRLFs
    } else if (line.empty()) {
        finish_head();
    } else {
        handle_header(line);
    }
}

void HttpConnectParser::handle_request_line(std::string_view line) {
    const auto sp1 = line.find(' ');
    const auto sp2 = sp1 == line.npos ? line.npos : line.find(' ', sp1 + 1);
    if (sp2 == line.npos || line.find(' ', sp2 + 1) != line.npos) {
        fail(400, "malformed HTTP request line " + quoted(line) +
                      " (expected 'CONNECT host:port HTTP/1.1')");
        return;
    }
    const auto method = line.substr(0, sp1);
    const auto target = line.substr(sp1 + 1, sp2 - sp1 - 1);
    const auto version = line.substr(sp2 + 1);
    if (!is_token(method)) {
        fail(400, "malformed HTTP method " + quoted(method));
        return;
    }
    if (version.size() != 8 || version.substr(0, 5) != "HTTP/" ||
        !std::isdigit(static_cast<unsigned char>(version[5])) || version[6] != '.' ||
        !std::isdigit(static_cast<unsigned char>(version[7]))) {
        fail(400, "malformed HTTP version " + quoted(version) + " (expected HTTP/1.1)");
        return;
    }
    if (version[5] != '1') {
        fail(505, "HTTP version " + quoted(version) + " not supported (expected HTTP/1.x)");
        return;
    }
    if (method != "CONNECT") {
        fail(405, "HTTP method " + quoted(method) +
                      " not allowed: this is a CONNECT-only proxy (use it as an HTTPS proxy)");
        return;
    }
    request_.version_minor = version[7] - '0';
    if (auto why = parse_authority(target, request_); !why.empty()) {
        fail(400, std::move(why));
        return;
    }
    stage_ = Stage::headers;
}

void HttpConnectParser::handle_header(std::string_view line) {
    if (++header_count_ > kMaxHeaders) {
        fail(431, "HTTP request has more than " + std::to_string(kMaxHeaders) + " header fields");
        return;
    }
    if (line.front() == ' ' || line.front() == '\t') {
        fail(400, "obsolete header line folding in " + quoted(line));
        return;
    }
    const auto colon = line.find(':');
    const auto name = line.substr(0, colon);
    if (colon == line.npos || !is_token(name)) {
        fail(400, "malformed HTTP header line " + quoted(line) + " (expected 'Name: value')");
        return;
    }
    const auto value = trim_ows(line.substr(colon + 1));
    if (iequals(name, "Host")) {
        if (seen_host_) return fail(400, "HTTP request has more than one Host header");
        if (value.empty()) return fail(400, "HTTP Host header is empty");
        seen_host_ = true;
    } else if (iequals(name, "Proxy-Authorization")) {
        handle_proxy_authorization(value);
    } else if (iequals(name, "Content-Length") && value != "0") {
        fail(400, "CONNECT request with Content-Length " + quoted(value) +
                      " (a CONNECT request has no body)");
    } else if (iequals(name, "Transfer-Encoding")) {
        fail(400, "CONNECT request with Transfer-Encoding " + quoted(value) +
                      " (a CONNECT request has no body)");
    }
}

void HttpConnectParser::handle_proxy_authorization(std::string_view value) {
    if (seen_authorization_)
        return fail(400, "HTTP request has more than one Proxy-Authorization header");
    seen_authorization_ = true;
    if (!credentials_) return;  // not required: ignore
    const auto sp = value.find(' ');
    const auto scheme = value.substr(0, sp);
    if (!iequals(scheme, "Basic") || sp == value.npos) {
        auth_problem_ =
            "Proxy-Authorization scheme " + quoted(scheme) + " not supported (expected Basic)";
        return;
    }
    // Standard alphabet; up to two '=' whatever the length, as ghost always accepted.
    const auto decoded =
        text::base64_decode(trim_ows(value.substr(sp + 1)), text::Base64Alphabet::standard,
                            text::Base64Padding::up_to_two);
    if (!decoded) return fail(400, "Proxy-Authorization Basic credentials are not valid base64");
    const auto colon = decoded->find(':');
    if (colon == decoded->npos) {
        return fail(400,
                    "Proxy-Authorization Basic credentials lack ':' between user and password");
    }
    const std::string_view user = std::string_view(*decoded).substr(0, colon);
    const std::string_view pass = std::string_view(*decoded).substr(colon + 1);
    if (!credentials_match(*credentials_, user, pass)) {
        auth_problem_ = "proxy credentials rejected for user " + quoted(user);
        return;
    }
    authorized_ = true;
    request_.username = user;
}

void HttpConnectParser::finish_head() {
    if (request_.version_minor >= 1 && !seen_host_) {
        return fail(400, "HTTP/1.1 CONNECT request lacks a Host header");
    }
    if (credentials_ && !authorized_) {
        // auth_problem_ holds the reason from handle_proxy_authorization, if a header was seen.
        return fail(
            407, auth_problem_.empty() ? "proxy authentication required (Basic)" : auth_problem_);
    }
    stage_ = Stage::done;
}

std::string_view http_reason_phrase(int status) {
    switch (status) {
        case 200:
            return "Connection established";
        case 400:
            return "Bad Request";
        case 403:
            return "Forbidden";
        case 405:
            return "Method Not Allowed";
        case 407:
            return "Proxy Authentication Required";
        case 414:
            return "URI Too Long";
        case 431:
            return "Request Header Fields Too Large";
        case 500:
            return "Internal Server Error";
        case 502:
            return "Bad Gateway";
        case 503:
            return "Service Unavailable";
        case 504:
            return "Gateway Timeout";
        case 505:
            return "HTTP Version Not Supported";
        default:
            return "Error";
    }
}

std::string http_connect_established() {
    return "HTTP/1.1 200 Connection established\r\n\r\n";
}

std::string http_error_response(int status, std::string_view message, std::string_view realm) {
    const std::string body = std::string(message) + "\n";
    std::string out = "HTTP/1.1 " + std::to_string(status) + " " +
                      std::string(http_reason_phrase(status)) + "\r\n";
    if (status == 407) {
        out += "Proxy-Authenticate: Basic realm=\"" + sanitize_realm(realm) + "\"\r\n";
    }
    if (status == 405) out += "Allow: CONNECT\r\n";
    out += "Content-Type: text/plain; charset=utf-8\r\n";
    out += "Content-Length: " + std::to_string(body.size()) + "\r\n";
    out += "Connection: close\r\n\r\n";
    out += body;
    return out;
}

}  // namespace ghost::proxy

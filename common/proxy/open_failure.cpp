#include "common/proxy/open_failure.hpp"

#include <algorithm>
#include <array>
#include <cctype>
#include <utility>

namespace ghost::proxy {
namespace {

bool contains_nocase(std::string_view haystack, std::string_view needle) {
    const auto it = std::search(haystack.begin(), haystack.end(), needle.begin(), needle.end(),
                                [](char a, char b) {
                                    return std::tolower(static_cast<unsigned char>(a)) ==
                                           std::tolower(static_cast<unsigned char>(b));
                                });
    return it != haystack.end();
}

/// Maps strerror()/gai_strerror() texts servers put in the description. Order matters:
/// the first match wins.
OpenFailure failure_from_description(std::string_view text) {
    static constexpr std::array<std::pair<std::string_view, OpenFailure>, 14> kPatterns{{
        {"refused", OpenFailure::refused},
        {"network is unreachable", OpenFailure::unreachable_network},
        {"network unreachable", OpenFailure::unreachable_network},
        {"no route to host", OpenFailure::unreachable_host},
        {"host is unreachable", OpenFailure::unreachable_host},
        {"host unreachable", OpenFailure::unreachable_host},
        {"name or service not known", OpenFailure::unreachable_host},
        {"no address associated", OpenFailure::unreachable_host},
        {"temporary failure in name resolution", OpenFailure::unreachable_host},
        {"could not resolve", OpenFailure::unreachable_host},
        {"timed out", OpenFailure::timeout},
        {"timeout", OpenFailure::timeout},
        {"permission denied", OpenFailure::denied},
        {"prohibited", OpenFailure::denied},
    }};
    for (const auto& [pattern, failure] : kPatterns) {
        if (contains_nocase(text, pattern)) return failure;
    }
    return OpenFailure::general;
}

}  // namespace

std::string_view open_failure_name(OpenFailure failure) {
    switch (failure) {
        case OpenFailure::refused:
            return "connection refused";
        case OpenFailure::unreachable_network:
            return "network unreachable";
        case OpenFailure::unreachable_host:
            return "host unreachable";
        case OpenFailure::timeout:
            return "timed out";
        case OpenFailure::denied:
            return "not allowed";
        case OpenFailure::no_session:
            return "tunnel session not established";
        case OpenFailure::resource_shortage:
            return "resource shortage";
        case OpenFailure::general:
            return "general failure";
    }
    return "general failure";
}

Socks5Reply socks5_reply_for(OpenFailure failure) {
    switch (failure) {
        case OpenFailure::refused:
            return Socks5Reply::connection_refused;
        case OpenFailure::unreachable_network:
            return Socks5Reply::network_unreachable;
        case OpenFailure::unreachable_host:
            return Socks5Reply::host_unreachable;
        case OpenFailure::timeout:
            return Socks5Reply::ttl_expired;
        case OpenFailure::denied:
            return Socks5Reply::not_allowed;
        case OpenFailure::no_session:
        case OpenFailure::resource_shortage:
        case OpenFailure::general:
            return Socks5Reply::general_failure;
    }
    return Socks5Reply::general_failure;
}

int http_status_for(OpenFailure failure) {
    switch (failure) {
        case OpenFailure::refused:
        case OpenFailure::unreachable_network:
        case OpenFailure::unreachable_host:
        case OpenFailure::general:
            return 502;
        case OpenFailure::timeout:
            return 504;
        case OpenFailure::denied:
            return 403;
        case OpenFailure::no_session:
        case OpenFailure::resource_shortage:
            return 503;
    }
    return 502;
}

OpenFailure open_failure_from_ssh(uint32_t reason_code, std::string_view description) {
    switch (static_cast<SshOpenReason>(reason_code)) {
        case SshOpenReason::administratively_prohibited:
            return OpenFailure::denied;
        case SshOpenReason::resource_shortage:
            return OpenFailure::resource_shortage;
        case SshOpenReason::unknown_channel_type:
            return OpenFailure::general;
        case SshOpenReason::connect_failed:
            break;
        default:
            break;  // unknown codes: the text is all we have
    }
    return failure_from_description(description);
}

std::optional<SshOpenFailure> parse_libssh_open_failure(std::string_view error) {
    // libssh: "Channel opening failure: channel %d error (%u) %s"
    constexpr std::string_view kPrefix = "Channel opening failure: channel ";
    if (error.substr(0, kPrefix.size()) != kPrefix) return std::nullopt;
    std::string_view rest = error.substr(kPrefix.size());
    const size_t open = rest.find(" error (");
    if (open == std::string_view::npos) return std::nullopt;
    rest.remove_prefix(open + 8);
    const size_t close = rest.find(')');
    if (close == 0 || close == std::string_view::npos || close > 10) return std::nullopt;
    uint64_t code = 0;
    for (char c : rest.substr(0, close)) {
        if (c < '0' || c > '9') return std::nullopt;
        code = code * 10 + static_cast<uint64_t>(c - '0');
    }
    if (code > UINT32_MAX) return std::nullopt;
    rest.remove_prefix(close + 1);
    if (!rest.empty() && rest.front() == ' ') rest.remove_prefix(1);
    constexpr size_t kMaxDescription = 512;  // the peer's text, bound for logs
    rest = rest.substr(0, std::min(rest.find('\n'), kMaxDescription));
    return SshOpenFailure{static_cast<uint32_t>(code), std::string(rest)};
}

}  // namespace ghost::proxy

#pragma once
/// Why a tunnelled connection could not be opened, and how each front door reports it.

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

#include "common/proxy/socks5.hpp"

namespace ghost::proxy {

/// Reason a channel open (direct-tcpip) for a front-door client failed.
enum class OpenFailure {
    refused,              ///< the target answered with RST
    unreachable_network,  ///< no route to the target's network
    unreachable_host,     ///< host unreachable or its name does not resolve
    timeout,              ///< connecting or opening the channel timed out
    denied,               ///< forbidden by policy (ours or the server's)
    no_session,           ///< the SSH session is down or not yet up
    resource_shortage,    ///< a channel/flow limit was hit
    general,              ///< anything else
};

/// Short name for logs, e.g. "connection refused".
std::string_view open_failure_name(OpenFailure failure);

/// The SOCKS5 REP code to send for a failure.
Socks5Reply socks5_reply_for(OpenFailure failure);

/// The HTTP status code to answer a CONNECT with for a failure.
int http_status_for(OpenFailure failure);

/// SSH channel-open failure reasons (RFC 4254 section 5.1).
enum class SshOpenReason : uint32_t {
    administratively_prohibited = 1,
    connect_failed = 2,
    unknown_channel_type = 3,
    resource_shortage = 4,
};

/// Classifies an SSH_MSG_CHANNEL_OPEN_FAILURE from its reason code and the server's
/// description text (e.g. OpenSSH's "Connection refused", "No route to host").
OpenFailure open_failure_from_ssh(uint32_t reason_code, std::string_view description);

/// An SSH_MSG_CHANNEL_OPEN_FAILURE as libssh 0.10 reports it through ssh_get_error():
/// "Channel opening failure: channel 7 error (2) Connection refused".
struct SshOpenFailure {
    uint32_t reason_code = 0;
    std::string description;  // the server's text, possibly empty
};

/// Reads libssh's error text; nullopt when it is not a channel-open failure (a local
/// error, or the session went away).
std::optional<SshOpenFailure> parse_libssh_open_failure(std::string_view error);

}  // namespace ghost::proxy

#include "daemon/proxy/socks_handshake.hpp"

namespace ghost::daemon::proxy {
namespace {

std::string to_string(const std::vector<uint8_t>& bytes) {
    return std::string(bytes.begin(), bytes.end());
}

}  // namespace

HandshakeStep Socks5Handshake::feed(std::span<const uint8_t> input) {
    auto step = server_.feed(input);
    HandshakeStep out;
    out.status = step.status;
    out.consumed = step.consumed;
    out.reply = to_string(step.reply);
    out.error = std::move(step.error);
    if (step.request) {
        out.host = std::move(step.request->host);
        out.port = step.request->port;
    }
    return out;
}

std::string Socks5Handshake::success_reply() const {
    // The bound address is the server's business; 0.0.0.0:0 is what most proxies send.
    return to_string(ghost::proxy::socks5_reply(ghost::proxy::Socks5Reply::succeeded));
}

std::string Socks5Handshake::failure_reply(ghost::proxy::OpenFailure failure,
                                           std::string_view) const {
    return to_string(ghost::proxy::socks5_reply(ghost::proxy::socks5_reply_for(failure)));
}

ghost::proxy::OpenFailure front_door_failure(const OpenOutcome& outcome) {
    using F = ghost::proxy::OpenFailure;
    if (outcome.ssh_reason != 0) {
        return ghost::proxy::open_failure_from_ssh(outcome.ssh_reason, outcome.ssh_description);
    }
    switch (outcome.failure) {
        case OpenFailure::none:
            return F::general;  // not a failure; callers check ok()
        case OpenFailure::refused:
            return F::refused;
        case OpenFailure::unreachable:
            return F::unreachable_host;
        case OpenFailure::timeout:
            return F::timeout;
        case OpenFailure::denied:
            return F::denied;
        case OpenFailure::no_session:
            return F::no_session;
        case OpenFailure::resource_shortage:
            return F::resource_shortage;
        case OpenFailure::general:
            return F::general;
    }
    return F::general;
}

}  // namespace ghost::daemon::proxy

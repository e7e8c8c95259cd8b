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

}  // namespace ghost::daemon::proxy

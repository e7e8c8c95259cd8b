#include "daemon/proxy/http_handshake.hpp"

namespace ghost::daemon::proxy {

HandshakeStep HttpHandshake::feed(std::span<const uint8_t> input) {
    auto step = parser_.feed(input);
    HandshakeStep out;
    out.status = step.status;
    out.consumed = step.consumed;
    out.reply = std::move(step.response);
    if (!step.error.empty()) out.error = std::to_string(step.http_status) + ": " + step.error;
    if (step.request) {
        out.host = std::move(step.request->host);
        out.port = step.request->port;
    }
    return out;
}

std::string HttpHandshake::success_reply() const {
    return ghost::proxy::http_connect_established();
}

std::string HttpHandshake::failure_reply(ghost::proxy::OpenFailure failure,
                                         std::string_view message) const {
    return ghost::proxy::http_error_response(ghost::proxy::http_status_for(failure), message);
}

}  // namespace ghost::daemon::proxy

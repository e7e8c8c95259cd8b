#pragma once
/// HTTP CONNECT handshake (see socks_handshake.hpp for the Handshake interface).

#include <optional>

#include "common/proxy/http_connect.hpp"
#include "daemon/proxy/socks_handshake.hpp"

namespace ghost::daemon::proxy {

/// HTTP CONNECT on top of ghost::proxy::HttpConnectParser.
class HttpHandshake : public Handshake {
  public:
    explicit HttpHandshake(std::optional<ghost::proxy::Credentials> credentials)
        : parser_(std::move(credentials)) {}

    HandshakeStep feed(std::span<const uint8_t> input) override;
    std::string success_reply() const override;
    std::string failure_reply(ghost::proxy::OpenFailure failure,
                              std::string_view message) const override;
    std::string_view protocol() const override { return "http"; }

  private:
    ghost::proxy::HttpConnectParser parser_;
};

}  // namespace ghost::daemon::proxy

#pragma once
/// The protocol half of a front-door connection: turns the client's first bytes into a
/// target, and builds the replies for success and failure. One implementation per
/// protocol (SOCKS5 here, HTTP CONNECT in http_handshake.hpp); the session that drives
/// the socket does not know which one it talks.

#include <cstddef>
#include <cstdint>
#include <optional>
#include <span>
#include <string>
#include <string_view>

#include "common/proxy/credentials.hpp"
#include "common/proxy/open_failure.hpp"
#include "common/proxy/parse_status.hpp"
#include "common/proxy/socks5.hpp"
#include "daemon/ssh/channel_opener.hpp"

namespace ghost::daemon::proxy {

/// Result of feeding bytes to a Handshake.
struct HandshakeStep {
    ghost::proxy::ParseStatus status = ghost::proxy::ParseStatus::need_more;
    /// Bytes of the input taken; when done, the rest is early data for the target.
    std::size_t consumed = 0;
    /// Bytes to send the client now (method choice, auth status, error reply).
    std::string reply;
    /// Target, when done.
    std::string host;
    uint16_t port = 0;
    /// Why, when error.
    std::string error;
};

/// One protocol's handshake on one connection.
class Handshake {
  public:
    virtual ~Handshake() = default;
    /// Parses what arrived; see HandshakeStep.
    virtual HandshakeStep feed(std::span<const uint8_t> input) = 0;
    /// The reply that tells the client the tunnel is open.
    virtual std::string success_reply() const = 0;
    /// The reply for a failed channel open (message is for humans, may be ignored).
    virtual std::string failure_reply(ghost::proxy::OpenFailure failure,
                                      std::string_view message) const = 0;
    /// "socks5" or "http", for logs.
    virtual std::string_view protocol() const = 0;
};

/// SOCKS5 (RFC 1928/1929) on top of ghost::proxy::Socks5Server.
class Socks5Handshake : public Handshake {
  public:
    explicit Socks5Handshake(std::optional<ghost::proxy::Credentials> credentials)
        : server_(std::move(credentials)) {}

    HandshakeStep feed(std::span<const uint8_t> input) override;
    std::string success_reply() const override;
    std::string failure_reply(ghost::proxy::OpenFailure failure,
                              std::string_view message) const override;
    std::string_view protocol() const override { return "socks5"; }

  private:
    ghost::proxy::Socks5Server server_;
};

}  // namespace ghost::daemon::proxy

#pragma once
/// One tcpip-forward (ssh -R) of a server session: a listener bound per permitlisten and
/// gateway_ports; every accepted connection becomes a forwarded-tcpip channel. Closed
/// on cancel-tcpip-forward and when the session ends.

#include <memory>
#include <string>

#include <asio.hpp>

#include "daemon/core/acceptor.hpp"

namespace ghost::daemon::server {

class ServerSession;

class RemoteForward : public std::enable_shared_from_this<RemoteForward> {
  public:
    /// `requested` is the address as the client sent it (echoed in forwarded-tcpip).
    RemoteForward(ServerSession& session, std::string requested, std::string bind_host);
    /// Binds bind_host:port (0 = any free port); false + *why.
    bool bind(uint16_t port, std::string* why);
    /// Starts accepting; each connection goes to the session as a forwarded-tcpip channel.
    void start();
    /// Stops accepting (idempotent).
    void close();

    const std::string& requested() const { return requested_; }
    uint16_t bound_port() const { return bound_port_; }

  private:
    ServerSession& session_;
    std::string requested_;
    std::string bind_host_;
    core::TcpAcceptor acceptor_;
    uint16_t bound_port_ = 0;
};

}  // namespace ghost::daemon::server

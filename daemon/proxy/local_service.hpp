#pragma once
/// A local listener of the client role (-L forward, SOCKS5 / HTTP CONNECT front door).

#include <string>

#include <nlohmann/json.hpp>

namespace ghost::daemon::proxy {

/// A local listener feeding flows into a ssh::ChannelOpener (-L forward, SOCKS5 / HTTP CONNECT
/// front door). Owned by the client profile; lives on the opener's io(). Stays bound
/// while the session reconnects.
class LocalService {
  public:
    virtual ~LocalService() = default;
    /// Binds now; false + *why ("cannot listen on 127.0.0.1:1080: Address in use").
    virtual bool bind(std::string* why) = 0;
    /// Starts accepting.
    virtual void start() = 0;
    /// Stops accepting (idempotent).
    virtual void close() = 0;
    /// Runtime details for profile.status; callable from any thread.
    virtual nlohmann::json status() const = 0;
};

}  // namespace ghost::daemon::proxy

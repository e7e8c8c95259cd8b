#pragma once
/// Server listeners: where SSH connections come from. The seam mirrors the client's
/// Transport (DESIGN.md §2): a listener yields connected byte-stream fds; the SSH layer
/// never knows whether one is a TCP socket or a socketpair end pumped through TLS.

#include <functional>
#include <memory>
#include <string>

#include <asio.hpp>
#include <nlohmann/json.hpp>

#include "common/config/model.hpp"
#include "common/net/endpoint.hpp"
#include "daemon/transport/unique_fd.hpp"

namespace ghost::daemon::server {

/// One accepted connection, ready for SSH.
struct Accepted {
    transport::UniqueFd fd;
    net::IpAddress peer_ip;
    std::string peer;  // "1.2.3.4:5678"
};

/// Accepts connections for one `listen[]` entry.
class Listener {
public:
    using AcceptFn = std::function<void(Accepted)>;
    virtual ~Listener() = default;
    /// Binds now; false + *why ("cannot listen on 127.0.0.1:22: Address already in use").
    virtual bool open(std::string* why) = 0;
    /// Starts accepting; `fn` runs on the listener's io_context.
    virtual void start(AcceptFn fn) = 0;
    /// Stops accepting and closes the socket (idempotent).
    virtual void close() = 0;
    /// The bound endpoint (host as configured, port as bound).
    virtual net::Endpoint bound() const = 0;
    /// "tcp", "tls".
    virtual std::string transport() const = 0;
};

/// Builds the listener for one `listen[]` entry; nullptr + *why when its transport is not
/// built yet.
std::unique_ptr<Listener> make_listener(asio::io_context& io, const config::ListenConfig& cfg,
                                        std::string* why);

}  // namespace ghost::daemon::server

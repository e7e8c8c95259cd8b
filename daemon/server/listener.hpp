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
#include "daemon/core/acceptor.hpp"
#include "daemon/core/log.hpp"
#include "daemon/core/unique_fd.hpp"
#include "daemon/core/worker_pool.hpp"

namespace ghost::daemon::server {

/// One accepted connection, ready for SSH.
struct Accepted {
    core::UniqueFd fd;
    net::IpAddress peer_ip;
    std::string peer;        // "1.2.3.4:5678"
    core::UniqueFd path_fd;  // the TCP socket under `fd` when `fd` is not one (tls)
    /// The worker already serving the connection (tls: its TLS pump runs there), where its
    /// SSH session must run too; nullptr: any worker.
    asio::io_context* worker = nullptr;
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
    /// Re-reads what can change without dropping sessions (certificates, secrets); SIGHUP.
    virtual void reload() {}
    /// Listener-specific status fields (merged into the profile's `listen[]` entry).
    virtual nlohmann::json status() const { return nlohmann::json::object(); }
    /// Fields a client profile needs to reach this listener (merged into `client_snippet`).
    virtual nlohmann::json client_transport() const { return nlohmann::json::object(); }
};

/// What a listener may use besides its config.
struct ListenerContext {
    asio::io_context& control;  // accepts happen here
    WorkerPool& workers;        // per-connection work (TLS, knock, fallback) goes here
    std::string state_dir;      // for generated material (self-signed certificate, secret)
    std::string profile;
    log::Logger log;
};

/// Builds the listener for one `listen[]` entry; nullptr + *why when it cannot be built.
std::unique_ptr<Listener> make_listener(const ListenerContext& ctx, const config::ListenConfig& cfg,
                                        std::string* why);
/// How a listener on `ep` accepts: failures logged as "accept on <ep> failed: ...".
core::AcceptOptions accept_options(const log::Logger& log, const net::Endpoint& ep);
/// The `tls` listener (tls_listener.cpp).
std::unique_ptr<Listener> make_tls_listener(const ListenerContext& ctx,
                                            const config::ListenConfig& cfg);

}  // namespace ghost::daemon::server

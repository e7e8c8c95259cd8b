#pragma once
/// The JSON-RPC 2.0 front door: a world-connectable Unix socket; every request is
/// authorised from SO_PEERCRED (read-only for all, mutating for root and the control group).
/// Limits: clients, request size, idle time, in-flight requests and queued output per client.

#include <chrono>
#include <memory>
#include <set>
#include <string>

#include <asio.hpp>

#include "daemon/control/core_api.hpp"

namespace ghost::daemon {

class RpcConnection;

class RpcServer {
public:
    struct Limits {
        size_t max_clients = 64;
        size_t max_request_bytes = 1 << 20;
        std::chrono::seconds idle_timeout{300};
        size_t max_inflight = 16;            // per client
        size_t max_queued_bytes = 4 << 20;   // per client; a subscriber that stops reading is dropped
    };

    RpcServer(asio::io_context& control, CoreApi& api, std::string socket_path, Limits limits,
              std::string control_group);
    ~RpcServer();

    /// Binds and listens. Refuses when another daemon answers on the path.
    bool start(std::string* error);
    /// Closes the listener and every connection (idempotent).
    void stop();
    /// Re-reads the control group's gid (after reload).
    void set_control_group(std::string group);
    size_t client_count() const { return connections_.size(); }

private:
    friend class RpcConnection;
    void accept();
    void forget(const std::shared_ptr<RpcConnection>& c) { connections_.erase(c); }

    asio::io_context& control_;
    CoreApi& api_;
    std::string path_;
    Limits limits_;
    std::string group_;
    asio::local::stream_protocol::acceptor acceptor_;
    std::set<std::shared_ptr<RpcConnection>> connections_;
    bool stopped_ = false;
};

}  // namespace ghost::daemon

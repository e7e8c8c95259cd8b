#pragma once
/// The JSON-RPC 2.0 front door: a world-connectable Unix socket; every request is
/// authorised from SO_PEERCRED (read-only for all, mutating for root and the control group).
/// Limits: clients in all and per uid with a reserve for root and the control group,
/// subscriptions and requests in flight per uid, request size, idle time, in-flight requests
/// and queued output per client. Events are serialised once and fanned out to subscribers.

#include <chrono>
#include <memory>
#include <optional>
#include <set>
#include <string>
#include <vector>

#include <asio.hpp>

#include "common/rpc/authz.hpp"
#include "common/rpc/slot_pool.hpp"
#include "daemon/control/core_api.hpp"
#include "daemon/core/acceptor.hpp"

namespace ghost::daemon {

class RpcConnection;

class RpcServer {
  public:
    struct Limits {
        size_t max_clients = 64;
        size_t reserved_clients = 16;          // of max_clients: only root and the control group
        size_t max_clients_per_uid = 8;        // connections of one other uid
        size_t max_subscriptions_per_uid = 4;  // events.subscribe of one other uid
        size_t max_requests_per_uid = 32;      // requests in flight of one other uid
        size_t max_request_bytes = 1 << 20;
        std::chrono::seconds idle_timeout{300};
        size_t max_inflight = 16;           // per client
        size_t max_queued_bytes = 4 << 20;  // per client; a client that stops reading is dropped
        size_t max_queued_lines = 4096;     // per client; likewise
    };

    RpcServer(asio::io_context& control, CoreApi& api, std::string socket_path, Limits limits,
              std::string control_group);
    ~RpcServer();

    /// Binds and listens. Refuses when another daemon answers on the path.
    bool start(std::string* error);
    /// Closes the listener and every connection (idempotent).
    void stop();
    /// Sets the control group; its gid is resolved now and used for later connections.
    void set_control_group(std::string group);
    size_t client_count() const { return connections_.size(); }

  private:
    friend class RpcConnection;
    void admit(asio::local::stream_protocol::socket socket);
    void refuse(asio::local::stream_protocol::socket& socket, const std::string& message);
    void note_refusal(const std::string& message);
    void forget(const std::shared_ptr<RpcConnection>& c);
    void broadcast(const nlohmann::json& event);
    /// A request of `uid` finished: connections of that uid paused at its cap may go on.
    void request_done(uid_t uid, bool privileged);

    asio::io_context& control_;
    CoreApi& api_;
    std::string path_;
    Limits limits_;
    std::string group_;
    std::optional<gid_t> control_gid_;
    core::UnixAcceptor acceptor_;
    std::set<std::shared_ptr<RpcConnection>> connections_;
    std::vector<std::shared_ptr<RpcConnection>> subscribers_;
    rpc::SlotPool clients_;
    rpc::SlotPool subscriptions_;
    rpc::SlotPool requests_;
    std::optional<uint64_t> events_;  // our one subscription to the core
    size_t refused_ = 0;              // refusals not yet logged
    std::chrono::steady_clock::time_point refusal_logged_{};
    bool stopped_ = false;
};

}  // namespace ghost::daemon

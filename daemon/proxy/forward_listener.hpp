#pragma once
/// A local forward (ssh -L): listen on a local address and carry every accepted
/// connection to a fixed target through a direct-tcpip channel. The listener stays
/// bound while the session reconnects; connections accepted meanwhile wait (bounded,
/// see ssh::ChannelOpener::open) for the session.

#include <atomic>
#include <memory>
#include <string>

#include <asio.hpp>
#include <nlohmann/json.hpp>

#include "common/config/model.hpp"
#include "daemon/core/acceptor.hpp"
#include "daemon/core/log.hpp"
#include "daemon/proxy/local_service.hpp"
#include "daemon/ssh/channel_opener.hpp"

namespace ghost::daemon::proxy {

/// One -L listener. Create with make_shared; use on opener.io() only (status() is
/// thread-safe).
class ForwardListener : public LocalService, public std::enable_shared_from_this<ForwardListener> {
  public:
    /// Accepted connections allowed to wait for their channel at once; the rest wait in
    /// the listen queue.
    static constexpr size_t kMaxPendingOpens = 256;

    ForwardListener(ssh::ChannelOpener& opener, config::ForwardConfig cfg, log::Logger logger);

    /// Binds the listen address now; false + *why ("cannot listen on ...: in use").
    bool bind(std::string* why) override;
    /// Starts accepting.
    void start() override;
    /// Closes the listener (flows already bridged continue until the session ends).
    void close() override;
    /// {"listen","target","connections","failed"}; callable from any thread.
    nlohmann::json status() const override;
    /// The bound endpoint (useful when the config asked for port 0).
    uint16_t bound_port() const { return bound_port_; }

  private:
    void on_accepted(asio::ip::tcp::socket socket);

    ssh::ChannelOpener& opener_;
    config::ForwardConfig cfg_;
    log::Logger log_;
    core::TcpAcceptor acceptor_;
    std::atomic<uint16_t> bound_port_{0};
    std::atomic<uint64_t> connections_{0};
    std::atomic<uint64_t> failed_{0};
};

}  // namespace ghost::daemon::proxy

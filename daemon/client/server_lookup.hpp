#pragma once
/// Resolves the SSH server's name once, with a deadline. A full tunnel needs the
/// addresses before it takes the default route, since later lookups would go into the
/// tunnel itself. Worker thread only.

#include <chrono>
#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <vector>

#include <asio.hpp>

namespace ghost::daemon::client {

class ServerLookup : public std::enable_shared_from_this<ServerLookup> {
  public:
    /// The addresses (distinct, in the resolver's order), or why there are none.
    using Done = std::function<void(std::string error, std::vector<asio::ip::address>)>;

    explicit ServerLookup(asio::io_context& io);

    /// Looks up host:port; `done` runs once, unless cancel() or another start() comes
    /// first. `timeout` (ssh.connect_timeout) ends the lookup itself: cancelling cannot
    /// interrupt a getaddrinfo that has started, and a black-holed DNS server would hold
    /// it for its own timeouts.
    void start(const std::string& host, uint16_t port, std::chrono::seconds timeout, Done done);
    /// Forgets the lookup in progress: its `done` never runs.
    void cancel();

  private:
    void finish(uint64_t gen, std::string error, std::vector<asio::ip::address> addresses);

    asio::ip::tcp::resolver resolver_;
    asio::steady_timer timer_;
    uint64_t gen_ = 0;  // the lookup whose answer counts
    Done done_;
};

}  // namespace ghost::daemon::client

#pragma once
/// Watches the kernel routing table over NETLINK_ROUTE and reports changes of the
/// default route (sleep/wake, Wi-Fi switch), so a reconnecting client retries at once.

#include <functional>
#include <memory>
#include <string>

#include <asio.hpp>

namespace ghost::daemon::client {

/// Calls `on_change` (on io) whenever an IPv4/IPv6 default route is added or removed.
class RouteWatch : public std::enable_shared_from_this<RouteWatch> {
  public:
    RouteWatch(asio::io_context& io, std::function<void()> on_change);
    /// Opens the netlink socket; false + *why when unavailable (the caller just logs).
    bool start(std::string* why);
    void stop();

  private:
    void wait();
    void on_readable();

    asio::posix::stream_descriptor socket_;
    std::function<void()> on_change_;
};

}  // namespace ghost::daemon::client

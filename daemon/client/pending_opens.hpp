#pragma once
/// Channel-open requests that arrive while the profile's SSH session is not up: kept
/// (bounded) until it is, or until their wait (reconnect.pending_wait) runs out.
/// Worker thread only.

#include <chrono>
#include <cstddef>
#include <deque>
#include <memory>
#include <string>

#include <asio.hpp>

#include "daemon/ssh/channel_opener.hpp"
#include "daemon/ssh/client_session.hpp"

namespace ghost::daemon::client {

class PendingOpens : public std::enable_shared_from_this<PendingOpens> {
  public:
    /// Requests allowed to wait at once.
    static constexpr size_t kMax = 1024;

    /// `expired_message` answers a request whose `wait` ran out.
    PendingOpens(asio::io_context& io, std::chrono::seconds wait, std::string expired_message);

    /// True when kMax requests wait: add() must not be called.
    bool full() const { return waiters_.size() >= kMax; }
    /// Keeps the request until flush(), fail_all() or its deadline.
    void add(ssh::OpenRequest req, ssh::ChannelOpener::OpenCallback cb);
    /// Hands every waiting request to `session` while it is up.
    void flush(const std::shared_ptr<ssh::ClientSession>& session);
    /// Fails every waiting request with `why` (the answers are posted).
    void fail_all(const std::string& why);

  private:
    struct Waiter {
        ssh::OpenRequest req;
        ssh::ChannelOpener::OpenCallback cb;
        std::chrono::steady_clock::time_point deadline;
    };

    /// Fails the requests whose wait ran out and arms the timer for the next one.
    void expire();

    asio::io_context& io_;
    std::chrono::seconds wait_;
    std::string expired_message_;
    asio::steady_timer timer_;
    std::deque<Waiter> waiters_;
};

}  // namespace ghost::daemon::client

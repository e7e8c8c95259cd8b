#pragma once
/// Accepting on a listening socket until it is stopped, without spinning when accept()
/// fails for a lack of resources (EMFILE, ENFILE, ENOBUFS, ENOMEM): those would fail again
/// at once, so the loop waits a moment and the connections wait in the listen queue.

#include <chrono>
#include <functional>

#include <asio.hpp>

namespace ghost::daemon {

/// Accepts on one listening socket, pausing instead of spinning when out of resources.
class AcceptLoop {
  public:
    using Fn = std::function<void(asio::ip::tcp::socket)>;
    /// Called after a failed accept, before the pause (to log it).
    using ErrorFn = std::function<void(const asio::error_code&)>;

    explicit AcceptLoop(asio::ip::tcp::acceptor& acceptor,
                        std::chrono::milliseconds pause = std::chrono::milliseconds(100));
    AcceptLoop(const AcceptLoop&) = delete;
    AcceptLoop& operator=(const AcceptLoop&) = delete;

    /// Accepts until stop(), giving each connection to `fn` on the acceptor's executor.
    void start(Fn fn, ErrorFn on_error = {});
    /// Stops (the owner closes the acceptor); pending handlers return without touching us.
    void stop();

  private:
    void next();
    void pause(const asio::error_code& ec);

    asio::ip::tcp::acceptor& acceptor_;
    asio::steady_timer retry_;
    std::chrono::milliseconds pause_;
    Fn fn_;
    ErrorFn on_error_;
    bool stopped_ = false;
};

}  // namespace ghost::daemon

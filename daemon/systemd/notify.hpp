#pragma once
/// ghostd's side of the systemd service protocol (sd_notify): readiness, status lines,
/// reload/stop announcements and the watchdog keepalive. Without NOTIFY_SOCKET every
/// call is a cheap no-op, so ghostd runs the same in the foreground.

#include <asio.hpp>

#include <chrono>
#include <string_view>

namespace ghost::daemon::notify {

/// True when the service manager gave us a notification socket (NOTIFY_SOCKET is set).
bool enabled();
/// READY=1 plus STATUS=status: the control socket listens and autostart profiles started.
/// Also ends a reload begun with reloading().
void ready(std::string_view status);
/// STATUS=text: a one-line summary shown by `systemctl status`.
void status(std::string_view text);
/// RELOADING=1 (with MONOTONIC_USEC=): a reload began; call ready() when it is done.
void reloading();
/// STOPPING=1: shutdown began.
void stopping();

/// Sends WATCHDOG=1 every half watchdog interval from the given io_context, so a main
/// loop that stops running also stops the pings and systemd restarts the service.
class Watchdog {
  public:
    explicit Watchdog(asio::io_context& io);
    ~Watchdog();
    Watchdog(const Watchdog&) = delete;
    Watchdog& operator=(const Watchdog&) = delete;

    /// Starts pinging when systemd asked for a watchdog (WATCHDOG_USEC=, WATCHDOG_PID=);
    /// returns the interval, or zero when no watchdog is wanted (then nothing runs).
    std::chrono::microseconds start();
    /// Stops pinging (idempotent). Must run on the io_context's thread.
    void stop();

  private:
    void arm();

    asio::steady_timer timer_;
    std::chrono::microseconds interval_{0};
    bool running_ = false;
};

}  // namespace ghost::daemon::notify

#pragma once
/// The receive-window state one SSH session shares between its channels: the settings,
/// the budget their growth comes from, the path RTT that paces growth (TCP_INFO of the
/// TCP socket under the session, re-read at most every 200 ms), the channels whose
/// window grant is due once the current libssh call is over, and the figures status
/// shows. Used on the session's worker; the figures are atomics for the control thread.

#include <atomic>
#include <chrono>
#include <cstdint>
#include <memory>
#include <vector>

#include <nlohmann/json.hpp>

#include "daemon/ssh/window_tuner.hpp"

namespace ghost::daemon::ssh {

class ChannelBridge;

/// What status shows about a session's path and windows (written by its worker).
struct WindowStats {
    std::atomic<int64_t> rtt_us{-1};          // kernel's smoothed RTT; -1 unknown
    std::atomic<int64_t> min_rtt_us{-1};      // kernel's lowest RTT; -1 unknown
    std::atomic<uint32_t> largest_window{0};  // largest target any channel reached
    std::atomic<uint64_t> budget_used{0};
    std::atomic<uint64_t> budget{0};
    /// {"rtt_ms", "min_rtt_ms", "largest_window", "window_budget_used", "window_budget"}
    nlohmann::json to_json() const;
};

class SessionWindows {
  public:
    using Clock = std::chrono::steady_clock;
    SessionWindows(const WindowSettings& s, std::shared_ptr<WindowStats> stats);

    /// The TCP socket whose TCP_INFO gives the RTT (the session fd, or the network socket
    /// under TLS); -1: none (windows then stay at `initial`).
    void set_path_fd(int fd) { path_fd_ = fd; }
    const WindowSettings& settings() const { return settings_; }
    WindowBudget& budget() { return budget_; }
    /// The path's lowest RTT for pacing growth; zero when unknown.
    std::chrono::microseconds rtt(Clock::time_point now);
    /// A channel's target reached `target`: keep the largest and the budget for status.
    void note_target(uint32_t target);
    /// `b` may owe its peer a window grant: ChannelBridge::update_window() after the pump.
    void add_due(std::shared_ptr<ChannelBridge> b);
    /// Runs update_window() for every channel added so far and empties the list.
    void flush();

  private:
    WindowSettings settings_;
    WindowBudget budget_;
    std::shared_ptr<WindowStats> stats_;
    int path_fd_ = -1;
    Clock::time_point rtt_read_{};
    std::chrono::microseconds min_rtt_{0};
    std::vector<std::shared_ptr<ChannelBridge>> due_;
};

}  // namespace ghost::daemon::ssh

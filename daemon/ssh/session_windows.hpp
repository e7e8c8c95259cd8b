#pragma once
/// The receive-window state one SSH session shares between its channels: the settings,
/// the budget their growth comes from, the SSH round-trip time that paces growth (the
/// lowest sample the channels' grants gave in the last 10 to 20 s in which any came,
/// WindowTuner), and
/// the figures status shows, including the kernel's view of the connection (TCP_INFO of
/// the TCP socket under the session, also under TLS; re-read at most every 200 ms).
/// Used on the session's worker; the figures are atomics for the control thread.

#include <atomic>
#include <chrono>
#include <cstdint>
#include <memory>

#include <nlohmann/json.hpp>

#include "daemon/ssh/window_tuner.hpp"

namespace ghost::daemon::ssh {

/// What status shows about a session's path and windows (written by its worker).
struct WindowStats {
    std::atomic<int64_t> rtt_us{-1};          // kernel's smoothed RTT; -1 unknown
    std::atomic<int64_t> min_rtt_us{-1};      // kernel's lowest RTT; -1 unknown
    std::atomic<int64_t> window_rtt_us{-1};   // SSH round trip pacing growth; -1 unknown
    std::atomic<uint32_t> largest_window{0};  // largest target any channel reached
    std::atomic<uint64_t> budget_used{0};
    std::atomic<uint64_t> budget{0};
    /// {"rtt_ms", "min_rtt_ms", "window_rtt_ms", "largest_window", "window_budget_used",
    /// "window_budget"}; unknown times are null.
    nlohmann::json to_json() const;
};

class SessionWindows {
  public:
    using Clock = std::chrono::steady_clock;
    SessionWindows(const WindowSettings& s, std::shared_ptr<WindowStats> stats);

    /// The TCP socket whose TCP_INFO status shows (the session fd, or the network socket
    /// under TLS); -1: none.
    void set_path_fd(int fd) { path_fd_ = fd; }
    const WindowSettings& settings() const { return settings_; }
    WindowBudget& budget() { return budget_; }
    /// A channel measured a round trip (WindowTuner::on_packet).
    void note_rtt_sample(std::chrono::microseconds sample, Clock::time_point now);
    /// The SSH round trip that paces growth; zero until a grant was answered.
    std::chrono::microseconds rtt(Clock::time_point now);
    /// A channel's target is `target`, or growth went back: status figures.
    void note_target(uint32_t target);
    void note_budget() { stats_->budget_used = budget_.used(); }
    /// Re-reads the kernel's RTT figures for status (at most every 200 ms).
    void refresh_path(Clock::time_point now);

  private:
    WindowSettings settings_;
    WindowBudget budget_;
    std::shared_ptr<WindowStats> stats_;
    int path_fd_ = -1;
    Clock::time_point path_read_{};
    // Windowed minimum: the lowest sample of the current and of the previous 10 s.
    std::chrono::microseconds min_now_{0}, min_before_{0};
    Clock::time_point bucket_start_{};
};

}  // namespace ghost::daemon::ssh

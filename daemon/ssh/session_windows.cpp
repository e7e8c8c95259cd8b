#include "daemon/ssh/session_windows.hpp"

#include "daemon/ssh/channel_bridge.hpp"
#include "daemon/ssh/path_rtt.hpp"

namespace ghost::daemon::ssh {
namespace {

constexpr auto kRttRefresh = std::chrono::milliseconds(200);

double to_ms(int64_t us) {
    return static_cast<double>(us) / 1000.0;
}

}  // namespace

nlohmann::json WindowStats::to_json() const {
    int64_t rtt = rtt_us.load(), min = min_rtt_us.load();
    return {{"rtt_ms", rtt < 0 ? nlohmann::json(nullptr) : nlohmann::json(to_ms(rtt))},
            {"min_rtt_ms", min < 0 ? nlohmann::json(nullptr) : nlohmann::json(to_ms(min))},
            {"largest_window", largest_window.load()},
            {"window_budget_used", budget_used.load()},
            {"window_budget", budget.load()}};
}

SessionWindows::SessionWindows(const WindowSettings& s, std::shared_ptr<WindowStats> stats)
    : settings_(s), budget_(s.session_budget), stats_(std::move(stats)) {
    stats_->rtt_us = -1;  // a new session: nothing measured yet
    stats_->min_rtt_us = -1;
    stats_->largest_window = 0;
    stats_->budget_used = 0;
    stats_->budget = s.session_budget;
}

std::chrono::microseconds SessionWindows::rtt(Clock::time_point now) {
    if (now - rtt_read_ < kRttRefresh) return min_rtt_;
    rtt_read_ = now;
    if (auto r = read_path_rtt(path_fd_)) {
        min_rtt_ = r->min;
        stats_->rtt_us = r->smoothed.count();
        stats_->min_rtt_us = r->min.count();
    }
    return min_rtt_;
}

void SessionWindows::note_target(uint32_t target) {
    if (target > stats_->largest_window.load(std::memory_order_relaxed)) {
        stats_->largest_window = target;
    }
    stats_->budget_used = budget_.used();
}

void SessionWindows::add_due(std::shared_ptr<ChannelBridge> b) {
    due_.push_back(std::move(b));
}

void SessionWindows::flush() {
    // update_window() runs libssh's packet loop: channels added meanwhile wait for the
    // next flush.
    auto list = std::move(due_);
    due_.clear();
    for (auto& b : list) b->update_window();
    stats_->budget_used = budget_.used();
}

}  // namespace ghost::daemon::ssh

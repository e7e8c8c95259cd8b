#include "daemon/ssh/session_windows.hpp"

#include "daemon/ssh/path_rtt.hpp"

namespace ghost::daemon::ssh {
namespace {

constexpr auto kPathRefresh = std::chrono::milliseconds(200);
constexpr auto kRttBucket = std::chrono::seconds(10);

nlohmann::json ms_or_null(int64_t us) {
    return us < 0 ? nlohmann::json(nullptr) : nlohmann::json(static_cast<double>(us) / 1000.0);
}

std::chrono::microseconds lower(std::chrono::microseconds a, std::chrono::microseconds b) {
    if (a.count() == 0) return b;
    if (b.count() == 0) return a;
    return std::min(a, b);
}

}  // namespace

nlohmann::json WindowStats::to_json() const {
    return {{"rtt_ms", ms_or_null(rtt_us.load())},
            {"min_rtt_ms", ms_or_null(min_rtt_us.load())},
            {"window_rtt_ms", ms_or_null(window_rtt_us.load())},
            {"largest_window", largest_window.load()},
            {"window_budget_used", budget_used.load()},
            {"window_budget", budget.load()}};
}

SessionWindows::SessionWindows(const WindowSettings& s, std::shared_ptr<WindowStats> stats)
    : settings_(s), budget_(s.session_budget), stats_(std::move(stats)) {
    stats_->rtt_us = -1;  // a new session: nothing measured yet
    stats_->min_rtt_us = -1;
    stats_->window_rtt_us = -1;
    stats_->largest_window = 0;
    stats_->budget_used = 0;
    stats_->budget = s.session_budget;
}

void SessionWindows::note_rtt_sample(std::chrono::microseconds sample, Clock::time_point now) {
    if (sample.count() <= 0) return;
    rtt(now);  // rotates the buckets
    min_now_ = lower(min_now_, sample);
    stats_->window_rtt_us = lower(min_now_, min_before_).count();
}

std::chrono::microseconds SessionWindows::rtt(Clock::time_point now) {
    if (now - bucket_start_ >= kRttBucket) {
        // A path that changed shows within 20 s; a quiet stretch keeps the last estimate.
        if (min_now_.count() > 0) min_before_ = min_now_;
        min_now_ = std::chrono::microseconds{0};
        bucket_start_ = now;
    }
    return lower(min_now_, min_before_);
}

void SessionWindows::note_target(uint32_t target) {
    if (target > stats_->largest_window.load(std::memory_order_relaxed)) {
        stats_->largest_window = target;
    }
    note_budget();
}

void SessionWindows::refresh_path(Clock::time_point now) {
    if (now - path_read_ < kPathRefresh) return;
    path_read_ = now;
    if (auto r = read_path_rtt(path_fd_)) {
        stats_->rtt_us = r->smoothed.count();
        stats_->min_rtt_us = r->min.count();
    }
}

}  // namespace ghost::daemon::ssh

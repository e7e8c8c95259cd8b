#include "daemon/ssh/window_tuner.hpp"

#include <algorithm>

namespace ghost::daemon::ssh {
namespace {

// Grants smaller than this (or an eighth of the target) wait for the next one: fewer
// WINDOW_ADJUST packets, at most an eighth of the window idle.
constexpr uint64_t kMinGrantStep = 64 * 1024;

}  // namespace

uint64_t WindowBudget::take(uint64_t want) {
    uint64_t got = std::min(want, limit_ > used_ ? limit_ - used_ : 0);
    used_ += got;
    return got;
}

void WindowTuner::on_packet(uint64_t bytes, uint64_t left) {
    received_ += bytes;
    // libssh, after the data callback: window + buffered below half its base -> base.
    if (window() + left < kLibsshLow) granted_ = received_ + kLibsshBase;
}

void WindowTuner::on_pulled() {
    // libssh, after a read: window below half its base -> base.
    if (window() < kLibsshLow) granted_ = received_ + kLibsshBase;
}

void WindowTuner::on_delivered(uint64_t bytes, Clock::time_point now, std::chrono::microseconds rtt,
                               const WindowSettings& s, WindowBudget& budget) {
    if (target_ == 0 || rtt.count() <= 0) return;
    if (epoch_ == Clock::time_point{}) epoch_ = now;
    epoch_bytes_ += bytes;
    auto elapsed = std::chrono::duration_cast<std::chrono::microseconds>(now - epoch_);
    if (elapsed < rtt) return;
    // Bytes per round trip over this epoch; window-limited when that fills 3/4 of it.
    double per_rtt = static_cast<double>(epoch_bytes_) * static_cast<double>(rtt.count()) /
                     static_cast<double>(elapsed.count());
    if (per_rtt * 4 >= static_cast<double>(target_) * 3) grow(s, budget);
    epoch_ = now;
    epoch_bytes_ = 0;
}

void WindowTuner::grow(const WindowSettings& s, WindowBudget& budget) {
    uint64_t want = std::min<uint64_t>(s.max, uint64_t{target_} * 2);
    if (want <= target_) return;
    uint64_t got = budget.take(want - target_);
    target_ += static_cast<uint32_t>(got);
    grown_ += got;
}

uint32_t WindowTuner::grant_due(uint64_t unconsumed) const {
    if (target_ == 0 || unconsumed >= target_) return 0;
    uint64_t want = target_ - unconsumed;
    uint64_t have = window();
    if (want <= have) return 0;
    if (want - have < std::max<uint64_t>(target_ / 8, kMinGrantStep)) return 0;
    return static_cast<uint32_t>(want);
}

void WindowTuner::granted(uint32_t count) {
    // grow_window(): the window becomes max(count, base) unless it already is larger.
    uint64_t now = std::max(count, kLibsshBase);
    if (now > window()) granted_ = received_ + now;
}

void WindowTuner::start_at(uint32_t target) {
    target_ = std::max(target_, target);
}

void WindowTuner::release(WindowBudget& budget) {
    budget.give(grown_);
    grown_ = 0;
}

}  // namespace ghost::daemon::ssh

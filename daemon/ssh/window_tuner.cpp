#include "daemon/ssh/window_tuner.hpp"

#include <algorithm>

namespace ghost::daemon::ssh {
namespace {

// Grants smaller than this (or an eighth of the target) wait for the next one: fewer
// WINDOW_ADJUST packets, at most an eighth of the window idle.
constexpr uint64_t kMinGrantStep = 64 * 1024;
// Round trips in a row using under a quarter of the window before it halves.
constexpr unsigned kQuietEpochs = 16;

}  // namespace

uint64_t WindowBudget::take(uint64_t want) {
    uint64_t got = std::min(want, limit_ > used_ ? limit_ - used_ : 0);
    used_ += got;
    return got;
}

std::chrono::microseconds WindowTuner::on_packet(uint64_t bytes, uint64_t left,
                                                 Clock::time_point now) {
    received_ += bytes;
    if (received_ > granted_ + kOverrunSlack) overrun_ = true;  // before libssh tops up
    std::chrono::microseconds sample{0};
    if (sampling_ && received_ > sample_limit_) {
        sampling_ = false;
        sample = std::chrono::duration_cast<std::chrono::microseconds>(now - sample_at_);
    }
    // libssh, after the data callback: window + buffered below half its base -> base.
    if (window() + left < kLibsshLow) raise_to(kLibsshBase, now);
    return sample;
}

void WindowTuner::on_pulled(Clock::time_point now) {
    // libssh, after a read: window below half its base -> base.
    if (window() < kLibsshLow) raise_to(kLibsshBase, now);
}

void WindowTuner::start_sample(Clock::time_point now) {
    if (sampling_) return;  // the running one stays valid: it can only read longer
    sampling_ = true;
    sample_limit_ = granted_;
    sample_at_ = now;
}

void WindowTuner::raise_to(uint64_t count, Clock::time_point now) {
    uint64_t to = std::max<uint64_t>(count, kLibsshBase);
    if (to <= window()) return;
    start_sample(now);
    granted_ = received_ + to;
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
    if (per_rtt * 4 >= static_cast<double>(target_) * 3) {
        grow(s, budget);
        quiet_epochs_ = 0;
    } else if (per_rtt * 4 < static_cast<double>(target_)) {
        // An idle stretch counts as the round trips it lasted.
        uint64_t rounds = static_cast<uint64_t>(elapsed.count() / rtt.count());
        quiet_epochs_ += static_cast<unsigned>(std::min<uint64_t>(rounds, kQuietEpochs));
        if (quiet_epochs_ >= kQuietEpochs) {
            shrink(s, budget);
            quiet_epochs_ = 0;
        }
    } else {
        quiet_epochs_ = 0;
    }
    epoch_ = now;
    epoch_bytes_ = 0;
}

void WindowTuner::shrink(const WindowSettings& s, WindowBudget& budget) {
    uint32_t to = std::max(s.initial, target_ / 2);
    if (to >= target_) return;
    uint64_t back = std::min<uint64_t>(grown_, target_ - to);
    budget.give(back);
    grown_ -= back;
    target_ = to;
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

void WindowTuner::granted(uint32_t count, Clock::time_point now) {
    // grow_window(): the window becomes max(count, base) unless it already is larger.
    raise_to(count, now);
}

void WindowTuner::start_at(uint32_t target) {
    target_ = std::max(target_, target);
}

void WindowTuner::release(WindowBudget& budget) {
    budget.give(grown_);
    grown_ = 0;
}

}  // namespace ghost::daemon::ssh

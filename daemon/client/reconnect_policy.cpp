#include "daemon/client/reconnect_policy.hpp"

#include <algorithm>

namespace ghost::daemon::client {

ReconnectPolicy::ReconnectPolicy(config::ReconnectConfig cfg, bool retry_first_attempt)
    : cfg_(cfg), retry_first_attempt_(retry_first_attempt) {}

bool ReconnectPolicy::should_retry(const ssh::SessionEnd& end) const {
    return !end.fatal && cfg_.enabled && (ever_up_ || retry_first_attempt_);
}

std::chrono::milliseconds ReconnectPolicy::next_delay() {
    double base = std::max<uint32_t>(1, cfg_.initial_delay_s) * 1000.0;
    double cap = std::max<uint32_t>(cfg_.max_delay_s, 1) * 1000.0;
    double d = std::min(cap, base * static_cast<double>(1ull << std::min(attempt_, 20u)));
    std::uniform_real_distribution<double> jitter(0.8, 1.2);
    ++attempt_;
    return std::chrono::milliseconds(static_cast<int64_t>(std::min(cap, d * jitter(rng_))));
}

void ReconnectPolicy::connected() {
    attempt_ = 0;
    ever_up_ = true;
}

}  // namespace ghost::daemon::client

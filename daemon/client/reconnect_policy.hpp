#pragma once
/// When a client profile tries again after its session ended: whether at all, and after
/// how long (exponential backoff from reconnect.initial_delay to reconnect.max_delay,
/// with ±20 % jitter). Worker thread only.

#include <chrono>
#include <random>

#include "common/config/model.hpp"
#include "daemon/ssh/client_session.hpp"

namespace ghost::daemon::client {

class ReconnectPolicy {
  public:
    /// `retry_first_attempt`: a passing failure of the very first connection is retried
    /// too (autostart at boot), instead of failing the profile.
    ReconnectPolicy(config::ReconnectConfig cfg, bool retry_first_attempt);

    /// Whether a session that ended this way is tried again (else the profile fails).
    bool should_retry(const ssh::SessionEnd& end) const;
    /// The delay before the next attempt, which it counts.
    std::chrono::milliseconds next_delay();
    /// The session came up: the next loss starts again from the first delay.
    void connected();
    /// Attempts since the session was last up.
    unsigned attempt() const { return attempt_; }

  private:
    config::ReconnectConfig cfg_;
    bool retry_first_attempt_;
    unsigned attempt_ = 0;
    bool ever_up_ = false;
    std::mt19937 rng_{std::random_device{}()};
};

}  // namespace ghost::daemon::client

#pragma once
/// The periodic "stats" events: each running profile's byte counters, published when
/// they moved. Control thread only.

#include <chrono>
#include <cstdint>
#include <functional>
#include <optional>
#include <string>

#include <asio.hpp>
#include <nlohmann/json.hpp>

namespace ghost::daemon {

/// One profile's byte counters as last published.
class ByteCounters {
  public:
    /// The "stats" event for profile `name` when the counters in `runner_status` differ
    /// from the last ones returned; nullopt when they did not move.
    std::optional<nlohmann::json> event_if_moved(const std::string& name,
                                                 const nlohmann::json& runner_status);

  private:
    uint64_t in_ = 0, out_ = 0;
};

/// Calls `tick` every interval until stop().
class StatsTimer {
  public:
    static constexpr std::chrono::seconds kInterval{5};

    StatsTimer(asio::io_context& io, std::function<void()> tick);
    void start();
    /// No tick after this.
    void stop();

  private:
    asio::steady_timer timer_;
    std::function<void()> tick_;
    bool stopped_ = false;
};

}  // namespace ghost::daemon

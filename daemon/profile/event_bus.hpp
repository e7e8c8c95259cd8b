#pragma once
/// The profile event stream: state changes, profile added/removed/changed, hook results,
/// session events and stats, fanned out to every subscriber. Control thread only.

#include <cstdint>
#include <functional>
#include <map>

#include <nlohmann/json.hpp>

namespace ghost::daemon {

/// Receives one event.
using EventSink = std::function<void(const nlohmann::json& event)>;

/// Seconds since the epoch, as events and status report times.
int64_t unix_now();

/// Subscribers and the one publish() that reaches them.
class EventBus {
  public:
    /// Adds a subscriber; returns its id for unsubscribe().
    uint64_t subscribe(EventSink sink);
    void unsubscribe(uint64_t id);
    /// Sends `event` (with "time" added) to every subscriber; a sink may unsubscribe
    /// itself or others while this runs.
    void publish(nlohmann::json event);

  private:
    std::map<uint64_t, EventSink> sinks_;
    uint64_t next_id_ = 1;
};

}  // namespace ghost::daemon

#include "daemon/profile/event_bus.hpp"

#include <chrono>

namespace ghost::daemon {

int64_t unix_now() {
    return std::chrono::duration_cast<std::chrono::seconds>(
               std::chrono::system_clock::now().time_since_epoch())
        .count();
}

uint64_t EventBus::subscribe(EventSink sink) {
    uint64_t id = next_id_++;
    sinks_[id] = std::move(sink);
    return id;
}

void EventBus::unsubscribe(uint64_t id) {
    sinks_.erase(id);
}

void EventBus::publish(nlohmann::json event) {
    event["time"] = unix_now();
    auto sinks = sinks_;  // a sink may unsubscribe while we iterate
    for (auto& [id, sink] : sinks)
        if (sinks_.count(id)) sink(event);
}

}  // namespace ghost::daemon

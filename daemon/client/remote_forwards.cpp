#include "daemon/client/remote_forwards.hpp"

namespace ghost::daemon::client {

std::string_view to_string(RemoteForwards::State s) {
    switch (s) {
        case RemoteForwards::State::pending:
            return "pending";
        case RemoteForwards::State::requesting:
            return "requesting";
        case RemoteForwards::State::listening:
            return "listening";
        case RemoteForwards::State::refused:
            return "refused";
    }
    return "unknown";
}

RemoteForwards::RemoteForwards(const std::vector<config::RemoteForwardConfig>& forwards) {
    for (const auto& rf : forwards) forwards_.push_back({rf, 0, State::pending, {}});
}

config::RemoteForwardConfig RemoteForwards::requesting(size_t i) {
    forwards_[i].state = State::requesting;
    return forwards_[i].cfg;
}

config::RemoteForwardConfig RemoteForwards::answered(size_t i, bool ok, int bound,
                                                     const std::string& message) {
    auto& rf = forwards_[i];
    rf.state = ok ? State::listening : State::refused;
    rf.bound_port = ok ? bound : 0;
    rf.message = message;
    return rf.cfg;
}

void RemoteForwards::reset() {
    for (auto& rf : forwards_) {
        rf.state = State::pending;
        rf.bound_port = 0;
    }
}

std::optional<net::Endpoint> RemoteForwards::target(const std::string& addr, int port) const {
    for (const auto& rf : forwards_) {
        if (rf.state == State::listening && rf.bound_port == port) return rf.cfg.target;
    }
    for (const auto& rf : forwards_) {  // answer raced ahead of the reply
        if (rf.cfg.listen.port == port &&
            (rf.cfg.listen.host.empty() || rf.cfg.listen.host == addr)) {
            return rf.cfg.target;
        }
    }
    return std::nullopt;
}

nlohmann::json RemoteForwards::to_json() const {
    nlohmann::json out = nlohmann::json::array();
    for (const auto& rf : forwards_) {
        out.push_back({{"listen", rf.cfg.listen.str()},
                       {"bound_port", rf.bound_port},
                       {"target", rf.cfg.target.str()},
                       {"state", to_string(rf.state)},
                       {"message", rf.message}});
    }
    return out;
}

}  // namespace ghost::daemon::client

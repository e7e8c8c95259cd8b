#pragma once
/// The -R forwards of a client profile: what the server was asked and what it answered,
/// and the local target of a channel it opens. Lives on the client's worker thread
/// (status reads it there when it publishes).

#include <cstddef>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include <nlohmann/json.hpp>

#include "common/config/model.hpp"

namespace ghost::daemon::client {

class RemoteForwards {
  public:
    /// Where one forward stands with the current session.
    enum class State { pending, requesting, listening, refused };

    explicit RemoteForwards(const std::vector<config::RemoteForwardConfig>& forwards);

    size_t size() const { return forwards_.size(); }
    /// Marks forward `i` as asked for; returns its configuration.
    config::RemoteForwardConfig requesting(size_t i);
    /// Records the server's answer to forward `i` (`bound`: the port it listens on);
    /// returns its configuration.
    config::RemoteForwardConfig answered(size_t i, bool ok, int bound, const std::string& message);
    /// The session ended: every forward waits for the next one.
    void reset();
    /// The local target for a channel the server opened to addr:port; nullopt when no
    /// forward listens there.
    std::optional<net::Endpoint> target(const std::string& addr, int port) const;
    /// [{listen, bound_port, target, state, message}], for status.
    nlohmann::json to_json() const;

  private:
    struct Forward {
        config::RemoteForwardConfig cfg;
        int bound_port = 0;
        State state = State::pending;
        std::string message;
    };

    std::vector<Forward> forwards_;
};

/// "pending", "requesting", "listening", "refused" (as status shows them).
std::string_view to_string(RemoteForwards::State s);

}  // namespace ghost::daemon::client

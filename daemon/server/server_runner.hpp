#pragma once
/// The server role's Runner (DESIGN.md §9): listeners on the control thread, sessions
/// spread over the workers, sessions()/kick()/reload() for the control plane.

#include <memory>

#include "daemon/core/runner.hpp"

namespace ghost::daemon {

/// Builds the runner of a server profile.
std::unique_ptr<Runner> make_server_runner(RunnerContext ctx);

}  // namespace ghost::daemon

#pragma once
/// Picks the data plane for a profile: the client or the server runner (core/runner.hpp).

#include <memory>
#include <string>
#include <vector>

#include "daemon/core/runner.hpp"

namespace ghost::daemon {

/// Builds the runner for a profile's role.
std::unique_ptr<Runner> make_runner(RunnerContext ctx);

/// Feature names (schema `feature` column) this build implements.
const std::vector<std::string>& supported_features();

}  // namespace ghost::daemon

#pragma once
/// Runner for client profiles: transport -> SSH session -> local services
/// (-L forwards, -R forwards; SOCKS/HTTP front doors use the ChannelOpener).
/// States (DESIGN.md §5): connecting -> authenticating -> up, reconnecting with
/// backoff after a lost session, failed on host-key mismatch / auth rejection.

#include <memory>

#include "daemon/core/runner.hpp"

namespace ghost::daemon {

/// Builds the runner of a client-role profile.
std::unique_ptr<Runner> make_client_runner(RunnerContext ctx);

}  // namespace ghost::daemon

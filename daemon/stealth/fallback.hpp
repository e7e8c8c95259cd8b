#pragma once
/// What a connection without a valid knock gets (DESIGN.md §10): the built-in responder
/// that answers like stock nginx serving 404s (NginxMimic), or a relay to the configured
/// upstream web server. Either way nothing tells a prober that SSH lives here.

#include <functional>
#include <memory>
#include <optional>
#include <string>

#include "common/net/endpoint.hpp"
#include "common/stealth/nginx_mimic.hpp"
#include "daemon/transport/net_stream.hpp"

namespace ghost::daemon::stealth {

using ghost::stealth::NginxMimic;

/// Answers `net` as nginx would, starting with the bytes already received. `plain_on_tls`:
/// this is a TLS port and the client did not start TLS. `on_end` runs once when the
/// connection is closed.
void serve_builtin(std::shared_ptr<transport::NetStream> net, std::string received,
                   NginxMimic::Port port, bool plain_on_tls, NginxMimic::Clock::time_point accepted,
                   std::function<void()> on_end);

/// Relays `net` to the web server at `upstream` (plain HTTP), sending `received` first.
/// When the upstream cannot be reached within `connect_timeout`, the built-in responder
/// answers instead.
void serve_upstream(std::shared_ptr<transport::NetStream> net, std::string received,
                    const net::Endpoint& upstream, std::chrono::milliseconds connect_timeout,
                    NginxMimic::Clock::time_point accepted, std::function<void()> on_end);

}  // namespace ghost::daemon::stealth

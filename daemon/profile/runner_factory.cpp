#include "daemon/profile/runner_factory.hpp"

#include "daemon/client/client_runner.hpp"
#include "daemon/server/server_runner.hpp"

namespace ghost::daemon {

std::unique_ptr<Runner> make_runner(RunnerContext ctx) {
    if (ctx.profile.role == config::Role::client) return make_client_runner(std::move(ctx));
    return make_server_runner(std::move(ctx));
}

const std::vector<std::string>& supported_features() {
    // Grows as data-plane pieces land; the schema tags every key with one of these names.
    static const std::vector<std::string> kFeatures = {
        "ssh",      "forward", "remote_forward", "socks5", "http_connect", "server", "acl",
        "outbound", "tun",     "hooks",          "tls",    "udp"};
    return kFeatures;
}

}  // namespace ghost::daemon

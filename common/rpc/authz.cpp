#include "common/rpc/authz.hpp"

#include <algorithm>

namespace ghost::rpc {

Decision authorize(const Caller& caller, bool mutating, std::optional<gid_t> control_gid) {
    if (!mutating) return Decision::allow;
    if (caller.uid == 0) return Decision::allow;
    if (!control_gid) return Decision::deny;
    if (caller.gid == *control_gid) return Decision::allow;
    bool member = std::find(caller.groups.begin(), caller.groups.end(), *control_gid) !=
                  caller.groups.end();
    return member ? Decision::allow : Decision::deny;
}

std::string denial_message(const std::string& method, const std::string& group,
                           const std::string& user) {
    return "permission denied: " + method + " changes state; run as root or add " + user +
           " to group " + group + " (sudo usermod -aG " + group + " " + user +
           ", then log in again)";
}

}  // namespace ghost::rpc

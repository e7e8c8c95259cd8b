#include "common/rpc/authz.hpp"

#include <algorithm>

namespace ghost::rpc {

bool privileged(const Caller& caller, std::optional<gid_t> control_gid) {
    if (caller.uid == 0) return true;
    if (!control_gid) return false;
    if (caller.gid == *control_gid) return true;
    return std::find(caller.groups.begin(), caller.groups.end(), *control_gid) !=
           caller.groups.end();
}

Decision authorize(const Caller& caller, bool mutating, std::optional<gid_t> control_gid) {
    if (!mutating || privileged(caller, control_gid)) return Decision::allow;
    return Decision::deny;
}

std::string denial_message(const std::string& method, const std::string& group,
                           const std::string& user) {
    return "permission denied: " + method + " changes state; run as root or add " + user +
           " to group " + group + " (sudo usermod -aG " + group + " " + user +
           ", then log in again)";
}

}  // namespace ghost::rpc

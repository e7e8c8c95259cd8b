#pragma once
/// Authorisation decisions for the control socket (DESIGN.md §4): read-only methods for
/// everyone, mutating methods for root and members of the control group.

#include <sys/types.h>

#include <optional>
#include <string>
#include <vector>

namespace ghost::rpc {

/// Who is calling, from SO_PEERCRED plus the user's group list.
struct Caller {
    uid_t uid = static_cast<uid_t>(-1);
    gid_t gid = static_cast<gid_t>(-1);
    pid_t pid = 0;
    std::vector<gid_t> groups;  // supplementary groups of the calling process
};

enum class Decision { allow, deny };

/// True for root and members of the control group: they may call mutating methods and
/// take the control socket's and D-Bus's reserved slots. The only notion of privilege.
bool privileged(const Caller& caller, std::optional<gid_t> control_gid);

/// Decides whether `caller` may call a method. `control_gid` is the gid of the control
/// group (nullopt when the group does not exist: then only root may mutate).
Decision authorize(const Caller& caller, bool mutating, std::optional<gid_t> control_gid);

/// The message for a denied call: "permission denied: METHOD changes state; run as root or
/// add user to group GROUP (sudo usermod -aG GROUP USER, then log in again)".
std::string denial_message(const std::string& method, const std::string& group,
                           const std::string& user);

}  // namespace ghost::rpc

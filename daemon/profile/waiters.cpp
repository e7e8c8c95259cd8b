#include "daemon/profile/waiters.hpp"

namespace ghost::daemon {

void Waiters::add(const std::string& name, ProfileReply reply) {
    if (replies_.size() >= kMax) {
        return reply(ProfileResult::fail(ProfileFailure::invalid_state,
                                         "too many clients waiting for '" + name + "'"));
    }
    replies_.push_back(std::move(reply));
}

void Waiters::answer_all(const ProfileResult& r) {
    for (auto& reply : std::exchange(replies_, {})) reply(r);
}

}  // namespace ghost::daemon

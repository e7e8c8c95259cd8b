#pragma once
/// Replies waiting for a profile to get somewhere (up, or down): bounded, answered
/// together. Control thread only.

#include <cstddef>
#include <string>
#include <utility>
#include <vector>

#include "daemon/profile/profile_result.hpp"

namespace ghost::daemon {

class Waiters {
  public:
    /// Callers one profile may keep waiting at once.
    static constexpr size_t kMax = 64;

    /// Keeps `reply` until answer_all(), or answers it at once (invalid_state) when kMax
    /// callers already wait for profile `name`.
    void add(const std::string& name, ProfileReply reply);
    bool empty() const { return replies_.empty(); }
    /// Answers every waiting reply with `r` and forgets them.
    void answer_all(const ProfileResult& r);
    /// Hands over the waiting replies without answering them.
    std::vector<ProfileReply> take() { return std::exchange(replies_, {}); }
    /// Puts back what take() returned.
    void restore(std::vector<ProfileReply> replies) { replies_ = std::move(replies); }

  private:
    std::vector<ProfileReply> replies_;
};

}  // namespace ghost::daemon

#include "common/rpc/slot_pool.hpp"

namespace ghost::rpc {

size_t SlotPool::unprivileged_share() const {
    return limits_.reserved >= limits_.total ? 0 : limits_.total - limits_.reserved;
}

size_t SlotPool::held_by(uid_t uid) const {
    auto it = per_uid_.find(uid);
    return it == per_uid_.end() ? 0 : it->second;
}

SlotPool::Verdict SlotPool::check(uid_t uid, bool privileged) const {
    if (in_use_ >= limits_.total) return Verdict::total;
    if (privileged) return Verdict::granted;
    if (unprivileged_ >= unprivileged_share()) return Verdict::unprivileged_share;
    if (held_by(uid) >= limits_.per_uid) return Verdict::per_uid;
    return Verdict::granted;
}

SlotPool::Verdict SlotPool::acquire(uid_t uid, bool privileged) {
    Verdict v = check(uid, privileged);
    if (v != Verdict::granted) return v;
    ++in_use_;
    if (!privileged) {
        ++unprivileged_;
        ++per_uid_[uid];
    }
    return v;
}

void SlotPool::release(uid_t uid, bool privileged) {
    if (in_use_ > 0) --in_use_;
    if (privileged) return;
    if (unprivileged_ > 0) --unprivileged_;
    auto it = per_uid_.find(uid);
    if (it != per_uid_.end() && --it->second == 0) per_uid_.erase(it);
}

std::string SlotPool::refusal(Verdict verdict, const std::string& what, uid_t uid) const {
    const std::string who = "uid " + std::to_string(uid);
    switch (verdict) {
        case Verdict::granted:
            return {};
        case Verdict::total:
            return "too many " + what + " (limit " + std::to_string(limits_.total) +
                   " in all); try again later";
        case Verdict::unprivileged_share:
            return "too many " + what + " from users outside the control group (limit " +
                   std::to_string(unprivileged_share()) + "; " + std::to_string(limits_.reserved) +
                   " more are kept for root and the control group); try again later";
        case Verdict::per_uid:
            return "too many " + what + " for " + who + " (limit " +
                   std::to_string(limits_.per_uid) + " per user); close some and try again";
    }
    return {};
}

}  // namespace ghost::rpc

#pragma once
/// Admission to one resource of the control plane that local users share (control
/// connections, event subscriptions, requests in flight, D-Bus calls): a total, a reserve
/// only privileged callers (rpc::privileged: root and the control group) may take, and a cap
/// per uid for everyone else. So no unprivileged user can take what root needs to act.

#include <sys/types.h>

#include <cstddef>
#include <limits>
#include <string>
#include <unordered_map>

namespace ghost::rpc {

class SlotPool {
  public:
    static constexpr size_t kUnlimited = std::numeric_limits<size_t>::max();

    struct Limits {
        size_t total = kUnlimited;    // slots for everyone together
        size_t reserved = 0;          // of `total`, kept for privileged callers
        size_t per_uid = kUnlimited;  // slots one unprivileged uid may hold
    };

    /// Which limit refused a slot (or none).
    enum class Verdict { granted, total, unprivileged_share, per_uid };

    explicit SlotPool(Limits limits) : limits_(limits) {}

    /// Whether a slot for `uid` would be granted now; takes nothing.
    Verdict check(uid_t uid, bool privileged) const;
    /// Takes a slot, or takes nothing and says which limit refused it.
    Verdict acquire(uid_t uid, bool privileged);
    /// Gives back a slot acquired with the same uid and privilege.
    void release(uid_t uid, bool privileged);

    size_t in_use() const { return in_use_; }
    size_t unprivileged_in_use() const { return unprivileged_; }
    /// Slots held by unprivileged callers with this uid.
    size_t held_by(uid_t uid) const;
    /// Distinct unprivileged uids holding slots (the size of the per-uid table).
    size_t uids() const { return per_uid_.size(); }
    const Limits& limits() const { return limits_; }

    /// Slots unprivileged callers may hold together: total minus the reserve.
    size_t unprivileged_share() const;

    /// The refusal, naming the limit: "too many WHAT for uid 65534 (limit 8 per user)".
    std::string refusal(Verdict verdict, const std::string& what, uid_t uid) const;

  private:
    Limits limits_;
    size_t in_use_ = 0;
    size_t unprivileged_ = 0;
    std::unordered_map<uid_t, size_t> per_uid_;  // unprivileged holders only; no zero entries
};

}  // namespace ghost::rpc

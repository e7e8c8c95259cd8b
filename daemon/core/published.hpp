#pragma once
/// Status figures one thread owns and publishes for others to read: the owner set()s a
/// fresh copy when something changed, readers get() the last copy and never touch the
/// live object (so nothing the owner works on needs locks or atomics to be shown).

#include <mutex>
#include <utility>

namespace ghost::daemon::core {

template <class T>
class Published {
  public:
    /// Owner thread: replaces what readers see.
    void set(T value) {
        std::lock_guard lock(mu_);
        value_ = std::move(value);
    }
    /// Any thread: a copy of the last value set (T{} before the first).
    T get() const {
        std::lock_guard lock(mu_);
        return value_;
    }

  private:
    mutable std::mutex mu_;
    T value_{};
};

}  // namespace ghost::daemon::core

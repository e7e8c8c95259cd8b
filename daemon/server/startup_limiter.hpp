#pragma once
/// MaxStartups-style admission of unauthenticated connections (DESIGN.md §9): a cap per
/// source address, a total cap, and random early drop between half and all of the total
/// cap, so a flood of stalled pre-auth connections cannot starve real clients.
/// Thread-safe: sessions on every worker release their slot.

#include <cstddef>
#include <map>
#include <memory>
#include <mutex>
#include <random>
#include <string>

#include "common/net/endpoint.hpp"

namespace ghost::daemon::server {

class StartupLimiter;

/// An admitted unauthenticated connection; releases its slot when destroyed or released.
class StartupSlot {
public:
    StartupSlot() = default;
    StartupSlot(std::shared_ptr<StartupLimiter> owner, net::IpAddress source);
    StartupSlot(StartupSlot&& o) noexcept;
    StartupSlot& operator=(StartupSlot&& o) noexcept;
    ~StartupSlot() { release(); }
    /// Gives the slot back (authenticated or gone); idempotent.
    void release();

private:
    std::shared_ptr<StartupLimiter> owner_;
    net::IpAddress source_;
};

class StartupLimiter : public std::enable_shared_from_this<StartupLimiter> {
public:
    StartupLimiter(size_t per_source, size_t total);
    /// Admits a new connection from `source`, or returns false with *why.
    bool admit(const net::IpAddress& source, StartupSlot* slot, std::string* why);
    /// Unauthenticated connections now.
    size_t total() const;

private:
    friend class StartupSlot;
    void give_back(const net::IpAddress& source);

    size_t per_source_;
    size_t total_cap_;
    mutable std::mutex mu_;
    std::map<std::array<uint8_t, 17>, size_t> by_source_;
    size_t total_ = 0;
    std::mt19937 rng_{std::random_device{}()};
};

}  // namespace ghost::daemon::server

#pragma once
/// Admission of unauthenticated connections (DESIGN.md §9), so a flood of stalled
/// pre-auth connections cannot starve real clients: sources under a penalty are refused
/// (source_penalties.hpp), each source netblock may hold limits.max_startups connections,
/// and at limits.max_startups_total a new connection evicts the oldest unauthenticated
/// one instead of being refused. Each admitted connection holds a StartupSlot and gives
/// it back with how it ended; that outcome is what penalises its source.
/// Thread-safe: admission runs on the control thread, slots are released on any worker.

#include <array>
#include <cstddef>
#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <string>

#include <asio.hpp>
#include <nlohmann/json.hpp>

#include "common/config/model.hpp"
#include "common/net/endpoint.hpp"
#include "daemon/server/source_penalties.hpp"

namespace ghost::daemon::server {

class StartupLimiter;
struct StartupEntry;

/// An admitted unauthenticated connection; released with an outcome, or on destruction.
class StartupSlot {
  public:
    StartupSlot() = default;
    StartupSlot(std::shared_ptr<StartupLimiter> owner, std::shared_ptr<StartupEntry> entry);
    StartupSlot(StartupSlot&& o) noexcept = default;
    StartupSlot& operator=(StartupSlot&& o) noexcept;
    ~StartupSlot() { release(); }

    /// Posts `fn` to `io` when this connection is evicted to make room (at once if it
    /// already was); `fn` closes the connection.
    void on_evict(asio::io_context& io, std::function<void()> fn);
    /// Records how the connection is going (auth_failed), used by a plain release().
    void note(PreauthOutcome o);
    /// Gives the slot back with how the connection ended; idempotent.
    void release(PreauthOutcome o);
    /// Gives the slot back with the noted outcome, else `closed`; idempotent.
    void release();

  private:
    std::shared_ptr<StartupLimiter> owner_;
    std::shared_ptr<StartupEntry> entry_;
};

/// The admission books of one server profile: who holds a pre-auth slot, and penalties.
class StartupLimiter : public std::enable_shared_from_this<StartupLimiter> {
  public:
    using Clock = SourcePenalties::Clock;
    /// Called (outside the lock, on any thread) when a source's penalty becomes active.
    using PenaltyFn = std::function<void(const SourcePenalties::Started&)>;

    StartupLimiter(const config::LimitsConfig& limits, PenaltyFn on_penalty);

    /// Admits a connection from `source` (evicting the oldest one at the total cap), or
    /// returns false with *why naming the limit.
    bool admit(const net::IpAddress& source, StartupSlot* slot, std::string* why);
    /// Unauthenticated connections now.
    size_t total() const;
    /// Stops charging penalties (the profile is stopping; its connections are aborted).
    void close();
    /// Counts, outcomes and penalties, for profile.status.
    nlohmann::json status() const;

  private:
    friend class StartupSlot;
    void finish(const std::shared_ptr<StartupEntry>& e, PreauthOutcome o);
    std::function<void()> evict_oldest(std::optional<SourcePenalties::Started>* started);
    void settle(StartupEntry& e, PreauthOutcome o,
                std::optional<SourcePenalties::Started>* started);
    net::Cidr block_of(const net::IpAddress& ip) const;

    const size_t per_source_;
    const size_t total_cap_;
    const unsigned netblock_v4_;
    const unsigned netblock_v6_;
    const PenaltyFn on_penalty_;

    mutable std::mutex mu_;
    SourcePenalties penalties_;
    std::map<uint64_t, std::shared_ptr<StartupEntry>> by_age_;  // admission order
    std::map<net::Cidr, size_t> by_source_;
    uint64_t next_seq_ = 0;
    bool closed_ = false;
    size_t peak_ = 0;
    uint64_t admitted_ = 0, refused_penalised_ = 0, refused_per_source_ = 0;
    std::array<uint64_t, kPreauthOutcomes> outcomes_{};
};

}  // namespace ghost::daemon::server

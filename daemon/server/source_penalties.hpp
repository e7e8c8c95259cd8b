#pragma once
/// Per-source penalties (limits.penalties), after OpenSSH 9.8's PerSourcePenalties: each
/// unauthenticated connection that ends badly charges its source netblock some seconds;
/// once more than `min` seconds are outstanding, new connections from that netblock are
/// refused until the charge runs out. Charges add up to at most `max`. At most
/// `max_sources` netblocks are tracked per address family; when full, "permissive" forgets
/// the soonest-expiring entry and "deny-all" refuses every non-exempt source instead.
/// Not thread-safe (the StartupLimiter owns one under its lock); time is passed in.

#include <array>
#include <chrono>
#include <cstdint>
#include <map>
#include <optional>
#include <set>
#include <string>
#include <string_view>
#include <utility>

#include <nlohmann/json.hpp>

#include "common/config/model.hpp"
#include "common/net/endpoint.hpp"

namespace ghost::daemon::server {

/// How an unauthenticated connection ended; ServerSession reports it, penalties follow.
enum class PreauthOutcome : uint8_t {
    authenticated,   // logged in: no charge
    auth_failed,     // ended after a refused key
    grace_expired,   // no login within limits.login_grace_time
    protocol_error,  // the key exchange failed while the client was still there
    closed,          // the client left without logging in
    evicted,         // closed to make room for a newer connection (oldest first)
    aborted,         // the server's doing (shutdown, out of descriptors, max_sessions): no charge
};
inline constexpr size_t kPreauthOutcomes = 7;

/// "auth_failed", "grace_expired", ...
std::string_view to_string(PreauthOutcome o);

/// The penalty table of one server profile (see above).
class SourcePenalties {
  public:
    using Clock = std::chrono::steady_clock;

    /// A penalty that just became active (to log and publish).
    struct Started {
        net::Cidr source;
        std::chrono::seconds duration;
        PreauthOutcome reason;
    };

    explicit SourcePenalties(config::PenaltyConfig cfg) : cfg_(std::move(cfg)) {}

    /// True when `ip` is in limits.penalties.exempt.
    bool exempt(const net::IpAddress& ip) const;
    /// May a new connection from `ip` (netblock `block`) proceed? false + *why if not.
    bool allows(const net::IpAddress& ip, const net::Cidr& block, Clock::time_point now,
                std::string* why);
    /// Charges `block` for `outcome`; returns the penalty when this charge activated it.
    std::optional<Started> charge(const net::IpAddress& ip, const net::Cidr& block,
                                  PreauthOutcome outcome, Clock::time_point now);
    /// Netblocks tracked (active or still below `min`).
    size_t tracked() const { return tables_[0].by_block.size() + tables_[1].by_block.size(); }
    /// Counters, and the `list_max` longest active penalties.
    nlohmann::json status(Clock::time_point now, size_t list_max) const;

  private:
    struct Entry {
        Clock::time_point expiry;
        bool active = false;
        PreauthOutcome reason = PreauthOutcome::closed;
        uint64_t refused = 0;
    };
    struct Table {
        std::map<net::Cidr, Entry> by_block;
        std::set<std::pair<Clock::time_point, net::Cidr>> by_expiry;
    };

    Table& table_of(const net::Cidr& block) { return tables_[block.address.v6 ? 1 : 0]; }
    std::chrono::seconds seconds_for(PreauthOutcome o) const;
    bool full(const Table& t) const { return t.by_block.size() >= cfg_.max_sources; }
    static void expire(Table& t, Clock::time_point now);
    void make_room(Table& t);
    std::optional<Started> add(Table& t, const net::Cidr& block, PreauthOutcome o,
                               Clock::duration charge, Clock::time_point now);

    config::PenaltyConfig cfg_;
    std::array<Table, 2> tables_;  // IPv4, IPv6: an overflow in one leaves the other alone
    uint64_t started_ = 0;         // activations
    uint64_t forgotten_ = 0;       // entries dropped early (overflow permissive)
    uint64_t untracked_ = 0;       // charges not recorded (overflow deny-all)
};

/// Why a source is refused, for logs and status ("stalled through login_grace_time").
std::string_view penalty_reason(PreauthOutcome o);

}  // namespace ghost::daemon::server

#include "daemon/server/source_penalties.hpp"

#include <algorithm>
#include <vector>

namespace ghost::daemon::server {
namespace {

using std::chrono::seconds;

/// Whole seconds, rounded up, so a penalty never reads "0 s" while it still holds.
int64_t ceil_seconds(SourcePenalties::Clock::duration d) {
    return std::chrono::ceil<seconds>(d).count();
}

}  // namespace

std::string_view to_string(PreauthOutcome o) {
    switch (o) {
        case PreauthOutcome::authenticated:
            return "authenticated";
        case PreauthOutcome::auth_failed:
            return "auth_failed";
        case PreauthOutcome::grace_expired:
            return "grace_expired";
        case PreauthOutcome::protocol_error:
            return "protocol_error";
        case PreauthOutcome::closed:
            return "closed";
        case PreauthOutcome::evicted:
            return "evicted";
        case PreauthOutcome::aborted:
            return "aborted";
    }
    return "?";
}

std::string_view penalty_reason(PreauthOutcome o) {
    switch (o) {
        case PreauthOutcome::auth_failed:
            return "failed authentication";
        case PreauthOutcome::grace_expired:
            return "stalled through login_grace_time";
        case PreauthOutcome::protocol_error:
            return "protocol error";
        case PreauthOutcome::closed:
            return "left without authenticating";
        case PreauthOutcome::evicted:
            return "stalled until evicted as the oldest";
        default:
            return "no penalty";
    }
}

std::chrono::seconds SourcePenalties::seconds_for(PreauthOutcome o) const {
    switch (o) {
        case PreauthOutcome::auth_failed:
            return seconds(cfg_.auth_failed_s);
        case PreauthOutcome::grace_expired:
        case PreauthOutcome::evicted:
            return seconds(cfg_.grace_exceeded_s);
        case PreauthOutcome::protocol_error:
            return seconds(cfg_.protocol_error_s);
        case PreauthOutcome::closed:
            return seconds(cfg_.no_auth_s);
        default:
            return seconds(0);
    }
}

bool SourcePenalties::exempt(const net::IpAddress& ip) const {
    return std::any_of(cfg_.exempt.begin(), cfg_.exempt.end(),
                       [&](const net::Cidr& c) { return c.contains(ip); });
}

void SourcePenalties::expire(Table& t, Clock::time_point now) {
    while (!t.by_expiry.empty() && t.by_expiry.begin()->first <= now) {
        t.by_block.erase(t.by_expiry.begin()->second);
        t.by_expiry.erase(t.by_expiry.begin());
    }
}

void SourcePenalties::make_room(Table& t) {
    while (full(t) && !t.by_expiry.empty()) {
        t.by_block.erase(t.by_expiry.begin()->second);
        t.by_expiry.erase(t.by_expiry.begin());
        ++forgotten_;
    }
}

bool SourcePenalties::allows(const net::IpAddress& ip, const net::Cidr& block,
                             Clock::time_point now, std::string* why) {
    if (!cfg_.enabled || exempt(ip)) return true;
    Table& t = table_of(block);
    expire(t, now);
    if (cfg_.deny_all_on_overflow && full(t)) {
        *why = "penalty table full (" + std::to_string(cfg_.max_sources) + " " +
               (block.address.v6 ? "IPv6" : "IPv4") +
               " netblocks; limits.penalties.overflow deny-all)";
        return false;
    }
    auto it = t.by_block.find(block);
    if (it == t.by_block.end() || !it->second.active) return true;
    ++it->second.refused;
    *why = block.str() + " penalised for " + std::to_string(ceil_seconds(it->second.expiry - now)) +
           " s more: " + std::string(penalty_reason(it->second.reason)) + " (limits.penalties)";
    return false;
}

std::optional<SourcePenalties::Started> SourcePenalties::charge(const net::IpAddress& ip,
                                                                const net::Cidr& block,
                                                                PreauthOutcome outcome,
                                                                Clock::time_point now) {
    const Clock::duration charge = seconds_for(outcome);
    if (!cfg_.enabled || charge == Clock::duration::zero() || exempt(ip)) return std::nullopt;
    Table& t = table_of(block);
    expire(t, now);
    auto it = t.by_block.find(block);
    if (it == t.by_block.end()) {
        if (full(t) && cfg_.deny_all_on_overflow) {
            ++untracked_;
            return std::nullopt;
        }
        make_room(t);
        return add(t, block, outcome, charge, now);
    }
    Entry& e = it->second;
    t.by_expiry.erase({e.expiry, block});
    e.expiry = std::min(e.expiry + charge, now + seconds(cfg_.max_s));
    e.reason = outcome;
    t.by_expiry.emplace(e.expiry, block);
    if (e.active || e.expiry - now <= seconds(cfg_.min_s)) return std::nullopt;
    e.active = true;
    ++started_;
    return Started{block, seconds(ceil_seconds(e.expiry - now)), outcome};
}

std::optional<SourcePenalties::Started> SourcePenalties::add(Table& t, const net::Cidr& block,
                                                             PreauthOutcome o,
                                                             Clock::duration charge,
                                                             Clock::time_point now) {
    charge = std::min<Clock::duration>(charge, seconds(cfg_.max_s));
    Entry e{now + charge, charge > seconds(cfg_.min_s), o, 0};
    t.by_block.emplace(block, e);
    t.by_expiry.emplace(e.expiry, block);
    if (!e.active) return std::nullopt;
    ++started_;
    return Started{block, seconds(ceil_seconds(charge)), o};
}

nlohmann::json SourcePenalties::status(Clock::time_point now, size_t list_max) const {
    std::vector<std::pair<const net::Cidr*, const Entry*>> live;
    for (const auto& t : tables_)
        for (const auto& [block, e] : t.by_block)
            if (e.active && e.expiry > now) live.emplace_back(&block, &e);
    size_t shown = std::min(list_max, live.size());
    std::partial_sort(
        live.begin(), live.begin() + static_cast<long>(shown), live.end(),
        [](const auto& a, const auto& b) { return a.second->expiry > b.second->expiry; });
    nlohmann::json sources = nlohmann::json::array();
    for (size_t i = 0; i < shown; ++i) {
        const auto& [block, e] = live[i];
        sources.push_back({{"source", block->str()},
                           {"seconds_left", ceil_seconds(e->expiry - now)},
                           {"reason", penalty_reason(e->reason)},
                           {"refused", e->refused}});
    }
    return {{"enabled", cfg_.enabled},
            {"active", live.size()},
            {"tracked", tracked()},
            {"max_sources", cfg_.max_sources},
            {"overflow", cfg_.deny_all_on_overflow ? "deny-all" : "permissive"},
            {"started", started_},
            {"forgotten_early", forgotten_},
            {"untracked", untracked_},
            {"sources", std::move(sources)}};
}

}  // namespace ghost::daemon::server

#include "daemon/server/startup_limiter.hpp"

namespace ghost::daemon::server {

/// One admitted connection's record; fields are guarded by the limiter's lock.
struct StartupEntry {
    uint64_t seq = 0;
    net::IpAddress ip;
    net::Cidr block;
    PreauthOutcome noted = PreauthOutcome::closed;
    asio::io_context* io = nullptr;  // where `evict` runs
    std::function<void()> evict;
    bool done = false;  // released or evicted: out of the books
    bool evicted = false;
};

namespace {
constexpr size_t kListedPenalties = 16;  // status lists the longest ones
}  // namespace

// ---------------------------------------------------------------- StartupSlot

StartupSlot::StartupSlot(std::shared_ptr<StartupLimiter> owner, std::shared_ptr<StartupEntry> entry)
    : owner_(std::move(owner)), entry_(std::move(entry)) {}

StartupSlot& StartupSlot::operator=(StartupSlot&& o) noexcept {
    if (this != &o) {
        release();
        owner_ = std::move(o.owner_);
        entry_ = std::move(o.entry_);
    }
    return *this;
}

void StartupSlot::on_evict(asio::io_context& io, std::function<void()> fn) {
    if (!entry_) return;
    {
        std::lock_guard lock(owner_->mu_);
        if (!entry_->evicted) {
            entry_->io = &io;
            entry_->evict = std::move(fn);
            return;
        }
    }
    asio::post(io, std::move(fn));  // evicted before the connection could register
}

void StartupSlot::note(PreauthOutcome o) {
    if (!entry_) return;
    std::lock_guard lock(owner_->mu_);
    entry_->noted = o;
}

void StartupSlot::release(PreauthOutcome o) {
    if (!entry_) return;
    owner_->finish(entry_, o);
    entry_.reset();
    owner_.reset();
}

void StartupSlot::release() {
    if (!entry_) return;
    PreauthOutcome o;
    {
        std::lock_guard lock(owner_->mu_);
        o = entry_->noted;
    }
    release(o);
}

// ---------------------------------------------------------------- StartupLimiter

StartupLimiter::StartupLimiter(const config::LimitsConfig& limits, PenaltyFn on_penalty)
    : per_source_(limits.max_startups),
      total_cap_(limits.max_startups_total),
      netblock_v4_(limits.source_netblock_v4),
      netblock_v6_(limits.source_netblock_v6),
      on_penalty_(std::move(on_penalty)),
      penalties_(limits.penalties) {}

net::Cidr StartupLimiter::block_of(const net::IpAddress& ip) const {
    return net::Cidr::of(ip, ip.v6 ? netblock_v6_ : netblock_v4_);
}

bool StartupLimiter::admit(const net::IpAddress& source, StartupSlot* slot, std::string* why) {
    const net::IpAddress ip = source.unmapped();  // ::ffff:a.b.c.d counts as a.b.c.d
    const net::Cidr block = block_of(ip);
    std::function<void()> evict;
    std::optional<SourcePenalties::Started> started;
    auto e = std::make_shared<StartupEntry>();
    {
        std::lock_guard lock(mu_);
        if (!penalties_.allows(ip, block, Clock::now(), why)) {
            ++refused_penalised_;
            return false;
        }
        auto it = by_source_.find(block);
        size_t mine = it == by_source_.end() ? 0 : it->second;
        if (mine >= per_source_) {
            *why = "too many unauthenticated connections from " + block.str() + " (" +
                   std::to_string(mine) + ", limits.max_startups)";
            ++refused_per_source_;
            return false;
        }
        if (by_age_.size() >= total_cap_) evict = evict_oldest(&started);
        e->seq = next_seq_++;
        e->ip = ip;
        e->block = block;
        by_age_.emplace(e->seq, e);
        ++by_source_[block];
        ++admitted_;
        peak_ = std::max(peak_, by_age_.size());
    }
    *slot = StartupSlot(shared_from_this(), std::move(e));
    if (evict) evict();
    if (started && on_penalty_) on_penalty_(*started);
    return true;
}

std::function<void()> StartupLimiter::evict_oldest(
    std::optional<SourcePenalties::Started>* started) {
    std::shared_ptr<StartupEntry> oldest = by_age_.begin()->second;
    oldest->evicted = true;
    settle(*oldest, PreauthOutcome::evicted, started);
    if (!oldest->evict) return {};  // not registered yet: on_evict() closes it
    return [io = oldest->io, fn = std::move(oldest->evict)] { asio::post(*io, fn); };
}

void StartupLimiter::settle(StartupEntry& e, PreauthOutcome o,
                            std::optional<SourcePenalties::Started>* started) {
    e.done = true;
    by_age_.erase(e.seq);
    auto it = by_source_.find(e.block);
    if (it != by_source_.end() && --it->second == 0) by_source_.erase(it);
    ++outcomes_[static_cast<size_t>(o)];
    if (!closed_) *started = penalties_.charge(e.ip, e.block, o, Clock::now());
}

void StartupLimiter::finish(const std::shared_ptr<StartupEntry>& e, PreauthOutcome o) {
    std::optional<SourcePenalties::Started> started;
    {
        std::lock_guard lock(mu_);
        if (e->done) return;
        settle(*e, o, &started);
    }
    if (started && on_penalty_) on_penalty_(*started);
}

size_t StartupLimiter::total() const {
    std::lock_guard lock(mu_);
    return by_age_.size();
}

void StartupLimiter::close() {
    std::lock_guard lock(mu_);
    closed_ = true;
}

nlohmann::json StartupLimiter::status() const {
    std::lock_guard lock(mu_);
    nlohmann::json outcomes = nlohmann::json::object();
    for (size_t i = 0; i < kPreauthOutcomes; ++i)
        outcomes[std::string(to_string(static_cast<PreauthOutcome>(i)))] = outcomes_[i];
    return {{"unauthenticated", by_age_.size()},
            {"peak", peak_},
            {"max_startups", per_source_},
            {"max_startups_total", total_cap_},
            {"source_netblock_v4", netblock_v4_},
            {"source_netblock_v6", netblock_v6_},
            {"admitted", admitted_},
            {"refused_penalised", refused_penalised_},
            {"refused_per_source", refused_per_source_},
            {"evicted", outcomes_[static_cast<size_t>(PreauthOutcome::evicted)]},
            {"outcomes", std::move(outcomes)},
            {"penalties", penalties_.status(Clock::now(), kListedPenalties)}};
}

}  // namespace ghost::daemon::server

#include "daemon/server/startup_limiter.hpp"

namespace ghost::daemon::server {
namespace {
std::array<uint8_t, 17> key_of(const net::IpAddress& ip) {
    std::array<uint8_t, 17> k{};
    k[0] = ip.v6 ? 6 : 4;
    std::copy(ip.bytes.begin(), ip.bytes.end(), k.begin() + 1);
    return k;
}
}  // namespace

StartupSlot::StartupSlot(std::shared_ptr<StartupLimiter> owner, net::IpAddress source)
    : owner_(std::move(owner)), source_(source) {}

StartupSlot::StartupSlot(StartupSlot&& o) noexcept
    : owner_(std::move(o.owner_)), source_(o.source_) {}

StartupSlot& StartupSlot::operator=(StartupSlot&& o) noexcept {
    if (this != &o) {
        release();
        owner_ = std::move(o.owner_);
        source_ = o.source_;
    }
    return *this;
}

void StartupSlot::release() {
    if (owner_) owner_->give_back(source_);
    owner_.reset();
}

StartupLimiter::StartupLimiter(size_t per_source, size_t total)
    : per_source_(per_source), total_cap_(total) {}

bool StartupLimiter::admit(const net::IpAddress& source, StartupSlot* slot, std::string* why) {
    std::lock_guard lock(mu_);
    auto k = key_of(source);
    auto it = by_source_.find(k);
    size_t mine = it == by_source_.end() ? 0 : it->second;
    if (mine >= per_source_) {
        *why = "too many unauthenticated connections from " + source.str() + " (" +
               std::to_string(mine) + ", limits.max_startups)";
        return false;
    }
    if (total_ >= total_cap_) {
        *why = "too many unauthenticated connections (" + std::to_string(total_) +
               ", limits.max_startups_total)";
        return false;
    }
    // Random early drop from half the total cap: 30% rising to 100% at the cap.
    size_t start = total_cap_ / 2;
    if (total_ >= start && total_cap_ > start) {
        double p = 0.3 + 0.7 * static_cast<double>(total_ - start) /
                             static_cast<double>(total_cap_ - start);
        if (std::uniform_real_distribution<double>(0, 1)(rng_) < p) {
            *why = "early drop: " + std::to_string(total_) + " unauthenticated connections";
            return false;
        }
    }
    ++by_source_[k];
    ++total_;
    *slot = StartupSlot(shared_from_this(), source);
    return true;
}

size_t StartupLimiter::total() const {
    std::lock_guard lock(mu_);
    return total_;
}

void StartupLimiter::give_back(const net::IpAddress& source) {
    std::lock_guard lock(mu_);
    auto it = by_source_.find(key_of(source));
    if (it != by_source_.end() && --it->second == 0) by_source_.erase(it);
    if (total_ > 0) --total_;
}

}  // namespace ghost::daemon::server

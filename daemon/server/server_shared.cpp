#include "daemon/server/server_shared.hpp"

namespace ghost::daemon::server {

ServerShared::~ServerShared() {
    if (bind) ssh_bind_free(bind);
}

std::shared_ptr<const auth::AuthorizedKeys> ServerShared::keys() const {
    std::lock_guard lock(mu_);
    return keys_;
}

void ServerShared::set_keys(std::shared_ptr<const auth::AuthorizedKeys> k) {
    std::lock_guard lock(mu_);
    keys_ = std::move(k);
}

bool ServerShared::reserve_session() {
    size_t cur = authenticated_.load();
    do {
        if (cur >= profile.limits.max_sessions) return false;
    } while (!authenticated_.compare_exchange_weak(cur, cur + 1));
    return true;
}

void ServerShared::release_session() {
    --authenticated_;
}

void ServerShared::add(const Registered& r) {
    std::lock_guard lock(mu_);
    sessions_[r.info->id] = r;
}

void ServerShared::remove(const std::string& id) {
    std::lock_guard lock(mu_);
    sessions_.erase(id);
}

std::vector<ServerShared::Registered> ServerShared::snapshot() const {
    std::lock_guard lock(mu_);
    std::vector<Registered> out;
    for (const auto& [_, r] : sessions_) out.push_back(r);
    return out;
}

}  // namespace ghost::daemon::server

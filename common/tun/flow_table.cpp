#include "common/tun/flow_table.hpp"

#include <algorithm>

namespace ghost::tun {

namespace {

size_t hash_mix(size_t h, size_t v) {
    return h ^ (v + 0x9e3779b97f4a7c15ULL + (h << 6) + (h >> 2));
}

size_t hash_addr(size_t h, const SocketAddr& a) {
    size_t len = a.ip.v6 ? 16 : 4;
    for (size_t i = 0; i < len; ++i) h = hash_mix(h, a.ip.bytes[i]);
    return hash_mix(hash_mix(h, a.ip.v6 ? 1 : 0), a.port);
}

}  // namespace

size_t FlowTupleHash::operator()(const FlowTuple& t) const {
    return hash_addr(hash_addr(0, t.src), t.dst);
}

FlowTable::FlowTable(FlowTableConfig config) : config_(config), cursor_(config.port_min) {
    if (config_.port_max < config_.port_min) std::swap(config_.port_min, config_.port_max);
    cursor_ = config_.port_min;
    size_t range = size_t{config_.port_max} - config_.port_min + 1;
    config_.max_flows = std::min(config_.max_flows, range);
    by_port_.reserve(std::min<size_t>(config_.max_flows, 4096));
    by_tuple_.reserve(std::min<size_t>(config_.max_flows, 4096));
}

Flow* FlowTable::find(const FlowTuple& tuple) {
    auto it = by_tuple_.find(tuple);
    return it == by_tuple_.end() ? nullptr : find_port(it->second);
}

Flow* FlowTable::find_port(uint16_t n) {
    auto it = by_port_.find(n);
    return it == by_port_.end() ? nullptr : &it->second;
}

const Flow* FlowTable::find_port(uint16_t n) const {
    auto it = by_port_.find(n);
    return it == by_port_.end() ? nullptr : &it->second;
}

bool FlowTable::allocate_port(uint16_t* out) {
    size_t range = size_t{config_.port_max} - config_.port_min + 1;
    for (size_t tries = 0; tries < range; ++tries) {
        uint16_t n = cursor_;
        cursor_ = n == config_.port_max ? config_.port_min : static_cast<uint16_t>(n + 1);
        if (n == config_.reserved_port || n == 0 || by_port_.count(n) != 0) continue;
        *out = n;
        return true;
    }
    return false;
}

bool FlowTable::evict_one() {
    constexpr int kProbes = 512;  // ports looked at per attempt
    for (int i = 0; i < kProbes; ++i) {
        // Walk the port range round-robin, like allocation, so the oldest flows come first.
        if (evict_cursor_ < config_.port_min || evict_cursor_ > config_.port_max)
            evict_cursor_ = config_.port_min;
        uint16_t n = evict_cursor_;
        evict_cursor_ = n == config_.port_max ? config_.port_min : static_cast<uint16_t>(n + 1);
        auto it = by_port_.find(n);
        if (it == by_port_.end()) continue;
        const Flow& f = it->second;
        if (f.state == FlowState::closed || (f.state == FlowState::syn_sent && !f.accepted)) {
            erase(n);
            ++evicted_;
            return true;
        }
    }
    return false;
}

Flow* FlowTable::create(const FlowTuple& tuple, Clock::time_point now) {
    uint16_t n = 0;
    if (by_tuple_.count(tuple) != 0) return nullptr;
    if (by_port_.size() >= config_.max_flows && !evict_one()) return nullptr;
    if (!allocate_port(&n)) return nullptr;
    Flow& flow = by_port_[n];
    flow.tuple = tuple;
    flow.port = n;
    flow.last_seen = now;
    by_tuple_.emplace(tuple, n);
    return &flow;
}

void FlowTable::erase(uint16_t n) {
    auto it = by_port_.find(n);
    if (it == by_port_.end()) return;
    by_tuple_.erase(it->second.tuple);
    by_port_.erase(it);
}

std::chrono::seconds FlowTable::timeout_of(const Flow& flow) const {
    switch (flow.state) {
        case FlowState::syn_sent:
            return config_.syn_timeout;
        case FlowState::established:
            return config_.idle_timeout;
        case FlowState::half_closed:
            return config_.half_closed_timeout;
        case FlowState::closed:
            return config_.closed_grace;
    }
    return config_.idle_timeout;
}

size_t FlowTable::expire(Clock::time_point now) {
    size_t removed = 0;
    for (auto it = by_port_.begin(); it != by_port_.end();) {
        if (now - it->second.last_seen >= timeout_of(it->second)) {
            by_tuple_.erase(it->second.tuple);
            it = by_port_.erase(it);
            ++removed;
        } else {
            ++it;
        }
    }
    return removed;
}

void FlowTable::observe(Flow& flow, uint8_t tcp_flags, bool from_app, Clock::time_point now) {
    flow.last_seen = now;
    if (flow.state == FlowState::closed) return;
    if ((tcp_flags & kTcpRst) != 0) {
        flow.state = FlowState::closed;
        return;
    }
    if (!from_app && flow.state == FlowState::syn_sent && (tcp_flags & kTcpSyn) != 0)
        flow.state = FlowState::established;
    if ((tcp_flags & kTcpFin) != 0) (from_app ? flow.fin_from_app : flow.fin_from_listener) = true;
    if (flow.fin_from_app && flow.fin_from_listener)
        flow.state = FlowState::closed;
    else if (flow.fin_from_app || flow.fin_from_listener)
        flow.state = FlowState::half_closed;
}

}  // namespace ghost::tun

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
    auto in_range = [this](uint16_t p) { return p >= config_.port_min && p <= config_.port_max; };
    size_t usable = size_t{config_.port_max} - config_.port_min + 1;
    if (in_range(0)) --usable;
    if (config_.reserved_port != 0 && in_range(config_.reserved_port)) --usable;
    // Full must mean no free port left, or create() would fail without evicting.
    config_.max_flows = std::min(config_.max_flows, usable);
    by_port_.reserve(std::min<size_t>(config_.max_flows, 4096));
    by_tuple_.reserve(std::min<size_t>(config_.max_flows, 4096));
}

Flow* FlowTable::find(const FlowTuple& tuple) {
    auto it = by_tuple_.find(tuple);
    return it == by_tuple_.end() ? nullptr : find_port(it->second);
}

Flow* FlowTable::find_port(uint16_t n) {
    auto it = by_port_.find(n);
    return it == by_port_.end() ? nullptr : &it->second.flow;
}

const Flow* FlowTable::find_port(uint16_t n) const {
    auto it = by_port_.find(n);
    return it == by_port_.end() ? nullptr : &it->second.flow;
}

FlowTable::Entry* FlowTable::entry_of(const Flow& flow) {
    auto it = by_port_.find(flow.port);
    return it == by_port_.end() || &it->second.flow != &flow ? nullptr : &it->second;
}

void FlowTable::link(Entry& e, Queue q) {
    List& l = list(q);
    e.queue = q;
    e.prev = l.tail;
    e.next = nullptr;
    (l.tail != nullptr ? l.tail->next : l.head) = &e;
    l.tail = &e;
}

void FlowTable::unlink(Entry& e) {
    if (e.queue == Queue::none) return;
    List& l = list(e.queue);
    (e.prev != nullptr ? e.prev->next : l.head) = e.next;
    (e.next != nullptr ? e.next->prev : l.tail) = e.prev;
    e.queue = Queue::none;
    e.prev = e.next = nullptr;
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

bool FlowTable::evict_one(Clock::time_point now) {
    // The longest closed flow, else the oldest one never accepted once it had its grace to
    // get through the handshake and accept(); the queues are in that order, so only their
    // heads are looked at.
    Entry* victim = closed_.head;
    if (victim == nullptr && unaccepted_.head != nullptr &&
        now - unaccepted_.head->flow.created >= config_.accept_grace)
        victim = unaccepted_.head;
    if (victim == nullptr) return false;
    erase(victim->flow.port);
    ++evicted_;
    return true;
}

Flow* FlowTable::create(const FlowTuple& tuple, Clock::time_point now) {
    uint16_t n = 0;
    if (by_tuple_.count(tuple) != 0) return nullptr;
    if (by_port_.size() >= config_.max_flows && !evict_one(now)) return nullptr;
    if (!allocate_port(&n)) return nullptr;
    Entry& e = by_port_[n];
    Flow& flow = e.flow;
    flow.tuple = tuple;
    flow.port = n;
    flow.created = now;
    flow.last_seen = now;
    link(e, Queue::unaccepted);
    by_tuple_.emplace(tuple, n);
    return &flow;
}

void FlowTable::mark_accepted(Flow& flow) {
    flow.accepted = true;
    leave_unaccepted(flow);
}

void FlowTable::leave_unaccepted(Flow& flow) {
    Entry* e = entry_of(flow);
    if (e != nullptr && e->queue == Queue::unaccepted) unlink(*e);
}

void FlowTable::on_closed(Flow& flow) {
    Entry* e = entry_of(flow);
    if (e == nullptr) return;
    unlink(*e);
    link(*e, Queue::closed);
}

void FlowTable::erase(uint16_t n) {
    auto it = by_port_.find(n);
    if (it != by_port_.end()) remove(it);
}

FlowTable::Ports::iterator FlowTable::remove(Ports::iterator it) {
    unlink(it->second);
    by_tuple_.erase(it->second.flow.tuple);
    Flow gone = it->second.flow;
    auto next = by_port_.erase(it);
    if (gone.accepted && on_accepted_end_) on_accepted_end_(gone);
    return next;
}

std::chrono::seconds FlowTable::timeout_of(const Flow& flow) const {
    // Until the engine accepts it, a flow is no more than its SYN, whatever the listener
    // answered.
    if (!flow.accepted && flow.state != FlowState::closed) return config_.syn_timeout;
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
        if (now - it->second.flow.last_seen >= timeout_of(it->second.flow)) {
            it = remove(it);
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
        return on_closed(flow);
    }
    if (!from_app && flow.state == FlowState::syn_sent && (tcp_flags & kTcpSyn) != 0)
        flow.state = FlowState::established;
    if (from_app && !flow.handshake_done && flow.state != FlowState::syn_sent &&
        (tcp_flags & kTcpAck) != 0 && (tcp_flags & kTcpSyn) == 0) {
        // The application completed the handshake: the kernel now holds a connection for
        // accept(), which a late accept (a busy or starved listener) must still find.
        flow.handshake_done = true;
        leave_unaccepted(flow);
    }
    if ((tcp_flags & kTcpFin) != 0) (from_app ? flow.fin_from_app : flow.fin_from_listener) = true;
    if (flow.fin_from_app && flow.fin_from_listener)
        flow.state = FlowState::closed;
    else if (flow.fin_from_app || flow.fin_from_listener)
        flow.state = FlowState::half_closed;
    if (flow.state == FlowState::closed) on_closed(flow);
}

}  // namespace ghost::tun

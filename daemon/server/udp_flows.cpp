#include "daemon/server/udp_flows.hpp"

#include <algorithm>

namespace ghost::daemon::server {

size_t SocketAddrHash::operator()(const tun::SocketAddr& a) const {
    // FNV-1a over the address bytes, the family and the port.
    uint64_t h = 1469598103934665603ull;
    auto mix = [&h](uint8_t b) { h = (h ^ b) * 1099511628211ull; };
    size_t n = a.ip.v6 ? 16 : 4;
    for (size_t i = 0; i < n; ++i) mix(a.ip.bytes[i]);
    mix(a.ip.v6 ? 6 : 4);
    mix(uint8_t(a.port >> 8));
    mix(uint8_t(a.port));
    return static_cast<size_t>(h);
}

bool AddrRing::contains(const tun::SocketAddr& a) const {
    return std::find(ring_.begin(), ring_.end(), a) != ring_.end();
}

bool AddrRing::contains_address(const net::IpAddress& ip) const {
    return std::any_of(ring_.begin(), ring_.end(),
                       [&ip](const tun::SocketAddr& a) { return a.ip == ip; });
}

void AddrRing::add(const tun::SocketAddr& a) {
    if (capacity_ == 0 || contains(a)) return;
    if (ring_.size() < capacity_) {
        ring_.push_back(a);
        return;
    }
    ring_[next_] = a;
    next_ = (next_ + 1) % capacity_;
}

UdpFlowTable::Ptr UdpFlowTable::find(const tun::SocketAddr& client) const {
    auto it = map_.find(client);
    return it == map_.end() ? nullptr : it->second;
}

void UdpFlowTable::insert(Ptr f) {
    lru_.push_front(f.get());
    f->lru = lru_.begin();
    map_.emplace(f->client, std::move(f));
}

void UdpFlowTable::touch(UdpFlow& f, UdpClock::time_point now) {
    f.last_active = now;
    lru_.splice(lru_.begin(), lru_, f.lru);
}

UdpFlowTable::Ptr UdpFlowTable::oldest() const {
    return lru_.empty() ? nullptr : find(lru_.back()->client);
}

UdpFlowTable::Ptr UdpFlowTable::erase(const tun::SocketAddr& client) {
    auto it = map_.find(client);
    if (it == map_.end()) return nullptr;
    Ptr f = std::move(it->second);
    map_.erase(it);
    lru_.erase(f->lru);
    return f;
}

}  // namespace ghost::daemon::server

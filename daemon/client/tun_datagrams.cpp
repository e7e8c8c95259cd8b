#include "daemon/client/tun_datagrams.hpp"

#include <algorithm>

#include "common/tun/reply.hpp"

namespace ghost::daemon::client {
namespace {

namespace gt = ghost::tun;

// Flows listed one by one in status: the most recently active.
constexpr size_t kStatusFlows = 16;

std::string endpoint_text(const gt::SocketAddr& a) {
    return a.ip.v6 ? "[" + a.ip.str() + "]:" + std::to_string(a.port)
                   : a.ip.str() + ":" + std::to_string(a.port);
}

// ICMP / ICMPv6 "port unreachable", as the NAT answers UDP it refuses.
uint8_t unreachable_type(bool v6) {
    return v6 ? 1 : 3;
}
uint8_t port_unreachable_code(bool v6) {
    return v6 ? 4 : 3;
}

// The address with the bytes its family does not use zeroed, as a table key.
gt::SocketAddr canonical(gt::SocketAddr a) {
    if (!a.ip.v6) std::fill(a.ip.bytes.begin() + 4, a.ip.bytes.end(), 0);
    return a;
}

}  // namespace

size_t TunDatagrams::KeyHash::operator()(const Key& k) const {
    size_t h = k.echo ? 0x9e3779b97f4a7c15u : 0;
    for (uint8_t b : k.client.ip.bytes) h = h * 131 + b;
    return h * 131 + k.client.port + (k.client.ip.v6 ? 1 : 0);
}

TunDatagrams::TunDatagrams(std::shared_ptr<tun::TunWriter> tun, TunDatagramsConfig cfg)
    : tun_(std::move(tun)), cfg_(cfg) {
    cfg_.max_flows = std::max<size_t>(cfg_.max_flows, 1);
}

void TunDatagrams::channel_up(Send send, const udp::Hello& hello) {
    send_ = std::move(send);
    hello_ = hello;
    why_.clear();
}

void TunDatagrams::channel_down(std::string why) {
    send_ = nullptr;
    hello_.reset();
    why_ = why.empty() ? "no datagram channel" : std::move(why);
}

void TunDatagrams::on_udp(const gt::SocketAddr& from, const gt::SocketAddr& to,
                          std::span<const uint8_t> payload, Clock::time_point now) {
    if (!cfg_.udp) {
        ++counters_.dropped.disabled;
        refuse_udp(from, to, payload);
        return;
    }
    if (!send_) {
        ++counters_.dropped.udp_no_channel;
        refuse_udp(from, to, payload);
        return;
    }
    size_t limit = hello_ && hello_->max_payload > 0 ? hello_->max_payload : udp::kMaxPayload;
    if (payload.size() > std::min(limit, udp::kMaxPayload)) {
        ++counters_.dropped.oversize;
        return;
    }
    udp::Datagram d;
    d.type = udp::FrameType::udp;
    d.client = from;
    d.remote = to;
    d.payload.assign(payload.begin(), payload.end());
    if (!sent({false, canonical(from)}, to, std::move(d), now)) return;
    ++counters_.udp_out;
    counters_.udp_bytes_out += payload.size();
}

bool TunDatagrams::sent(const Key& key, const gt::SocketAddr& remote, udp::Datagram d,
                        Clock::time_point now) {
    // The flow first: the answer may come before send() returns.
    touch(key, remote, now);
    size_t bytes = d.payload.size();
    if (!send_(std::move(d))) {
        ++counters_.dropped.channel_full;
        return false;
    }
    if (Flow* f = find(key, now)) {
        ++f->datagrams_out;
        f->bytes_out += bytes;
    }
    return true;
}

void TunDatagrams::refuse_udp(const gt::SocketAddr& from, const gt::SocketAddr& to,
                              std::span<const uint8_t> payload) {
    bool v6 = from.ip.v6;
    tun_->send_icmp_error(from, to, unreachable_type(v6), port_unreachable_code(v6), 0, payload);
}

void TunDatagrams::on_echo_request(const net::IpAddress& from, const net::IpAddress& to,
                                   uint16_t ident, uint16_t sequence, std::span<const uint8_t> data,
                                   Clock::time_point now) {
    if (!cfg_.icmp) {
        ++counters_.dropped.disabled;
        return;
    }
    if (!send_) {
        ++counters_.dropped.echo_no_channel;
        return;
    }
    uint8_t feature = from.v6 ? udp::kFeatureIcmpEcho6 : udp::kFeatureIcmpEcho4;
    if (!hello_ || (hello_->features & feature) == 0) {
        ++counters_.dropped.echo_unsupported;
        return;
    }
    size_t limit = hello_->max_payload > 0 ? hello_->max_payload : udp::kMaxPayload;
    if (data.size() > std::min(limit, udp::kMaxPayload)) {
        ++counters_.dropped.oversize;
        return;
    }
    udp::Datagram d;
    d.type = udp::FrameType::icmp_echo;
    d.client = {from, ident};
    d.remote = {to, sequence};
    d.payload.assign(data.begin(), data.end());
    if (!sent({true, canonical({from, ident})}, {to, 0}, std::move(d), now)) return;
    ++counters_.echo_requests;
}

void TunDatagrams::on_frame(const udp::Datagram& d, Clock::time_point now) {
    bool well_formed = d.client.ip.v6 == d.remote.ip.v6 &&
                       !gt::is_multicast_or_broadcast(d.remote.ip) &&
                       !gt::is_multicast_or_broadcast(d.client.ip);
    if (!well_formed) {
        ++counters_.dropped.bad_frame;
        return;
    }
    switch (d.type) {
        case udp::FrameType::udp:
            return udp_from_server(d, now);
        case udp::FrameType::icmp_echo:
            return echo_from_server(d, now);
        case udp::FrameType::icmp_error:
            return error_from_server(d, now);
        default:
            ++counters_.dropped.bad_frame;
            return;
    }
}

void TunDatagrams::udp_from_server(const udp::Datagram& d, Clock::time_point now) {
    Flow* f = find({false, canonical(d.client)}, now);
    if (f == nullptr) {
        ++counters_.dropped.unknown_flow;
        return;
    }
    if (!tun_->send_udp(d.remote, d.client, d.payload)) {
        ++counters_.dropped.tun_queue_full;
        return;
    }
    ++counters_.udp_in;
    counters_.udp_bytes_in += d.payload.size();
    ++f->datagrams_in;
    f->bytes_in += d.payload.size();
    touch(f->key, d.remote, now);
}

void TunDatagrams::echo_from_server(const udp::Datagram& d, Clock::time_point now) {
    Flow* f = find({true, canonical(d.client)}, now);
    if (f == nullptr) {
        ++counters_.dropped.unknown_flow;
        return;
    }
    if (!tun_->send_icmp_echo_reply(d.remote.ip, d.client.ip, d.client.port, d.remote.port,
                                    d.payload)) {
        ++counters_.dropped.tun_queue_full;
        return;
    }
    ++counters_.echo_replies;
    ++f->datagrams_in;
    f->bytes_in += d.payload.size();
    touch(f->key, {d.remote.ip, 0}, now);
}

void TunDatagrams::error_from_server(const udp::Datagram& d, Clock::time_point now) {
    if (!gt::is_icmp_error_type(d.client.ip.v6, d.icmp_type)) {
        ++counters_.dropped.bad_icmp_error;
        return;
    }
    // An error does not keep its flow alive: only traffic does.
    if (find({false, canonical(d.client)}, now) == nullptr) {
        ++counters_.dropped.unknown_flow;
        return;
    }
    if (!tun_->send_icmp_error(d.client, d.remote, d.icmp_type, d.icmp_code, d.mtu, {})) {
        ++counters_.dropped.tun_queue_full;
        return;
    }
    ++counters_.icmp_errors;
}

TunDatagrams::Flow* TunDatagrams::find(const Key& key, Clock::time_point now) {
    expire(now);
    auto it = flows_.find(key);
    return it == flows_.end() ? nullptr : &*it->second;
}

TunDatagrams::Flow* TunDatagrams::touch(const Key& key, const gt::SocketAddr& remote,
                                        Clock::time_point now) {
    expire(now);
    auto it = flows_.find(key);
    if (it != flows_.end()) {
        order_.splice(order_.begin(), order_, it->second);  // iterators stay valid
    } else {
        if (flows_.size() >= cfg_.max_flows) {
            flows_.erase(order_.back().key);
            order_.pop_back();
            ++counters_.flows_evicted;
        }
        order_.emplace_front();
        order_.front().key = key;
        it = flows_.emplace(key, order_.begin()).first;
        ++counters_.flows_created;
    }
    Flow& f = *it->second;
    f.remote = remote;
    f.last_active = now;
    return &f;
}

void TunDatagrams::expire(Clock::time_point now) {
    while (!order_.empty() && now - order_.back().last_active > cfg_.idle_timeout) {
        flows_.erase(order_.back().key);
        order_.pop_back();
        ++counters_.flows_expired;
    }
}

nlohmann::json TunDatagrams::status() const {
    const auto& c = counters_;
    const auto& x = c.dropped;
    nlohmann::json j = {
        {"udp", cfg_.udp ? "tunnel" : "refuse"},
        {"icmp", cfg_.icmp ? "tunnel" : "refuse"},
        {"channel", send_ ? "up" : "down"},
        {"flows", flows_.size()},
        {"max_flows", cfg_.max_flows},
        {"flows_created", c.flows_created},
        {"flows_evicted", c.flows_evicted},
        {"flows_expired", c.flows_expired},
        {"udp_out", c.udp_out},
        {"udp_bytes_out", c.udp_bytes_out},
        {"udp_in", c.udp_in},
        {"udp_bytes_in", c.udp_bytes_in},
        {"echo_requests", c.echo_requests},
        {"echo_replies", c.echo_replies},
        {"icmp_errors", c.icmp_errors},
        {"dropped",
         {{"udp_no_channel", x.udp_no_channel},
          {"echo_no_channel", x.echo_no_channel},
          {"echo_unsupported", x.echo_unsupported},
          {"disabled", x.disabled},
          {"oversize", x.oversize},
          {"channel_full", x.channel_full},
          {"unknown_flow", x.unknown_flow},
          {"bad_frame", x.bad_frame},
          {"bad_icmp_error", x.bad_icmp_error},
          {"tun_queue_full", x.tun_queue_full}}},
    };
    if (!send_) j["why"] = why_;
    if (hello_) {
        j["server"] = {{"version", hello_->version},
                       {"max_payload", hello_->max_payload},
                       {"max_flows", hello_->max_flows},
                       {"icmp_echo_v4", (hello_->features & udp::kFeatureIcmpEcho4) != 0},
                       {"icmp_echo_v6", (hello_->features & udp::kFeatureIcmpEcho6) != 0}};
    }
    auto recent = nlohmann::json::array();
    for (const Flow& f : order_) {
        if (recent.size() == kStatusFlows) break;
        recent.push_back(
            {{"protocol", f.key.echo ? "icmp_echo" : "udp"},
             {"client", f.key.echo ? f.key.client.ip.str() : endpoint_text(f.key.client)},
             {"remote", f.key.echo ? f.remote.ip.str() : endpoint_text(f.remote)},
             {"datagrams_out", f.datagrams_out},
             {"bytes_out", f.bytes_out},
             {"datagrams_in", f.datagrams_in},
             {"bytes_in", f.bytes_in}});
        if (f.key.echo) recent.back()["ident"] = f.key.client.port;
    }
    j["recent_flows"] = std::move(recent);
    return j;
}

}  // namespace ghost::daemon::client

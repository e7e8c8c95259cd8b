#include "daemon/client/tun_mode.hpp"

#include <array>
#include <optional>

#include "common/dns/message.hpp"
#include "common/tun/packet.hpp"

namespace ghost::daemon::client {
namespace {

// How often the worker publishes the figures status() returns: the control thread never
// waits on a worker, so this is how old they can be.
constexpr auto kSnapshotInterval = std::chrono::milliseconds(250);

/// Which NatAddresses slots the TUN profiles up in this ghostd hold: two devices up at
/// once must not share their subnet, or one's replies would be routed into the other.
class AddressSlots {
  public:
    std::optional<unsigned> take() {
        std::lock_guard lock(mutex_);
        for (unsigned i = 0; i < used_.size(); ++i) {
            if (!used_[i]) {
                used_[i] = true;
                return i;
            }
        }
        return std::nullopt;
    }
    void give_back(unsigned slot) {
        std::lock_guard lock(mutex_);
        if (slot < used_.size()) used_[slot] = false;
    }

  private:
    std::mutex mutex_;
    std::array<bool, ghost::tun::NatAddresses::kSlots> used_{};
};

AddressSlots& address_slots() {
    static AddressSlots slots;
    return slots;
}

nlohmann::json cidrs(const std::vector<net::Cidr>& v) {
    auto out = nlohmann::json::array();
    for (const auto& c : v) out.push_back(c.str());
    return out;
}

// The application's connection is reset (not just closed) so it fails at once.
void reset(asio::ip::tcp::socket& s) {
    asio::error_code ec;
    s.set_option(asio::socket_base::linger(true, 0), ec);
    s.close(ec);
}

// An accepted connection: its socket until the channel is open, then its bridge.
struct Connection {
    explicit Connection(asio::ip::tcp::socket s) : socket(std::move(s)) {}
    asio::ip::tcp::socket socket;
    std::weak_ptr<ssh::ChannelHandle::Impl> bridge;
};

}  // namespace

std::string tun_route_loop(const config::Profile& p, const std::string& server_ip) {
    if (!p.tun || p.tun->full) return {};  // full tunnel: the session's SO_MARK keeps it out
    auto ip = net::IpAddress::parse(server_ip);
    if (!ip) return {};
    for (const auto& x : p.tun->exclude) {
        if (x.contains(*ip)) return {};
    }
    for (const auto& r : p.tun->routes) {
        if (r.address.v6 == ip->v6 && r.contains(*ip)) {
            return "tun.routes " + r.str() + " contains the SSH server's address " + ip->str() +
                   ": the session would be routed into its own tunnel; add " + ip->str() +
                   (ip->v6 ? "/128" : "/32") + " to tun.exclude";
        }
    }
    return {};
}

TunMode::TunMode(ssh::ChannelOpener& opener, config::TunConfig cfg, log::Logger log)
    : opener_(opener), cfg_(std::move(cfg)), log_(std::move(log)), snapshot_timer_(opener.io()) {}

TunMode::~TunMode() {
    stop();
}

bool TunMode::start(std::string* why) {
    if (running_) return true;
    if (auto ec = nl_.connect()) {
        *why = "cannot open netlink for TUN mode: " + ec.message();
        return false;
    }
    if (!slot_) {
        slot_ = address_slots().take();
        if (!slot_) {
            *why = "cannot bring up TUN device " + cfg_.name + ": " +
                   std::to_string(ghost::tun::NatAddresses::kSlots) +
                   " TUN profiles are up already (the most one ghostd runs at once)";
            return false;
        }
        addresses_ = ghost::tun::NatAddresses::for_slot(*slot_, 0);
    }
    tun::NatEngineConfig ec_cfg;
    ec_cfg.device = cfg_.name;
    ec_cfg.mtu = cfg_.mtu;
    ec_cfg.nat.addresses = addresses_;
    ec_cfg.nat.ipv6 = cfg_.ipv6;
    ec_cfg.nat.intercept_dns = !cfg_.dns.empty();
    ec_cfg.nat.intercept_all_dns = cfg_.full;
    ec_cfg.nat.udp = cfg_.udp == "tunnel";
    ec_cfg.nat.icmp_echo = cfg_.icmp == "tunnel";
    std::weak_ptr<TunMode> weak = weak_from_this();
    engine_ = std::make_shared<tun::NatEngine>(
        opener_.io(), ec_cfg, [weak](asio::ip::tcp::socket s, tun::AcceptedFlow f) {
            if (auto self = weak.lock()) return self->on_accept(std::move(s), f);
            reset(s);
            return tun::FlowCloser{};
        });
    engine_->set_failure_handler([weak](const std::string& error) {
        auto self = weak.lock();
        if (!self || !self->running_) return;
        // Not from inside the engine's read handler: the owner stops everything.
        asio::post(self->opener_.io(), [weak, error] {
            auto s = weak.lock();
            if (!s || !s->running_) return;
            if (auto report = std::move(s->on_failure_)) report(error);
        });
    });
    start_datagrams();
    if (!cfg_.dns.empty()) {
        dns_ = std::make_shared<DnsForwarder>(opener_, cfg_.dns, log_);
        engine_->set_dns_handler([weak](const ghost::tun::SocketAddr& from,
                                        const ghost::tun::SocketAddr& to, std::vector<uint8_t> q) {
            auto self = weak.lock();
            if (!self || !self->dns_) return;
            self->dns_->query(std::move(q), [weak, from, to](std::vector<uint8_t> answer) {
                auto s = weak.lock();
                if (!s || !s->engine_ || answer.empty()) return;
                if (answer.size() > kMaxUdpDnsAnswer) answer = dns::truncated(answer);
                s->engine_->send_udp(to, from, answer);
            });
        });
    }
    if (auto ec = engine_->start(nl_, why); ec) {
        if (dns_) dns_->stop();
        dns_.reset();
        datagrams_.reset();
        engine_.reset();
        release_slot();
        return false;
    }
    routing_cfg_.ifindex = engine_->ifindex();
    routing_cfg_.routes = cfg_.routes;
    routing_cfg_.exclude = cfg_.exclude;
    routing_cfg_.full = cfg_.full;
    routing_cfg_.ipv6 = true;  // full tunnel: IPv6 goes to the device, carried or refused there
    routing_cfg_.fwmark = kTunFwmark;
    routing_cfg_.table = kTunFwmark;
    routing_ = std::make_unique<tun::Routing>(nl_);
    if (!apply_routes(why) || !configure_system_dns(why)) {
        std::string keep = *why;
        stop();
        *why = keep;
        return false;
    }
    running_ = true;
    log_.info("TUN ", engine_->device_name(), " up (", cfg_.full ? "full tunnel" : "split tunnel",
              ", ", routing_->route_count(), " routes, ", routing_->rule_count(), " rules)");
    snapshot();
    schedule_snapshot();
    return true;
}

bool TunMode::configure_system_dns(std::string* why) {
    if (cfg_.dns.empty() || cfg_.dns_mode == "none") return true;
    // Queries to the NAT's peer address (198.18.0.2 / ...::2 for the first TUN profile)
    // enter the device and are answered by the forwarder; in full tunnel every UDP/53 is.
    const auto& a = addresses_;
    std::vector<net::IpAddress> servers{a.peer_v4};
    if (cfg_.ipv6) servers.push_back(a.peer_v6);
    resolved_ = std::make_unique<ResolvedLink>();
    std::string err;
    if (resolved_->apply(engine_->ifindex(), servers, cfg_.dns_domains, cfg_.full, &err)) {
        system_dns_ = "systemd-resolved";
        log_.info("DNS: systemd-resolved sends ", cfg_.full ? "every name" : "the tunnel's domains",
                  " to ", engine_->device_name());
        return true;
    }
    resolved_.reset();
    if (cfg_.dns_mode == "resolved") {
        *why = "tun.dns_mode is \"resolved\" but " + err;
        return false;
    }
    system_dns_ = "not configured (" + err + ")";
    log_.notice("DNS: system resolver not configured (", err, "); queries sent to ",
                a.peer_v4.str(), " or, in full tunnel, to any address are still answered");
    return true;
}

bool TunMode::apply_routes(std::string* why) {
    if (routes_applied_) return true;
    if (auto ec = routing_->apply(routing_cfg_, why)) return false;
    routes_applied_ = true;
    return true;
}

void TunMode::stop() {
    if (!engine_ && !routing_) return;
    running_ = false;
    snapshot_timer_.cancel();
    if (resolved_) resolved_->revert();
    resolved_.reset();
    if (dns_) dns_->stop();
    if (routing_) {
        if (auto ec = routing_->teardown()) log_.warning("TUN route teardown: ", ec.message());
        routes_applied_ = false;
    }
    if (engine_) {
        engine_->stop();
        log_.info("TUN ", engine_->device_name(), " closed");
    }
    snapshot();
    datagrams_.reset();
    engine_.reset();
    routing_.reset();
    dns_.reset();
    release_slot();
}

void TunMode::release_slot() {
    if (slot_) address_slots().give_back(*slot_);
    slot_.reset();
}

void TunMode::session_down() {
    if (!running_ || cfg_.kill_switch || !routes_applied_) return;
    // No kill switch: while there is no session, traffic takes the normal path.
    if (auto ec = routing_->teardown()) log_.warning("TUN route teardown: ", ec.message());
    routes_applied_ = false;
    log_.notice("session down: TUN routes removed until it is back (tun.kill_switch is off)");
    snapshot();
}

void TunMode::session_up() {
    if (!running_ || routes_applied_) return;
    std::string why;
    if (!apply_routes(&why)) log_.error("cannot restore TUN routes: ", why);
    snapshot();
}

tun::FlowCloser TunMode::on_accept(asio::ip::tcp::socket socket, tun::AcceptedFlow flow) {
    ssh::OpenRequest req;
    req.host = flow.destination.address().to_string();
    req.port = flow.destination.port();
    req.origin_host = flow.source.address().to_string();
    req.origin_port = flow.source.port();
    auto conn = std::make_shared<Connection>(std::move(socket));
    std::weak_ptr<TunMode> weak = weak_from_this();
    opener_.open(std::move(req), [weak, conn](ssh::OpenOutcome o, ssh::ChannelHandle ch) {
        auto self = weak.lock();
        if (!o.ok() || !self || !self->running_) {
            if (self) {
                ++self->open_failed_;
                self->log_.debug("TUN flow refused: ", o.message);
            }
            return reset(conn->socket);
        }
        if (!conn->socket.is_open()) return;  // ended meanwhile; dropping `ch` closes it
        ++self->tunnelled_;
        conn->bridge = ch.attach(std::move(conn->socket));
    });
    // The engine calls this if the flow's NAT record expires first.
    return [conn] {
        if (auto bridge = conn->bridge.lock())
            bridge->terminate("its TUN flow record expired");
        else
            reset(conn->socket);
    };
}

void TunMode::schedule_snapshot() {
    snapshot_timer_.expires_after(kSnapshotInterval);
    std::weak_ptr<TunMode> weak = weak_from_this();
    snapshot_timer_.async_wait([weak](asio::error_code ec) {
        auto self = weak.lock();
        if (ec || !self || !self->running_) return;
        self->snapshot();
        self->schedule_snapshot();
    });
}

void TunMode::start_datagrams() {
    TunDatagramsConfig dc;
    dc.udp = cfg_.udp == "tunnel";
    dc.icmp = cfg_.icmp == "tunnel";
    datagrams_ = std::make_shared<TunDatagrams>(engine_, dc);
    std::weak_ptr<TunDatagrams> weak = datagrams_;
    engine_->set_udp_handler([weak](const ghost::tun::SocketAddr& from,
                                    const ghost::tun::SocketAddr& to,
                                    std::span<const uint8_t> payload) {
        if (auto d = weak.lock()) d->on_udp(from, to, payload);
    });
    engine_->set_echo_handler([weak](const net::IpAddress& from, const net::IpAddress& to,
                                     uint16_t ident, uint16_t sequence,
                                     std::span<const uint8_t> data) {
        if (auto d = weak.lock()) d->on_echo_request(from, to, ident, sequence, data);
    });
}

void TunMode::datagram_channel_up(TunDatagrams::Send send, const udp::Hello& hello) {
    if (datagrams_) datagrams_->channel_up(std::move(send), hello);
}

void TunMode::datagram_channel_down(const std::string& why) {
    if (datagrams_) datagrams_->channel_down(why);
}

void TunMode::on_datagram(const udp::Datagram& d) {
    if (datagrams_) datagrams_->on_frame(d);
}

void TunMode::snapshot() {
    nlohmann::json j = {{"device", cfg_.name},
                        {"mode", cfg_.full ? "full" : "split"},
                        {"kill_switch", cfg_.kill_switch},
                        {"ipv6", cfg_.ipv6 ? "tunnelled" : "blocked"},
                        {"running", running_},
                        {"routes_applied", routes_applied_},
                        {"routes", cidrs(cfg_.routes)},
                        {"exclude", cidrs(cfg_.exclude)},
                        {"flows_tunnelled", tunnelled_},
                        {"flows_refused", open_failed_}};
    if (!cfg_.dns.empty()) {
        const auto& a = addresses_;
        nlohmann::json d = dns_ ? dns_->status() : nlohmann::json::object();
        d["address"] = nlohmann::json::array({a.peer_v4.str()});
        if (cfg_.ipv6) d["address"].push_back(a.peer_v6.str());
        d["mode"] = cfg_.dns_mode;
        d["system"] = system_dns_;
        d["domains"] = cfg_.dns_domains;
        j["dns"] = std::move(d);
    }
    if (engine_) {
        j["device"] = engine_->device_name();
        j["ifindex"] = engine_->ifindex();
        j["mtu"] = cfg_.mtu;
        j["checksum_offload"] = engine_->checksum_offload();
        const auto& a = addresses_;
        auto addrs = nlohmann::json::array({a.listener_v4.str() + "/30"});
        if (cfg_.ipv6) addrs.push_back(a.listener_v6.str() + "/126");
        j["addresses"] = addrs;
        j["flows"] = engine_->flow_count();
        j["accept_errors"] = engine_->counters().accept_errors;
        j["accept_backoffs"] = engine_->counters().accept_backoffs;
        if (routing_) {
            j["route_count"] = routing_->route_count();
            j["rule_count"] = routing_->rule_count();
        }
        if (const auto* c = engine_->nat_counters()) {
            j["dns_intercepted"] = c->dns_intercepted;
            nlohmann::json dropped = {{"udp_refused", c->udp_refused},
                                      {"table_full", c->table_full},
                                      {"no_flow", c->no_flow},
                                      {"reserved_destination", c->reserved_dst},
                                      {"ipv6_blocked", c->ipv6_blocked},
                                      {"other", c->other_dropped},
                                      {"stray_listener", c->stray_listener}};
            for (size_t i = 1; i < c->malformed.size(); ++i) {
                dropped[std::string(ghost::tun::to_string(
                    static_cast<ghost::tun::ParseError>(i)))] = c->malformed[i];
            }
            j["dropped"] = dropped;
            j["flows_created"] = c->flows_created;
            j["flows_expired"] = c->flows_expired;
            j["flows_evicted"] = engine_->flows_evicted();
            j["flows_expired_open"] = engine_->counters().expired_open;
        }
        if (const auto* io = engine_->io_counters()) {
            j["packets_in"] = io->packets_in;
            j["packets_out"] = io->packets_out;
            j["dropped"]["write_queue_full"] = io->queue_full;
            j["dropped"]["bad_offload_header"] = io->bad_offload;
        }
    }
    if (datagrams_) j["datagrams"] = datagrams_->status();
    std::lock_guard lock(mutex_);
    snapshot_ = std::move(j);
}

nlohmann::json TunMode::status() const {
    std::lock_guard lock(mutex_);
    return snapshot_;
}

}  // namespace ghost::daemon::client

// tun_nat_probe: the TUN NAT engine with a "connect directly" accept handler, for the
// integration test. Not part of ghostd.
//
//   tun_nat_probe [--dev NAME] [--mtu N] [--route CIDR]... [--exclude CIDR]... [--full]
//                 [--no-ipv6] [--mark M] [--bind-dev IF] [--datagrams] [--ready FILE]
//   tun_nat_probe --cleanup [--dev NAME]      remove leftovers of a killed probe/ghostd
//
// --datagrams: UDP and ICMP echo go through TunDatagrams to a stand-in for the server's
// end of the datagram channel, which answers at once: a UDP datagram comes back as it
// went (to port 9: an icmp_error "port unreachable"; to port 8: "fragmentation needed" /
// "packet too big" with MTU 1300), an echo request as its reply.
//
// Runs until SIGINT/SIGTERM, then tears routes and rules down, closes the device and
// prints its counters as "key value" lines on stdout.

#include <net/if.h>
#include <sys/socket.h>

#include <array>
#include <csignal>
#include <cstring>
#include <fstream>
#include <iostream>
#include <memory>
#include <string>
#include <vector>

#include <asio.hpp>

#include "daemon/client/tun_datagrams.hpp"
#include "daemon/tun/nat_engine.hpp"
#include "daemon/tun/netlink.hpp"
#include "daemon/tun/routing.hpp"

namespace {

using asio::ip::tcp;
namespace gt = ghost::daemon::tun;

struct Options {
    std::string dev = "ghost0";
    uint32_t mtu = 1400;
    gt::RoutingConfig routing;
    bool ipv6 = true;
    uint32_t mark = 0;
    std::string bind_dev;
    std::string ready;
    bool cleanup = false;
    bool datagrams = false;
};

/// One direction of a relay: read from `from`, write all to `to`, then half-close.
class Pipe : public std::enable_shared_from_this<Pipe> {
  public:
    Pipe(std::shared_ptr<tcp::socket> from, std::shared_ptr<tcp::socket> to)
        : from_(std::move(from)), to_(std::move(to)) {}
    void run() {
        from_->async_read_some(asio::buffer(buf_),
                               [self = shared_from_this()](std::error_code ec, size_t n) {
                                   std::error_code ignored;
                                   if (ec) {
                                       self->to_->shutdown(tcp::socket::shutdown_send, ignored);
                                       return;
                                   }
                                   asio::async_write(*self->to_, asio::buffer(self->buf_.data(), n),
                                                     [self](std::error_code wec, size_t) {
                                                         if (!wec) self->run();
                                                     });
                               });
    }

  private:
    std::shared_ptr<tcp::socket> from_, to_;
    std::array<char, 65536> buf_{};
};

gt::FlowCloser connect_directly(asio::io_context& io, const Options& opt, tcp::socket accepted,
                                gt::AcceptedFlow flow) {
    auto app = std::make_shared<tcp::socket>(std::move(accepted));
    auto out = std::make_shared<tcp::socket>(io);
    std::error_code ec;
    out->open(flow.destination.protocol(), ec);
    // Keep our own connection out of the tunnel, as ghostd's SO_MARK'd transport does.
    if (!ec && opt.mark != 0) {
        int m = static_cast<int>(opt.mark);
        if (setsockopt(out->native_handle(), SOL_SOCKET, SO_MARK, &m, sizeof m) < 0)
            std::cerr << "SO_MARK: " << std::strerror(errno) << "\n";
    }
    if (!ec && !opt.bind_dev.empty() &&
        setsockopt(out->native_handle(), SOL_SOCKET, SO_BINDTODEVICE, opt.bind_dev.c_str(),
                   static_cast<socklen_t>(opt.bind_dev.size())) < 0)
        std::cerr << "SO_BINDTODEVICE: " << std::strerror(errno) << "\n";
    std::cerr << "accepted " << flow.source << " -> " << flow.destination << "\n";
    out->async_connect(flow.destination, [app, out](std::error_code cec) {
        if (cec) {
            std::cerr << "connect: " << cec.message() << "\n";
            std::error_code ignored;
            app->set_option(asio::socket_base::linger(true, 0), ignored);
            app->close(ignored);  // RST: the application sees the failure
            return;
        }
        std::make_shared<Pipe>(app, out)->run();
        std::make_shared<Pipe>(out, app)->run();
    });
    // Should the flow record expire first: reset the application's side, close ours.
    return [app = std::weak_ptr<tcp::socket>(app), out = std::weak_ptr<tcp::socket>(out)] {
        std::error_code ignored;
        if (auto a = app.lock()) {
            a->set_option(asio::socket_base::linger(true, 0), ignored);
            a->close(ignored);
        }
        if (auto o = out.lock()) o->close(ignored);
    };
}

bool parse_cidr(const char* text, std::vector<ghost::net::Cidr>* out) {
    std::string why;
    auto c = ghost::net::Cidr::parse(text, &why);
    if (!c) std::cerr << "bad CIDR '" << text << "': " << why << "\n";
    if (c) out->push_back(*c);
    return c.has_value();
}

bool parse_args(int argc, char** argv, Options* o) {
    for (int i = 1; i < argc; ++i) {
        std::string a = argv[i];
        const char* v = i + 1 < argc ? argv[i + 1] : nullptr;
        bool takes = a != "--full" && a != "--no-ipv6" && a != "--cleanup" && a != "--datagrams";
        if (takes && v == nullptr) return false;
        if (takes) ++i;
        if (a == "--dev")
            o->dev = v;
        else if (a == "--mtu")
            o->mtu = static_cast<uint32_t>(std::stoul(v));
        else if (a == "--route") {
            if (!parse_cidr(v, &o->routing.routes)) return false;
        } else if (a == "--exclude") {
            if (!parse_cidr(v, &o->routing.exclude)) return false;
        } else if (a == "--full")
            o->routing.full = true;
        else if (a == "--no-ipv6")
            o->ipv6 = false;
        else if (a == "--mark")
            o->mark = static_cast<uint32_t>(std::stoul(v, nullptr, 0));
        else if (a == "--bind-dev")
            o->bind_dev = v;
        else if (a == "--ready")
            o->ready = v;
        else if (a == "--cleanup")
            o->cleanup = true;
        else if (a == "--datagrams")
            o->datagrams = true;
        else
            return false;
    }
    if (o->mark != 0) o->routing.fwmark = o->mark;
    o->routing.ipv6 = true;  // full tunnel always routes IPv6 in: carried or blocked, not leaked
    return true;
}

int cleanup(gt::Netlink& nl, const Options& opt) {
    size_t removed = 0;
    bool link_deleted = false;
    if (auto ec = gt::Routing::cleanup_leftovers(nl, &removed)) {
        std::cerr << "cleanup: " << ec.message() << "\n";
        return 1;
    }
    if (auto ec = nl.delete_link_of_kind(opt.dev, "tun", &link_deleted)) {
        std::cerr << "cleanup: cannot delete link " << opt.dev << ": " << ec.message() << "\n";
        return 1;
    }
    std::cout << "removed " << removed << " link_deleted " << link_deleted << "\n";
    return 0;
}

/// What a server would answer to `d` (see --datagrams above).
ghost::udp::Datagram answer(ghost::udp::Datagram d) {
    bool v6 = d.client.ip.v6;
    if (d.type == ghost::udp::FrameType::udp && (d.remote.port == 9 || d.remote.port == 8)) {
        d.type = ghost::udp::FrameType::icmp_error;
        bool too_big = d.remote.port == 8;
        d.icmp_type = too_big ? (v6 ? 2 : 3) : (v6 ? 1 : 3);
        d.icmp_code = too_big ? (v6 ? 0 : 4) : (v6 ? 4 : 3);
        d.mtu = too_big ? 1300 : 0;
        d.payload.clear();
    }
    return d;
}

/// Wires TunDatagrams to the engine, with the stand-in server as its channel.
std::shared_ptr<ghost::daemon::client::TunDatagrams> loop_datagrams(
    asio::io_context& io, const std::shared_ptr<gt::NatEngine>& engine) {
    namespace udp = ghost::udp;
    auto dg = std::make_shared<ghost::daemon::client::TunDatagrams>(
        engine, ghost::daemon::client::TunDatagramsConfig{});
    std::weak_ptr<ghost::daemon::client::TunDatagrams> weak = dg;
    dg->channel_up(
        [&io, weak](udp::Datagram d) {
            asio::post(io, [weak, reply = answer(std::move(d))] {
                if (auto self = weak.lock()) self->on_frame(reply);
            });
            return true;
        },
        udp::Hello{udp::kVersion, udp::kFeatureIcmpEcho4 | udp::kFeatureIcmpEcho6, 65507, 1000});
    engine->set_udp_handler([weak](const ghost::tun::SocketAddr& from,
                                   const ghost::tun::SocketAddr& to, std::span<const uint8_t> p) {
        if (auto self = weak.lock()) self->on_udp(from, to, p);
    });
    engine->set_echo_handler([weak](const ghost::net::IpAddress& from,
                                    const ghost::net::IpAddress& to, uint16_t ident, uint16_t seq,
                                    std::span<const uint8_t> data) {
        if (auto self = weak.lock()) self->on_echo_request(from, to, ident, seq, data);
    });
    return dg;
}

void print_counters(const gt::NatEngine& engine) {
    if (const auto* c = engine.nat_counters()) {
        std::cout << "to_listener " << c->to_listener << "\nfrom_listener " << c->from_listener
                  << "\nflows_created " << c->flows_created << "\nudp_refused " << c->udp_refused
                  << "\nno_flow " << c->no_flow << "\nmalformed " << c->malformed_total()
                  << "\nipv6_blocked " << c->ipv6_blocked << "\nudp_datagrams " << c->udp_datagrams
                  << "\nicmp_echo " << c->icmp_echo << "\n";
    }
    std::cout << "accepted " << engine.counters().accepted << "\naccepted_unknown "
              << engine.counters().accepted_unknown << "\n";
}

}  // namespace

int main(int argc, char** argv) {
    Options opt;
    if (!parse_args(argc, argv, &opt)) {
        std::cerr
            << "usage: tun_nat_probe [--dev NAME] [--mtu N] [--route CIDR]... "
               "[--exclude CIDR]... [--full] [--no-ipv6] [--mark M] [--bind-dev IF] [--datagrams] "
               "[--ready FILE] | --cleanup [--dev NAME]\n";
        return 2;
    }
    gt::Netlink nl;
    if (auto ec = nl.connect()) {
        std::cerr << "netlink: " << ec.message() << "\n";
        return 1;
    }
    if (opt.cleanup) return cleanup(nl, opt);

    asio::io_context io;
    gt::NatEngineConfig cfg;
    cfg.device = opt.dev;
    cfg.mtu = opt.mtu;
    cfg.nat.ipv6 = opt.ipv6;
    cfg.nat.udp = opt.datagrams;
    cfg.nat.icmp_echo = opt.datagrams;
    auto engine =
        std::make_shared<gt::NatEngine>(io, cfg, [&io, &opt](tcp::socket s, gt::AcceptedFlow f) {
            return connect_directly(io, opt, std::move(s), f);
        });
    std::shared_ptr<ghost::daemon::client::TunDatagrams> datagrams;
    if (opt.datagrams) datagrams = loop_datagrams(io, engine);
    std::string why;
    if (engine->start(nl, &why)) {
        std::cerr << "start: " << why << "\n";
        return 1;
    }
    gt::Routing routing(nl);
    opt.routing.ifindex = engine->ifindex();
    if (routing.apply(opt.routing, &why)) {
        std::cerr << "routing: " << why << "\n";
        return 1;
    }
    std::cerr << "up: " << engine->device_name() << " listener port " << engine->listener_port()
              << ", " << routing.route_count() << " routes, " << routing.rule_count() << " rules\n";
    if (!opt.ready.empty()) std::ofstream(opt.ready) << engine->listener_port() << "\n";

    asio::signal_set signals(io, SIGINT, SIGTERM);
    signals.async_wait([&](std::error_code, int) {
        if (auto ec = routing.teardown()) std::cerr << "teardown: " << ec.message() << "\n";
        engine->stop();
        io.stop();
    });
    io.run();
    print_counters(*engine);
    if (datagrams) std::cout << "datagrams " << datagrams->status().dump() << "\n";
    return 0;
}

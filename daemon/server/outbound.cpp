#include "daemon/server/outbound.hpp"

#include <array>
#include <chrono>
#include <vector>

#include "common/text/base64.hpp"

namespace ghost::daemon::server {
namespace {

using asio::awaitable;
using asio::ip::tcp;
using Clock = std::chrono::steady_clock;

/// State shared by the connecting coroutine and its deadline.
struct Attempt {
    explicit Attempt(asio::io_context& io) : resolver(io), socket(io), timer(io) {}
    tcp::resolver resolver;
    tcp::socket socket;
    asio::steady_timer timer;
    bool timed_out = false;
};

/// Resolves host (literal or name) to addresses; empty + *why on failure.
awaitable<std::vector<asio::ip::address>> resolve(Attempt& a, const std::string& host,
                                                  std::string* why) {
    std::vector<asio::ip::address> out;
    asio::error_code ec;
    auto lit = asio::ip::make_address(host, ec);
    if (!ec) {
        out.push_back(lit);
        co_return out;
    }
    auto results =
        co_await a.resolver.async_resolve(host, "", asio::redirect_error(asio::use_awaitable, ec));
    if (ec)
        *why = "cannot resolve " + host + ": " + ec.message();
    else
        for (const auto& r : results) out.push_back(r.endpoint().address());
    co_return out;
}

awaitable<std::string> socks5_handshake(Attempt& a, const config::OutboundConfig& cfg,
                                        const asio::ip::address& ip, uint16_t port) {
    asio::error_code ec;
    auto io = asio::redirect_error(asio::use_awaitable, ec);
    bool creds = !cfg.username.empty();
    std::vector<uint8_t> hello =
        creds ? std::vector<uint8_t>{5, 2, 0, 2} : std::vector<uint8_t>{5, 1, 0};
    std::array<uint8_t, 2> rep{};
    co_await asio::async_write(a.socket, asio::buffer(hello), io);
    if (!ec) co_await asio::async_read(a.socket, asio::buffer(rep), io);
    if (ec) co_return "socks5 proxy: " + ec.message();
    if (rep[0] != 5 || (rep[1] != 0 && !(creds && rep[1] == 2)))
        co_return "socks5 proxy refused our authentication methods";
    if (rep[1] == 2) {
        std::vector<uint8_t> up{1, uint8_t(cfg.username.size())};
        up.insert(up.end(), cfg.username.begin(), cfg.username.end());
        up.push_back(uint8_t(cfg.password.size()));
        up.insert(up.end(), cfg.password.begin(), cfg.password.end());
        co_await asio::async_write(a.socket, asio::buffer(up), io);
        if (!ec) co_await asio::async_read(a.socket, asio::buffer(rep), io);
        if (ec || rep[1] != 0) co_return "socks5 proxy rejected outbound.username/password";
    }
    std::vector<uint8_t> req{5, 1, 0, uint8_t(ip.is_v4() ? 1 : 4)};
    if (ip.is_v4())
        for (auto b : ip.to_v4().to_bytes()) req.push_back(b);
    else
        for (auto b : ip.to_v6().to_bytes()) req.push_back(b);
    req.push_back(uint8_t(port >> 8));
    req.push_back(uint8_t(port & 0xff));
    std::array<uint8_t, 4> head{};
    co_await asio::async_write(a.socket, asio::buffer(req), io);
    if (!ec) co_await asio::async_read(a.socket, asio::buffer(head), io);
    if (ec) co_return "socks5 proxy: " + ec.message();
    if (head[1] != 0)
        co_return "socks5 proxy could not connect (reply code " + std::to_string(head[1]) + ")";
    size_t rest = head[3] == 1 ? 6 : head[3] == 4 ? 18 : 0;
    if (rest == 0) co_return "socks5 proxy sent an unexpected address type";
    std::array<uint8_t, 18> skip{};
    co_await asio::async_read(a.socket, asio::buffer(skip, rest), io);
    co_return ec ? "socks5 proxy: " + ec.message() : std::string{};
}

awaitable<std::string> http_handshake(Attempt& a, const config::OutboundConfig& cfg,
                                      const std::string& target) {
    asio::error_code ec;
    auto io = asio::redirect_error(asio::use_awaitable, ec);
    std::string req = "CONNECT " + target + " HTTP/1.1\r\nHost: " + target + "\r\n";
    if (!cfg.username.empty())
        req += "Proxy-Authorization: Basic " +
               text::base64_encode(cfg.username + ":" + cfg.password) + "\r\n";
    req += "\r\n";
    co_await asio::async_write(a.socket, asio::buffer(req), io);
    // Byte by byte: nothing after the header may be swallowed (it belongs to the tunnel).
    std::string head;
    char c = 0;
    while (!ec && head.size() < 8192 && head.find("\r\n\r\n") == std::string::npos) {
        co_await asio::async_read(a.socket, asio::buffer(&c, 1), io);
        if (!ec) head += c;
    }
    if (ec) co_return "http proxy: " + ec.message();
    if (head.rfind("HTTP/1.", 0) != 0 || head.size() < 12 || head[9] != '2')
        co_return "http proxy refused CONNECT " + target + ": " + head.substr(0, head.find('\r'));
    co_return std::string{};
}

awaitable<OutboundResult> run(Attempt& a, const OutboundPolicy& p, std::string host,
                              uint16_t port) {
    OutboundResult res;
    auto addrs = co_await resolve(a, host, &res.error);
    if (addrs.empty()) co_return res;
    std::vector<asio::ip::address> allowed;
    for (const auto& ad : addrs) {
        auto ip = net::IpAddress::parse(ad.to_string());
        auto d = ip ? p.acl.check(*ip, port) : net::AclDecision{false, "unparsable address"};
        if (d.allowed)
            allowed.push_back(ad);
        else if (res.error.empty())
            res.error = "denied by ACL: " + d.reason;
    }
    if (allowed.empty()) {
        res.denied = true;
        co_return res;
    }
    res.error.clear();
    asio::error_code ec;
    bool direct = p.cfg.type == "direct" || !p.cfg.proxy;
    std::vector<tcp::endpoint> eps;
    if (direct) {
        for (const auto& ad : allowed) eps.emplace_back(ad, port);
    } else {
        for (const auto& ad : co_await resolve(a, p.cfg.proxy->host, &res.error))
            eps.emplace_back(ad, p.cfg.proxy->port);
    }
    for (const auto& ep : eps) {
        asio::error_code close_ec;
        a.socket.close(close_ec);
        co_await a.socket.async_connect(ep, asio::redirect_error(asio::use_awaitable, ec));
        if (!ec) break;
    }
    std::string what =
        direct ? host + ":" + std::to_string(port) : "outbound proxy " + p.cfg.proxy->str();
    if (eps.empty() || ec) {
        if (res.error.empty()) res.error = "cannot connect " + what + ": " + ec.message();
        co_return res;
    }
    tcp::endpoint target(allowed.front(), port);
    res.address = (target.address().is_v6() ? "[" + target.address().to_string() + "]"
                                            : target.address().to_string()) +
                  ":" + std::to_string(port);
    if (p.cfg.type == "socks5")
        res.error = co_await socks5_handshake(a, p.cfg, target.address(), port);
    else if (p.cfg.type == "http")
        res.error = co_await http_handshake(a, p.cfg, res.address);
    if (direct)
        res.address =
            a.socket.remote_endpoint(ec).address().to_string() + ":" + std::to_string(port);
    co_return res;
}

}  // namespace

void connect_outbound(asio::io_context& io, std::shared_ptr<const OutboundPolicy> policy,
                      std::string host, uint16_t port, OutboundCallback cb) {
    auto a = std::make_shared<Attempt>(io);
    a->timer.expires_after(std::chrono::seconds(policy->cfg.connect_timeout_s));
    a->timer.async_wait([a](asio::error_code ec) {
        if (ec) return;
        a->timed_out = true;
        a->resolver.cancel();
        asio::error_code ignore;
        a->socket.close(ignore);
    });
    auto label = host + ":" + std::to_string(port);
    asio::co_spawn(io, run(*a, *policy, std::move(host), port),
                   [a, policy, cb = std::move(cb), label](std::exception_ptr e, OutboundResult r) {
                       a->timer.cancel();
                       if (e) r.error = "internal error connecting " + label;
                       if (a->timed_out)
                           r.error = "connecting " + label + " timed out after " +
                                     std::to_string(policy->cfg.connect_timeout_s) + " s";
                       if (!r.error.empty()) {
                           asio::error_code ignore;
                           a->socket.close(ignore);
                       }
                       cb(std::move(r), std::move(a->socket));
                   });
}

}  // namespace ghost::daemon::server

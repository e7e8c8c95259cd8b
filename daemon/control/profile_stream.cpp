#include "daemon/control/profile_stream.hpp"

#include "daemon/transport/tls_transport.hpp"

namespace ghost::daemon {

void open_profile_stream(asio::io_context& io, const config::Profile& profile,
                         std::function<void(std::string, OpenedStream)> done) {
    transport::StreamOptions opts;
    opts.connect_timeout = std::chrono::seconds(profile.ssh.connect_timeout_s);
    opts.keepalive_interval_s = profile.keepalive.interval_s;
    opts.keepalive_count = profile.keepalive.count;
    if (profile.transport.type == "tls") {
        auto t = std::make_shared<transport::TlsTransport>(io, profile, opts);
        t->open_stream([t, &io, done = std::move(done)](transport::ConnectResult r,
                                                        transport::TlsTransport::Stream s) mutable {
            // The transport may not be destroyed from inside its own callback.
            asio::post(io, [t] {});
            if (!s.net) return done(r.error, {});
            nlohmann::json info = {{"peer", r.peer}, {"transport", "tls"}, {"tls", r.info}};
            done({}, OpenedStream{std::move(s.net), std::move(s.leftover), s.websocket,
                                  std::move(info)});
        });
        return;
    }
    auto t = std::make_shared<transport::TcpTransport>(io, *profile.server, opts);
    t->connect([t, &io, done = std::move(done)](transport::ConnectResult r) mutable {
        asio::post(io, [t] {});
        if (!r.fd) return done(r.error, {});
        auto net = std::make_shared<transport::NetStream>(io, std::move(r.fd), nullptr);
        done({}, OpenedStream{std::move(net), {}, false, {{"peer", r.peer}, {"transport", "tcp"}}});
    });
}

void splice_stream(OpenedStream stream, int fd) {
    transport::Pump::start(
        std::move(stream.net), core::UniqueFd(fd),
        stream.websocket ? transport::Pump::Framing::ws_client : transport::Pump::Framing::raw,
        std::move(stream.leftover));
}

}  // namespace ghost::daemon

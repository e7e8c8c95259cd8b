// ServerSession: the datagram channel (common/udp/frame.hpp). A client asks for it with
// the datagram@ghost subsystem on a session channel; the session answers, sends the hello
// and relays the frames through its UdpRelay until the channel or the session ends.

#include "common/udp/frame.hpp"
#include "daemon/server/server_session.hpp"
#include "daemon/server/udp_relay.hpp"
#include "daemon/ssh/datagram_channel.hpp"

namespace ghost::daemon::server {

bool ServerSession::is_datagram_request(ssh_message msg) {
    if (ssh_message_subtype(msg) != SSH_CHANNEL_REQUEST_SUBSYSTEM) return false;
    const char* name = ssh_message_channel_request_subsystem(msg);
    return name && std::string_view(name) == udp::kSubsystem;
}

ServerSession::Answer ServerSession::handle_datagram_request(ssh_message msg, ssh_channel ch) {
    auto refuse = [&](const std::string& why) {
        log_.notice("datagram channel refused: ", why);
        return Answer::refuse;
    };
    const config::Profile& p = shared_->profile;
    if (!p.udp.enabled && !p.icmp.echo) return refuse("udp.enabled and icmp.echo are off");
    if (!entry_->port_forwarding)
        return refuse("not permitted for key '" + entry_->name +
                      "' (no-port-forwarding / restrict)");
    if (datagrams()) return refuse("this session has one already");
    ssh_message_channel_request_reply_success(msg);
    std::erase(session_channels_, ch);
    auto d = std::make_shared<ssh::DatagramChannel>(*this, ch, ssh::WindowTuner::kAcceptedWindow,
                                                    connection_stats().datagrams);
    auto w = weak_self();
    UdpPermits permits = [w](std::string_view host, uint16_t port) {
        auto self = w.lock();
        return self && self->entry_ && self->entry_->permits_open(host, port);
    };
    UdpSendToClient send = [wd = std::weak_ptr<ssh::DatagramChannel>(d)](udp::Datagram dg) {
        auto c = wd.lock();
        return c && c->send(dg);
    };
    udp_ = std::make_shared<UdpRelay>(io_, UdpRelayConfig{p.udp, p.icmp, shared_->udp_flows},
                                      shared_->outbound, std::move(permits), std::move(send), log_);
    d->start([relay = std::weak_ptr<UdpRelay>(udp_)](udp::Datagram dg) {
        if (auto r = relay.lock()) r->on_frame(std::move(dg));
    });
    d->send_hello(udp_->hello());
    adopt_datagrams(std::move(d));
    log_.info("datagram channel open");
    publish();
    return Answer::answered;
}

void ServerSession::datagrams_ended(const std::string& why) {
    log_.debug("datagram channel closed: ", why);
    close_udp();
    publish();
}

void ServerSession::close_udp() {
    if (!udp_) return;
    udp_->close();
    udp_.reset();
}

}  // namespace ghost::daemon::server

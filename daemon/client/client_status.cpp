// ClientCore: the status (profile.status). The worker publishes what it owns (names, keys,
// reconnect state, errors, which listeners exist) whenever that changes; readers on any
// thread take that copy and add the live counters, which are atomics.

#include <algorithm>

#include "daemon/client/client_core.hpp"

namespace ghost::daemon::client {

namespace {

nlohmann::json statuses(const auto& services) {
    nlohmann::json out = nlohmann::json::array();
    for (const auto& s : services) out.push_back(s->status());
    return out;
}

}  // namespace

nlohmann::json ClientCore::status_json() const {
    StatusSnapshot snap = published_.get();
    nlohmann::json out = std::move(snap.fields);
    out["bytes_in"] = stats_->bytes_in.load();
    out["bytes_out"] = stats_->bytes_out.load();
    out["channels_open"] = stats_->channels_open.load();
    out["channels_total"] = stats_->channels_total.load();
    out["keepalive"] = {{"sent", stats_->keepalives_sent.load()},
                        {"answered", stats_->keepalives_answered.load()}};
    out["path"] = stats_->windows.to_json();
    out["datagram_channel"]["counters"] = stats_->datagrams->to_json();
    out["forwards"] = statuses(snap.forwards);
    out["listeners"] = statuses(snap.proxies);
    if (snap.retry_at) {
        auto left = std::chrono::duration_cast<std::chrono::milliseconds>(
            *snap.retry_at - std::chrono::steady_clock::now());
        out["reconnect"]["next_retry_in_s"] = std::max<int64_t>(0, left.count()) / 1000.0;
    }
    if (snap.tun) out["tun"] = snap.tun->status();
    return out;
}

nlohmann::json ClientCore::datagram_status() const {
    const auto& tun = ctx_.profile.tun;
    if (!tun || (tun->udp != "tunnel" && tun->icmp != "tunnel"))
        return {{"state", "off"}, {"why", "only TUN mode uses it (tun.udp, tun.icmp)"}};
    if (!datagram_channel_.expired() && datagram_hello_) return {{"state", "up"}};
    if (!datagram_channel_.expired()) return {{"state", "waiting for the server's hello"}};
    return {{"state", "down"}, {"why", datagram_why_}};
}

void ClientCore::publish() {
    StatusSnapshot snap;
    snap.fields = {{"server", ctx_.profile.server ? ctx_.profile.server->str() : ""},
                   {"transport", ctx_.profile.transport.type},
                   {"user", user_},
                   {"public_key", public_key_},
                   {"host_key_fingerprint", host_key_fp_},
                   {"remote_forwards", remote_forwards_.to_json()},
                   {"reconnect", {{"attempt", snapshot_attempt_}, {"next_retry_in_s", nullptr}}},
                   {"last_error", last_error_},
                   {"datagram_channel", datagram_status()}};
    if (!transport_info_.empty()) snap.fields["tls"] = transport_info_;
    snap.forwards.assign(forwards_.begin(), forwards_.end());
    snap.proxies.assign(proxies_.begin(), proxies_.end());
    snap.tun = tun_;
    if (snapshot_retry_pending_) snap.retry_at = next_retry_at_;
    published_.set(std::move(snap));
}

}  // namespace ghost::daemon::client

// ClientCore: the status snapshot (profile.status), readable from any thread.

#include <algorithm>

#include "daemon/client/client_core.hpp"

namespace ghost::daemon::client {

nlohmann::json ClientCore::status_json() const {
    std::lock_guard lock(mutex_);
    nlohmann::json fw = nlohmann::json::array();
    for (const auto& l : forwards_) fw.push_back(l->status());
    nlohmann::json listeners = nlohmann::json::array();
    for (const auto& l : proxies_) listeners.push_back(l->status());
    nlohmann::json reconnect = {{"attempt", snapshot_attempt_}, {"next_retry_in_s", nullptr}};
    if (snapshot_retry_pending_) {
        auto left = std::chrono::duration_cast<std::chrono::milliseconds>(
            next_retry_at_ - std::chrono::steady_clock::now());
        reconnect["next_retry_in_s"] = std::max<int64_t>(0, left.count()) / 1000.0;
    }
    nlohmann::json out = {{"server", ctx_.profile.server ? ctx_.profile.server->str() : ""},
                          {"transport", ctx_.profile.transport.type},
                          {"user", user_},
                          {"public_key", public_key_},
                          {"host_key_fingerprint", host_key_fp_},
                          {"bytes_in", stats_->bytes_in.load()},
                          {"bytes_out", stats_->bytes_out.load()},
                          {"channels_open", stats_->channels_open.load()},
                          {"channels_total", stats_->channels_total.load()},
                          {"keepalive",
                           {{"sent", stats_->keepalives_sent.load()},
                            {"answered", stats_->keepalives_answered.load()}}},
                          {"path", stats_->windows.to_json()},
                          {"forwards", std::move(fw)},
                          {"listeners", std::move(listeners)},
                          {"remote_forwards", remote_forwards_.to_json()},
                          {"reconnect", std::move(reconnect)},
                          {"last_error", last_error_}};
    if (tun_) out["tun"] = tun_->status();
    if (!transport_info_.empty()) out["tls"] = transport_info_;
    return out;
}

}  // namespace ghost::daemon::client

#include "daemon/ssh/channel_reaper.hpp"

#include <vector>

namespace ghost::daemon::ssh {

void ChannelReaper::watch(ssh_channel ch) {
    if (!ch || entries_.count(ch)) return;
    auto e = std::make_unique<Entry>();
    e->owner = this;
    e->channel = ch;
    e->callbacks.userdata = e.get();
    e->callbacks.channel_data_function = &ChannelReaper::on_data;
    e->callbacks.channel_close_function = &ChannelReaper::on_close;
    ssh_callbacks_init(&e->callbacks);
    // Appended: a bridge's own data callback, installed first, sees the data first.
    ssh_add_channel_callbacks(ch, &e->callbacks);
    entries_.emplace(ch, std::move(e));
}

void ChannelReaper::retire(ssh_channel ch, bool opened) {
    if (!ch) return;
    watch(ch);
    Entry& e = *entries_.at(ch);
    if (e.retired) return;
    e.retired = true;
    e.opened = opened;
    ++retired_;
    // Idempotent in libssh: nothing is sent when our CLOSE went out already.
    if (opened && ssh_is_connected(ssh_channel_get_session(ch)) &&
        ssh_channel_close(ch) == SSH_ERROR)
        e.close_failed = true;
    recount(e);
}

void ChannelReaper::recount(Entry& e) {
    if (due(e) == e.counted) return;
    e.counted = !e.counted;
    if (e.counted)
        ++due_;
    else
        --due_;
}

void ChannelReaper::reap() {
    if (due_ == 0) return;
    std::vector<ssh_channel> done;
    for (auto& [ch, e] : entries_)
        if (due(*e)) done.push_back(ch);
    for (ssh_channel ch : done) {
        auto it = entries_.find(ch);
        ssh_remove_channel_callbacks(ch, &it->second->callbacks);
        entries_.erase(it);
        --retired_;
        --due_;
        // Both CLOSEs are exchanged (or the channel never opened): libssh frees it now,
        // without sending anything.
        ssh_channel_free(ch);
    }
}

void ChannelReaper::clear() {
    for (auto& [ch, e] : entries_) ssh_remove_channel_callbacks(ch, &e->callbacks);
    entries_.clear();
    retired_ = 0;
    due_ = 0;
}

int ChannelReaper::on_data(ssh_session, ssh_channel, void*, uint32_t len, int, void* user) {
    // Until retired the channel's bridge takes the data; afterwards nobody will read it.
    return static_cast<Entry*>(user)->retired ? static_cast<int>(len) : 0;
}

void ChannelReaper::on_close(ssh_session, ssh_channel, void* user) {
    auto* e = static_cast<Entry*>(user);
    e->peer_closed = true;
    e->owner->recount(*e);
}

}  // namespace ghost::daemon::ssh

#include "daemon/ssh/datagram_open.hpp"

#include "common/udp/frame.hpp"

namespace ghost::daemon::ssh {

DatagramOpen::DatagramOpen(ssh_session session, std::shared_ptr<DatagramChannel> channel,
                           std::chrono::steady_clock::time_point deadline)
    : session_(session), channel_(std::move(channel)), deadline_(deadline) {}

DatagramOpen::~DatagramOpen() {
    // Not taken: closed and freed with the session's channels (ssh_channel_free sends
    // CLOSE when the channel is open, and frees an unanswered one with the session).
    if (!channel_) return;
    ssh_channel ch = channel_->channel();
    channel_->detach_for_teardown();
    if (ch && stage_ != Stage::opening) ssh_channel_free(ch);
}

DatagramOpen::Result DatagramOpen::step() {
    if (stage_ == Stage::done) return channel_ ? Result::ready : Result::refused;
    ssh_channel ch = channel_->channel();
    if (stage_ == Stage::opening) {
        int rc = ssh_channel_open_session(ch);
        if (rc == SSH_ERROR)
            return refuse(
                std::string("the server refused a session channel: ") + ssh_get_error(session_),
                true);
        if (rc == SSH_OK) stage_ = Stage::requesting;
    }
    if (stage_ == Stage::requesting) {
        int rc = ssh_channel_request_subsystem(ch, udp::kSubsystem);
        if (rc == SSH_OK) {
            stage_ = Stage::done;
            return Result::ready;
        }
        if (rc == SSH_ERROR)
            return refuse(std::string("the server does not offer datagrams (subsystem ") +
                              udp::kSubsystem + " refused): UDP and ICMP need a ghost server",
                          true);
    }
    if (std::chrono::steady_clock::now() >= deadline_)
        return refuse(
            std::string("no answer from the server to the ") + udp::kSubsystem + " request",
            stage_ != Stage::opening);
    return Result::pending;
}

DatagramOpen::Result DatagramOpen::refuse(std::string why, bool free_channel) {
    why_ = std::move(why);
    // An open still unanswered stays with libssh (freeing it would orphan it on the
    // server); it goes with the session.
    ssh_channel ch = channel_->channel();
    channel_->detach_for_teardown();
    if (free_channel) ssh_channel_free(ch);
    channel_.reset();
    stage_ = Stage::done;
    return Result::refused;
}

std::shared_ptr<DatagramChannel> DatagramOpen::take() {
    return std::move(channel_);
}

}  // namespace ghost::daemon::ssh

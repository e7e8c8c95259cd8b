#include "daemon/client/pending_opens.hpp"

namespace ghost::daemon::client {

PendingOpens::PendingOpens(asio::io_context& io, std::chrono::seconds wait,
                           std::string expired_message)
    : io_(io), wait_(wait), expired_message_(std::move(expired_message)), timer_(io) {}

void PendingOpens::add(ssh::OpenRequest req, ssh::ChannelOpener::OpenCallback cb) {
    waiters_.push_back({std::move(req), std::move(cb), std::chrono::steady_clock::now() + wait_});
    if (waiters_.size() == 1) expire();
}

void PendingOpens::flush(const std::shared_ptr<ssh::ClientSession>& session) {
    auto list = std::move(waiters_);
    waiters_.clear();
    timer_.cancel();
    for (auto& w : list) {
        if (!session || !session->is_up()) {
            waiters_.push_back(std::move(w));
            continue;
        }
        session->open_direct(std::move(w.req), std::move(w.cb));
    }
}

void PendingOpens::fail_all(const std::string& why) {
    auto list = std::move(waiters_);
    waiters_.clear();
    timer_.cancel();
    for (auto& w : list) {
        asio::post(io_, [cb = std::move(w.cb), why] {
            cb(ssh::OpenOutcome::fail(ghost::proxy::OpenFailure::no_session, why), {});
        });
    }
}

void PendingOpens::expire() {
    auto now = std::chrono::steady_clock::now();
    while (!waiters_.empty() && waiters_.front().deadline <= now) {
        auto w = std::move(waiters_.front());
        waiters_.pop_front();
        w.cb(ssh::OpenOutcome::fail(ghost::proxy::OpenFailure::no_session, expired_message_), {});
    }
    if (waiters_.empty()) return;
    timer_.expires_at(waiters_.front().deadline);
    timer_.async_wait([w = weak_from_this()](asio::error_code ec) {
        if (auto self = w.lock(); self && !ec) self->expire();
    });
}

}  // namespace ghost::daemon::client

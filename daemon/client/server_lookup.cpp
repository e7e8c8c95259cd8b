#include "daemon/client/server_lookup.hpp"

#include <algorithm>

namespace ghost::daemon::client {

ServerLookup::ServerLookup(asio::io_context& io) : resolver_(io), timer_(io) {}

void ServerLookup::start(const std::string& host, uint16_t port, std::chrono::seconds timeout,
                         Done done) {
    const uint64_t gen = ++gen_;
    done_ = std::move(done);
    auto w = weak_from_this();
    timer_.expires_after(timeout);
    timer_.async_wait([w, gen, s = timeout.count()](asio::error_code ec) {
        auto self = w.lock();
        if (!self || ec) return;
        self->finish(gen, "no answer within ssh.connect_timeout (" + std::to_string(s) + " s)", {});
    });
    resolver_.async_resolve(
        host, std::to_string(port),
        [w, gen](asio::error_code ec, asio::ip::tcp::resolver::results_type results) {
            auto self = w.lock();
            if (!self) return;
            if (ec) return self->finish(gen, ec.message(), {});
            std::vector<asio::ip::address> found;
            for (const auto& r : results) {
                auto a = r.endpoint().address();
                if (std::find(found.begin(), found.end(), a) == found.end()) found.push_back(a);
            }
            if (found.empty()) return self->finish(gen, "no addresses", {});
            self->finish(gen, {}, std::move(found));
        });
}

void ServerLookup::cancel() {
    ++gen_;
    done_ = nullptr;
    timer_.cancel();
    resolver_.cancel();
}

void ServerLookup::finish(uint64_t gen, std::string error,
                          std::vector<asio::ip::address> addresses) {
    if (gen != gen_ || !done_) return;
    ++gen_;
    timer_.cancel();
    auto done = std::move(done_);
    done_ = nullptr;
    done(std::move(error), std::move(addresses));
}

}  // namespace ghost::daemon::client

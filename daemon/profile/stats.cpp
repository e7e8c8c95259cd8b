#include "daemon/profile/stats.hpp"

namespace ghost::daemon {

std::optional<nlohmann::json> ByteCounters::event_if_moved(const std::string& name,
                                                           const nlohmann::json& runner_status) {
    uint64_t in = runner_status.value("bytes_in", uint64_t{0});
    uint64_t out = runner_status.value("bytes_out", uint64_t{0});
    if (in == in_ && out == out_) return std::nullopt;
    in_ = in;
    out_ = out;
    return nlohmann::json{
        {"type", "stats"}, {"profile", name}, {"bytes_in", in}, {"bytes_out", out}};
}

StatsTimer::StatsTimer(asio::io_context& io, std::function<void()> tick)
    : timer_(io), tick_(std::move(tick)) {}

void StatsTimer::start() {
    timer_.expires_after(kInterval);
    timer_.async_wait([this](asio::error_code ec) {
        if (ec || stopped_) return;
        tick_();
        start();
    });
}

void StatsTimer::stop() {
    stopped_ = true;
    timer_.cancel();
}

}  // namespace ghost::daemon

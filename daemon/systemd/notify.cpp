#include "daemon/systemd/notify.hpp"

#include <systemd/sd-daemon.h>

#include <cstdlib>
#include <ctime>
#include <string>

namespace ghost::daemon::notify {
namespace {

// A status line is one line: a newline would start a new (unintended) assignment.
std::string one_line(std::string_view text) {
    std::string out(text);
    for (char& c : out) {
        if (c == '\n' || c == '\r') c = ' ';
    }
    return out;
}

void send(const std::string& state) {
    // unset_environment = 0: hooks we spawn must not inherit NOTIFY_SOCKET, but that is
    // the spawner's job; keeping it lets every later call here work.
    sd_notify(0, state.c_str());
}

uint64_t monotonic_usec() {
    timespec ts{};
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return static_cast<uint64_t>(ts.tv_sec) * 1000000u + static_cast<uint64_t>(ts.tv_nsec) / 1000u;
}

}  // namespace

bool enabled() {
    const char* socket = std::getenv("NOTIFY_SOCKET");
    return socket != nullptr && *socket != '\0';
}

void ready(std::string_view status) {
    send("READY=1\nSTATUS=" + one_line(status));
}

void status(std::string_view text) {
    send("STATUS=" + one_line(text));
}

void reloading() {
    send("RELOADING=1\nSTATUS=Reloading configuration\nMONOTONIC_USEC=" +
         std::to_string(monotonic_usec()));
}

void stopping() {
    send("STOPPING=1\nSTATUS=Shutting down");
}

Watchdog::Watchdog(asio::io_context& io) : timer_(io) {}

Watchdog::~Watchdog() {
    stop();
}

std::chrono::microseconds Watchdog::start() {
    uint64_t usec = 0;
    if (running_ || sd_watchdog_enabled(0, &usec) <= 0 || usec == 0) return interval_;
    interval_ = std::chrono::microseconds(usec);
    running_ = true;
    send("WATCHDOG=1");
    arm();
    return interval_;
}

void Watchdog::stop() {
    running_ = false;
    timer_.cancel();
}

void Watchdog::arm() {
    timer_.expires_after(interval_ / 2);
    timer_.async_wait([this](const std::error_code& ec) {
        if (ec || !running_) return;  // operation_aborted after stop() is the normal exit
        send("WATCHDOG=1");
        arm();
    });
}

}  // namespace ghost::daemon::notify

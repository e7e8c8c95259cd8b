// The JSON-RPC socket connection: one request line out, lines in until the matching id.

#include <poll.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include <cerrno>
#include <chrono>
#include <cstring>
#include <iostream>
#include <utility>

#include "common/json/bounded_json.hpp"
#include "common/rpc/jsonrpc.hpp"
#include "ctl/ctl.hpp"

namespace ghost::ctl {
namespace {

class SocketConnection : public Connection {
  public:
    explicit SocketConnection(const Options& o) : opts_(o), framer_(64 << 20) { open(); }
    ~SocketConnection() override {
        if (fd_ >= 0) ::close(fd_);
    }

    Answer call(const std::string& method, const nlohmann::json& params) override {
        int id = next_id_++;
        send(
            rpc::to_line({{"jsonrpc", "2.0"}, {"id", id}, {"method", method}, {"params", params}}));
        auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(opts_.timeout_s);
        for (;;) {
            nlohmann::json msg = next_message(deadline);
            if (!msg.contains("id") || msg["id"] != id) {
                if (msg.contains("error") && msg["id"].is_null()) return to_answer(std::move(msg));
                continue;  // a notification
            }
            return to_answer(std::move(msg));
        }
    }

    void follow(const std::function<bool(const nlohmann::json&)>& on_event) override {
        Answer a = call("events.subscribe", nlohmann::json::object());
        if (!a.ok) std::exit(report_error(a));
        for (;;) {
            nlohmann::json msg = next_message(std::chrono::steady_clock::time_point::max());
            if (msg.value("method", "") == "event" && !on_event(msg["params"])) return;
        }
    }

    int take_stream(std::string* buffered) override {
        *buffered = framer_.take_rest();
        return std::exchange(fd_, -1);
    }

  private:
    void open() {
        fd_ = ::socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
        sockaddr_un addr{};
        addr.sun_family = AF_UNIX;
        if (opts_.socket.size() >= sizeof addr.sun_path)
            std::exit(fail(exit_code::usage, "socket path too long: " + opts_.socket));
        std::strcpy(addr.sun_path, opts_.socket.c_str());
        if (::connect(fd_, reinterpret_cast<sockaddr*>(&addr), sizeof addr) == 0) return;
        int err = errno;
        if (err == ENOENT || err == ECONNREFUSED) {
            std::exit(fail(exit_code::unreachable,
                           "ghostd is not running (nothing listens on " + opts_.socket +
                               ").\nStart it with: sudo systemctl start ghostd   (or in a "
                               "terminal: sudo ghostd --foreground)"));
        }
        if (err == EACCES)
            std::exit(
                fail(exit_code::denied, "cannot open " + opts_.socket + ": permission denied"));
        std::exit(fail(exit_code::unreachable,
                       "cannot connect to " + opts_.socket + ": " + std::strerror(err)));
    }

    void send(const std::string& line) {
        size_t off = 0;
        while (off < line.size()) {
            ssize_t n = ::send(fd_, line.data() + off, line.size() - off, MSG_NOSIGNAL);
            if (n < 0 && errno == EINTR) continue;
            if (n <= 0) exit_lost_while_sending();
            off += static_cast<size_t>(n);
        }
    }

    /// ghostd may have turned us away at the door (a limit): its one-line answer says why.
    [[noreturn]] void exit_lost_while_sending() {
        char buf[4096];
        ssize_t n = ::recv(fd_, buf, sizeof buf, MSG_DONTWAIT);
        if (n > 0) framer_.feed(std::string_view(buf, static_cast<size_t>(n)));
        auto line = framer_.next_line();
        auto msg = line ? nlohmann::json::parse(*line, nullptr, false) : nlohmann::json();
        if (msg.is_object() && msg.contains("error")) std::exit(report_error(to_answer(msg)));
        std::exit(fail(exit_code::unreachable, "connection to ghostd lost while sending"));
    }

    nlohmann::json next_message(std::chrono::steady_clock::time_point deadline) {
        for (;;) {
            if (auto line = framer_.next_line()) {
                auto parsed = bounded_json::parse(*line);
                if (!parsed.ok() || !parsed.value.is_object())
                    std::exit(
                        fail(exit_code::protocol, "ghostd sent an invalid message" +
                                                      (parsed.ok() ? "" : ": " + parsed.message)));
                return std::move(parsed.value);
            }
            int wait_ms = -1;
            if (deadline != std::chrono::steady_clock::time_point::max()) {
                auto left = std::chrono::duration_cast<std::chrono::milliseconds>(
                    deadline - std::chrono::steady_clock::now());
                if (left.count() <= 0)
                    std::exit(fail(exit_code::protocol,
                                   "timed out after " + std::to_string(opts_.timeout_s) +
                                       "s waiting for ghostd (use --timeout)"));
                wait_ms = static_cast<int>(left.count());
            }
            pollfd p{fd_, POLLIN, 0};
            int r = ::poll(&p, 1, wait_ms);
            if (r < 0 && errno == EINTR) continue;
            if (r == 0) continue;
            char buf[65536];
            ssize_t n = ::recv(fd_, buf, sizeof buf, 0);
            if (n < 0 && errno == EINTR) continue;
            if (n <= 0) std::exit(fail(exit_code::unreachable, "ghostd closed the connection"));
            framer_.feed(std::string_view(buf, static_cast<size_t>(n)));
        }
    }

    static Answer to_answer(nlohmann::json msg) {
        Answer a;
        if (auto result = msg.find("result"); result != msg.end()) {
            a.ok = true;
            a.result = std::move(*result);
            return a;
        }
        const auto& e = msg.contains("error") && msg["error"].is_object()
                            ? msg["error"]
                            : nlohmann::json::object();
        a.code = e.value("code", 0);
        a.message = e.value("message", "unknown error");
        a.data = e.value("data", nlohmann::json());
        return a;
    }

    Options opts_;
    int fd_ = -1;
    int next_id_ = 1;
    rpc::LineFramer framer_;
};

}  // namespace

std::unique_ptr<Connection> connect_socket(const Options& o) {
    return std::make_unique<SocketConnection>(o);
}

std::unique_ptr<Connection> connect(const Options& o) {
    return o.dbus ? connect_dbus(o) : connect_socket(o);
}

}  // namespace ghost::ctl

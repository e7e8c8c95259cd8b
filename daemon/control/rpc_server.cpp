#include "daemon/control/rpc_server.hpp"

#include <grp.h>
#include <pwd.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <deque>
#include <optional>

#include "common/rpc/authz.hpp"
#include "common/rpc/jsonrpc.hpp"
#include "daemon/core/log.hpp"

namespace ghost::daemon {

namespace {
using stream = asio::local::stream_protocol;

std::optional<gid_t> lookup_group(const std::string& name) {
    std::vector<char> buf(16384);
    struct group gr {};
    struct group* res = nullptr;
    if (getgrnam_r(name.c_str(), &gr, buf.data(), buf.size(), &res) != 0 || !res) return std::nullopt;
    return res->gr_gid;
}

/// SO_PEERCRED plus the peer process's supplementary groups (SO_PEERGROUPS), so the
/// decision follows the caller's actual credentials, like file permissions do.
rpc::Caller peer_caller(int fd, std::string* user) {
    rpc::Caller c;
    struct ucred cred {};
    socklen_t len = sizeof cred;
    if (getsockopt(fd, SOL_SOCKET, SO_PEERCRED, &cred, &len) != 0) return c;
    c.uid = cred.uid;
    c.gid = cred.gid;
    c.pid = cred.pid;
    std::vector<gid_t> groups(64);
    socklen_t glen = static_cast<socklen_t>(groups.size() * sizeof(gid_t));
    if (getsockopt(fd, SOL_SOCKET, SO_PEERGROUPS, groups.data(), &glen) != 0 && errno == ERANGE &&
        glen <= 65536 * sizeof(gid_t)) {
        groups.resize(glen / sizeof(gid_t));
        if (getsockopt(fd, SOL_SOCKET, SO_PEERGROUPS, groups.data(), &glen) != 0) glen = 0;
    }
    groups.resize(glen / sizeof(gid_t));
    c.groups = std::move(groups);
    std::vector<char> buf(16384);
    struct passwd pw {};
    struct passwd* res = nullptr;
    *user = "uid " + std::to_string(cred.uid);
    if (getpwuid_r(cred.uid, &pw, buf.data(), buf.size(), &res) == 0 && res) *user = res->pw_name;
    return c;
}
}  // namespace

/// One client of the control socket.
class RpcConnection : public std::enable_shared_from_this<RpcConnection> {
public:
    RpcConnection(RpcServer& server, stream::socket socket)
        : server_(server), socket_(std::move(socket)), timer_(server.control_),
          framer_(server.limits_.max_request_bytes) {}

    void start() {
        caller_ = peer_caller(socket_.native_handle(), &user_);
        control_gid_ = lookup_group(server_.group_);
        arm_idle();
        read();
    }

    /// Answers one message and closes (used when over the client limit).
    void reject(const nlohmann::json& msg) {
        closing_ = true;
        send(rpc::to_line(msg));
    }

    void close() {
        if (closed_) return;
        closed_ = true;
        if (subscription_) server_.api_.unsubscribe(*subscription_);
        asio::error_code ec;
        timer_.cancel();
        socket_.close(ec);
        server_.forget(shared_from_this());
    }

private:
    void read() {
        if (closed_ || closing_ || streaming_ || reading_ || inflight_ >= server_.limits_.max_inflight) return;
        reading_ = true;
        socket_.async_read_some(asio::buffer(buf_), [self = shared_from_this()](asio::error_code ec, size_t n) {
            self->reading_ = false;
            if (ec) return self->close();  // EOF or error: a client leaving mid-request is fine
            self->arm_idle();
            self->on_data(std::string_view(self->buf_.data(), n));
        });
    }

    void on_data(std::string_view data) {
        if (!framer_.feed(data)) return too_large();
        while (auto line = framer_.next_line()) {
            if (line->find_first_not_of(" \t") == std::string::npos) continue;
            handle(*line);
            if (closing_ || closed_) return;
        }
        if (framer_.overflowed()) return too_large();
        read();
    }

    void too_large() {
        closing_ = true;
        send(rpc::to_line(rpc::make_error(nullptr, errc::request_too_large,
                                          "request too large: a line may hold at most " +
                                              std::to_string(server_.limits_.max_request_bytes) + " bytes")));
    }

    void handle(const std::string& line) {
        auto parsed = rpc::parse_request(line);
        if (!parsed.request) return send(rpc::to_line(parsed.error_response));
        rpc::Request req = std::move(*parsed.request);
        const CoreApi::Method* m = server_.api_.find(req.method);
        if (!m) return answer(req, ApiResult::failure(errc::method_not_found, "method not found: " + req.method));
        if (rpc::authorize(caller_, m->mutating, control_gid_) == rpc::Decision::deny) {
            log::global().notice("control: denied ", req.method, " to ", user_, " (pid ", caller_.pid, ")");
            return answer(req, ApiResult::failure(errc::permission_denied,
                                                  rpc::denial_message(req.method, server_.group_, user_)));
        }
        if (req.method == "events.subscribe") return subscribe(req);
        if (req.method == "profile.connect") return connect_stream(std::move(req));
        ++inflight_;
        std::weak_ptr<RpcConnection> weak = shared_from_this();
        nlohmann::json params = std::move(req.params);  // the reply keeps the id, not the tree
        server_.api_.call(req.method, params, [weak, req](ApiResult r) {
            auto self = weak.lock();
            if (!self) return;
            --self->inflight_;
            self->answer(req, std::move(r));
            self->read();
        });
    }

    void subscribe(const rpc::Request& req) {
        if (!subscription_) {
            std::weak_ptr<RpcConnection> weak = shared_from_this();
            subscription_ = server_.api_.subscribe([weak](const nlohmann::json& ev) {
                if (auto self = weak.lock()) self->send(rpc::to_line(rpc::make_notification("event", ev)));
            });
        }
        answer(req, ApiResult::success({{"subscribed", true}}));
    }

    /// profile.connect: once the transport is open and the answer is written, this
    /// connection stops speaking JSON-RPC and carries the transport's bytes.
    void connect_stream(rpc::Request req) {
        streaming_ = true;  // no further requests are read
        ++inflight_;
        std::weak_ptr<RpcConnection> weak = shared_from_this();
        nlohmann::json params = std::move(req.params);  // the reply keeps the id, not the tree
        server_.api_.connect_stream(params, [weak, req](ApiResult r, OpenedStream s) {
            auto self = weak.lock();
            if (!self) return;
            --self->inflight_;
            if (!r.ok || !s.net) {
                self->streaming_ = false;
                self->answer(req, std::move(r));
                return self->read();
            }
            log::global().info("control: ", self->user_, " (pid ", self->caller_.pid, ") opened a stream to ",
                               r.result.value("server", ""));
            self->stream_ = std::make_unique<OpenedStream>(std::move(s));
            self->answer(req, std::move(r));
        });
    }

    /// The answer is out: hand the socket to a pump on the stream's thread.
    void hand_over() {
        asio::error_code ec;
        int fd = socket_.release(ec);
        auto s = std::move(stream_);
        if (fd >= 0 && s) {
            asio::io_context& io = s->net->io();
            asio::post(io, [s = std::move(s), fd]() mutable { splice_stream(std::move(*s), fd); });
        }
        close();
    }

    void answer(const rpc::Request& req, ApiResult r) {
        if (req.is_notification) return;
        send(rpc::to_line(r.ok ? rpc::make_result(req.id, std::move(r.result))
                               : rpc::make_error(req.id, r.error.code, std::move(r.error.message),
                                                 std::move(r.error.data))));
    }

    void send(std::string line) {
        if (closed_) return;
        queued_bytes_ += line.size();
        if (queued_bytes_ > server_.limits_.max_queued_bytes) {
            log::global().warning("control: dropping client ", user_, ": not reading its replies");
            return close();
        }
        out_.push_back(std::move(line));
        if (!writing_) write();
    }

    void write() {
        if (out_.empty()) {
            if (stream_) return hand_over();
            if (closing_) close();
            return;
        }
        writing_ = true;
        asio::async_write(socket_, asio::buffer(out_.front()), [self = shared_from_this()](asio::error_code ec, size_t) {
            self->writing_ = false;
            if (ec) return self->close();
            self->queued_bytes_ -= self->out_.front().size();
            self->out_.pop_front();
            self->write();
        });
    }

    void arm_idle() {
        timer_.expires_after(server_.limits_.idle_timeout);
        timer_.async_wait([weak = std::weak_ptr<RpcConnection>(shared_from_this())](asio::error_code ec) {
            auto self = weak.lock();
            if (ec || !self || self->closed_) return;
            if (self->subscription_ || self->inflight_ > 0) return self->arm_idle();
            self->close();
        });
    }

    RpcServer& server_;
    stream::socket socket_;
    asio::steady_timer timer_;
    rpc::LineFramer framer_;
    std::array<char, 16384> buf_{};
    rpc::Caller caller_;
    std::string user_;
    bool streaming_ = false;               // profile.connect in progress or done
    std::unique_ptr<OpenedStream> stream_;  // handed over once the answer is written
    std::optional<gid_t> control_gid_;
    std::deque<std::string> out_;
    size_t queued_bytes_ = 0;
    size_t inflight_ = 0;
    std::optional<uint64_t> subscription_;
    bool reading_ = false, writing_ = false, closing_ = false, closed_ = false;
};

RpcServer::RpcServer(asio::io_context& control, CoreApi& api, std::string socket_path, Limits limits,
                     std::string control_group)
    : control_(control), api_(api), path_(std::move(socket_path)), limits_(limits),
      group_(std::move(control_group)), acceptor_(control) {}

RpcServer::~RpcServer() { stop(); }

bool RpcServer::start(std::string* error) {
    // A live daemon answering on the path wins; a stale socket file is replaced.
    {
        stream::socket probe(control_);
        asio::error_code ec;
        probe.connect(stream::endpoint(path_), ec);
        if (!ec) {
            *error = "another ghostd is already listening on " + path_;
            return false;
        }
        ::unlink(path_.c_str());
    }
    asio::error_code ec;
    acceptor_.open(stream(), ec);
    if (!ec) acceptor_.bind(stream::endpoint(path_), ec);
    if (!ec) acceptor_.listen(asio::socket_base::max_listen_connections, ec);
    if (ec) {
        *error = "cannot listen on " + path_ + ": " + ec.message();
        return false;
    }
    ::chmod(path_.c_str(), 0666);  // world-connectable; authorisation is per request
    accept();
    return true;
}

void RpcServer::stop() {
    if (stopped_) return;
    stopped_ = true;
    asio::error_code ec;
    acceptor_.close(ec);
    ::unlink(path_.c_str());
    auto conns = connections_;
    for (auto& c : conns) c->close();
}

void RpcServer::set_control_group(std::string group) { group_ = std::move(group); }

void RpcServer::accept() {
    acceptor_.async_accept([this](asio::error_code ec, stream::socket s) {
        if (stopped_) return;
        if (!ec) {
            auto c = std::make_shared<RpcConnection>(*this, std::move(s));
            connections_.insert(c);
            if (connections_.size() > limits_.max_clients) {
                c->reject(rpc::make_error(nullptr, errc::too_many_clients,
                                          "too many clients (limit " + std::to_string(limits_.max_clients) +
                                              "); try again later"));
            } else {
                c->start();
            }
        } else if (ec == asio::error::no_descriptors) {
            log::global().warning("control: accept: ", ec.message());
        }
        accept();
    });
}

}  // namespace ghost::daemon

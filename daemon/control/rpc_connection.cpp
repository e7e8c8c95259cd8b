#include "daemon/control/rpc_connection.hpp"

#include <pwd.h>

#include <vector>

#include "common/text/printable_json.hpp"
#include "daemon/control/rpc_server.hpp"
#include "daemon/core/log.hpp"

namespace ghost::daemon {

namespace {
using Verdict = rpc::SlotPool::Verdict;

constexpr size_t kWriteBatch = 64;  // lines per write (IOV_MAX is 1024)
}  // namespace

rpc::LineQueue::Line answer_line(const nlohmann::json& message) {
    std::string line = text::dump_printable(message);
    line += '\n';
    return std::make_shared<const std::string>(std::move(line));
}

RpcConnection::RpcConnection(RpcServer& server, asio::local::stream_protocol::socket socket,
                             RpcPeer peer)
    : server_(server),
      socket_(std::move(socket)),
      timer_(server.control_),
      framer_(server.limits_.max_request_bytes),
      out_(server.limits_.max_queued_lines, server.limits_.max_queued_bytes),
      peer_(std::move(peer)) {}

void RpcConnection::start() {
    arm_idle();
    resume();
}

void RpcConnection::close() {
    if (closed_) return;
    closed_ = true;
    server_.clients_.release(uid(), privileged());
    if (subscribed_) server_.subscriptions_.release(uid(), privileged());
    for (; inflight_ > 0; --inflight_) server_.request_done(uid(), privileged());
    asio::error_code ec;
    timer_.cancel();
    socket_.close(ec);
    server_.forget(shared_from_this());
}

const std::string& RpcConnection::user() {
    if (!user_.empty()) return user_;
    user_ = "uid " + std::to_string(uid());
    std::vector<char> buf(16384);
    struct passwd pw {};
    struct passwd* res = nullptr;
    if (getpwuid_r(uid(), &pw, buf.data(), buf.size(), &res) == 0 && res) user_ = res->pw_name;
    return user_;
}

bool RpcConnection::may_take_request() const {
    return inflight_ < server_.limits_.max_inflight &&
           server_.requests_.check(uid(), privileged()) == Verdict::granted;
}

void RpcConnection::resume() {
    if (processing_) return;  // the loop below is running further up the stack
    processing_ = true;
    while (!busy() && may_take_request()) {
        auto line = framer_.next_line();
        if (!line) break;
        if (line->find_first_not_of(" \t") == std::string::npos) continue;
        handle(*line);
    }
    processing_ = false;
    if (closed_ || closing_) return;
    if (framer_.overflowed()) return too_large();
    read();
}

void RpcConnection::read() {
    if (busy() || reading_ || !may_take_request()) return;
    reading_ = true;
    socket_.async_read_some(
        asio::buffer(buf_), [self = shared_from_this()](asio::error_code ec, size_t n) {
            self->reading_ = false;
            if (ec) return self->close();  // EOF or error: a client leaving mid-request is fine
            self->arm_idle();
            if (!self->framer_.feed(std::string_view(self->buf_.data(), n)))
                return self->too_large();
            self->resume();
        });
}

void RpcConnection::too_large() {
    closing_ = true;
    send(answer_line(rpc::make_error(nullptr, errc::request_too_large,
                                     "request too large: a line may hold at most " +
                                         std::to_string(server_.limits_.max_request_bytes) +
                                         " bytes")));
}

void RpcConnection::handle(const std::string& line) {
    auto parsed = rpc::parse_request(line);
    if (!parsed.request) return send(answer_line(parsed.error_response));
    rpc::Request req = std::move(*parsed.request);
    const CoreApi::Method* m = server_.api_.find(req.method);
    if (!m)
        return answer(
            req, ApiResult::failure(errc::method_not_found, "method not found: " + req.method));
    if (rpc::authorize(peer_.caller, m->mutating, server_.control_gid_) == rpc::Decision::deny) {
        log::global().notice("control: denied ", req.method, " to ", user(), " (pid ",
                             peer_.caller.pid, ")");
        return answer(req,
                      ApiResult::failure(errc::permission_denied,
                                         rpc::denial_message(req.method, server_.group_, user())));
    }
    if (req.method == "events.subscribe") return subscribe(req);
    if (req.method == "profile.connect") return connect_stream(std::move(req));
    call(std::move(req));
}

void RpcConnection::begin_request() {
    ++inflight_;
    server_.requests_.acquire(uid(), privileged());  // may_take_request() said yes
}

void RpcConnection::end_request() {
    --inflight_;
    server_.request_done(uid(), privileged());
}

void RpcConnection::call(rpc::Request req) {
    begin_request();
    std::weak_ptr<RpcConnection> weak = shared_from_this();
    const std::string method = req.method;
    const nlohmann::json params = std::move(req.params);
    server_.api_.call(method, params, [weak, req = std::move(req)](ApiResult r) {
        auto self = weak.lock();
        if (!self || self->closed_) return;  // close() gave the slot back
        self->end_request();
        self->answer(req, std::move(r));
        self->resume();
    });
}

void RpcConnection::subscribe(const rpc::Request& req) {
    if (!subscribed_) {
        Verdict v = server_.subscriptions_.acquire(uid(), privileged());
        if (v != Verdict::granted)
            return answer(req, ApiResult::failure(errc::too_many_clients,
                                                  server_.subscriptions_.refusal(
                                                      v, "event subscriptions", uid())));
        subscribed_ = true;
        server_.subscribers_.push_back(shared_from_this());
    }
    answer(req, ApiResult::success({{"subscribed", true}}));
}

/// profile.connect: once the transport is open and the answer is written, this
/// connection stops speaking JSON-RPC and carries the transport's bytes.
void RpcConnection::connect_stream(rpc::Request req) {
    streaming_ = true;  // no further requests are read
    begin_request();
    std::weak_ptr<RpcConnection> weak = shared_from_this();
    const nlohmann::json params = std::move(req.params);
    server_.api_.connect_stream(params, [weak, req = std::move(req)](ApiResult r, OpenedStream s) {
        auto self = weak.lock();
        if (!self || self->closed_) return;
        self->end_request();
        if (!r.ok || !s.net) {
            self->streaming_ = false;
            self->answer(req, std::move(r));
            return self->resume();
        }
        log::global().info("control: ", self->user(), " (pid ", self->peer_.caller.pid,
                           ") opened a stream to ", r.result.value("server", ""));
        self->stream_ = std::make_unique<OpenedStream>(std::move(s));
        self->answer(req, std::move(r));
    });
}

/// The answer is out: hand the socket to a pump on the stream's thread.
void RpcConnection::hand_over() {
    asio::error_code ec;
    int fd = socket_.release(ec);
    auto s = std::move(stream_);
    if (fd >= 0 && s) {
        asio::io_context& io = s->net->io();
        asio::post(io, [s = std::move(s), fd]() mutable { splice_stream(std::move(*s), fd); });
    }
    close();
}

void RpcConnection::answer(const rpc::Request& req, ApiResult r) {
    if (req.is_notification) return;
    send(answer_line(r.ok ? rpc::make_result(req.id, std::move(r.result))
                          : rpc::make_error(req.id, r.error.code, std::move(r.error.message),
                                            std::move(r.error.data))));
}

void RpcConnection::send(rpc::LineQueue::Line line) {
    if (closed_) return;
    if (!out_.push(std::move(line))) {
        log::global().warning("control: dropping client ", user(), " (pid ", peer_.caller.pid,
                              "): not reading its replies or events (", out_.size(), " lines, ",
                              out_.bytes(), " bytes queued)");
        return close();
    }
    if (!writing_) write();
}

void RpcConnection::write() {
    if (out_.empty()) {
        if (stream_) return hand_over();
        if (closing_) close();
        return;
    }
    // Everything queued (up to a batch) in one write: a burst of events costs one system
    // call per subscriber, not one per event.
    std::vector<asio::const_buffer> batch;
    for (size_t i = 0; i < out_.size() && i < kWriteBatch; ++i)
        batch.push_back(asio::buffer(out_.at(i)));
    writing_ = true;
    asio::async_write(socket_, batch,
                      [self = shared_from_this(), n = batch.size()](asio::error_code ec, size_t) {
                          self->writing_ = false;
                          if (ec || self->closed_) return self->close();
                          for (size_t i = 0; i < n; ++i) self->out_.pop();
                          self->write();
                      });
}

void RpcConnection::arm_idle() {
    timer_.expires_after(server_.limits_.idle_timeout);
    timer_.async_wait(
        [weak = std::weak_ptr<RpcConnection>(shared_from_this())](asio::error_code ec) {
            auto self = weak.lock();
            if (ec || !self || self->closed_) return;
            if (self->subscribed_ || self->inflight_ > 0) return self->arm_idle();
            self->close();
        });
}

}  // namespace ghost::daemon

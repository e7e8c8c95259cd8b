#pragma once
/// The API front doors (SOCKS5, HTTP CONNECT, -L forwards, later TUN) use to get a TCP
/// flow carried over the client's SSH session as a direct-tcpip channel.
///
/// Threading: everything here lives on ChannelOpener::io(), the worker that owns the SSH
/// session. Accept local sockets on that io_context, call open() from its thread; the
/// callback runs on the same thread and never inside open() itself.
///
/// Usage:
///   opener.open({host, port, peer_ip, peer_port}, [sock = std::move(s)](OpenOutcome o,
///               ChannelHandle ch) mutable {
///       if (!o.ok()) { reply_error(o); return; }        // sock still yours
///       ch.attach(std::move(sock), std::move(early));   // bridging starts
///   });
/// Dropping a ChannelHandle that was never attached closes the channel.

#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <string_view>
#include <utility>

#include <asio.hpp>
#include <nlohmann/json.hpp>

namespace ghost::daemon::proxy {

/// Where the channel should go and who asked (the direct-tcpip originator fields).
struct OpenRequest {
    std::string host;  // name or address, resolved on the server side
    uint16_t port = 0;
    std::string origin_host = "127.0.0.1";
    uint16_t origin_port = 0;
};

/// Why an open failed, in terms a front door can map to its own reply codes.
enum class OpenFailure {
    none,               // success
    refused,            // target refused the connection (SOCKS 0x05)
    unreachable,        // no route / name did not resolve (SOCKS 0x03/0x04)
    timeout,            // no answer from the server in time (SOCKS 0x04 / TTL expired)
    denied,             // server policy forbids it (SOCKS 0x02)
    no_session,         // SSH session not up and did not come up within pending_wait
    resource_shortage,  // server or local limits (too many channels / waiters)
    general,            // anything else (SOCKS 0x01)
};

/// "refused", "unreachable", ... for logs and status.
inline std::string_view to_string(OpenFailure f) {
    switch (f) {
        case OpenFailure::none:
            return "ok";
        case OpenFailure::refused:
            return "refused";
        case OpenFailure::unreachable:
            return "unreachable";
        case OpenFailure::timeout:
            return "timeout";
        case OpenFailure::denied:
            return "denied";
        case OpenFailure::no_session:
            return "no_session";
        case OpenFailure::resource_shortage:
            return "resource_shortage";
        case OpenFailure::general:
            return "general";
    }
    return "general";
}

/// Result of ChannelOpener::open.
struct OpenOutcome {
    OpenFailure failure = OpenFailure::none;
    std::string message;          // human: "connect to 10.0.0.5:80 refused by server: ..."
    uint32_t ssh_reason = 0;      // SSH_OPEN_* reason code from the server, 0 if none
    std::string ssh_description;  // the server's description text, if any

    bool ok() const { return failure == OpenFailure::none; }
    static OpenOutcome success() { return {}; }
    static OpenOutcome fail(OpenFailure f, std::string msg, uint32_t reason = 0,
                            std::string description = {}) {
        return {f, std::move(msg), reason, std::move(description)};
    }
};

/// An open channel waiting to be bridged to a local socket. Move-only; one owner.
class ChannelHandle {
  public:
    /// Implemented by the SSH engine.
    class Impl {
      public:
        virtual ~Impl() = default;
        /// Starts bridging `socket` <-> channel; `early_data` is sent to the channel first.
        virtual void attach(asio::ip::tcp::socket socket, std::string early_data) = 0;
        /// Closes a channel nobody will attach.
        virtual void abandon() = 0;
        /// Ends an attached flow now: resets the local socket and closes the channel.
        virtual void terminate(const std::string& why) = 0;
    };

    ChannelHandle() = default;
    explicit ChannelHandle(std::shared_ptr<Impl> impl) : impl_(std::move(impl)) {}
    ChannelHandle(ChannelHandle&& o) noexcept : impl_(std::move(o.impl_)) {}
    ChannelHandle& operator=(ChannelHandle&& o) noexcept {
        if (this != &o) {
            reset();
            impl_ = std::move(o.impl_);
        }
        return *this;
    }
    ChannelHandle(const ChannelHandle&) = delete;
    ChannelHandle& operator=(const ChannelHandle&) = delete;
    ~ChannelHandle() { reset(); }

    /// True while the handle holds an un-attached channel.
    explicit operator bool() const { return impl_ != nullptr; }

    /// Hands the local socket (on io()'s executor) to the engine; bridging starts now.
    /// The handle is empty afterwards. Must be called on the opener's thread. Returns the
    /// bridged flow, to end it early with Impl::terminate; it expires once the flow is over.
    std::weak_ptr<Impl> attach(asio::ip::tcp::socket socket, std::string early_data = {}) {
        std::weak_ptr<Impl> flow = impl_;
        if (auto impl = std::move(impl_)) impl->attach(std::move(socket), std::move(early_data));
        return flow;
    }

    /// Closes the channel without bridging (same as dropping the handle).
    void reset() {
        if (auto impl = std::move(impl_)) impl->abandon();
    }

  private:
    std::shared_ptr<Impl> impl_;
};

/// Opens direct-tcpip channels over the profile's SSH session.
class ChannelOpener {
  public:
    using OpenCallback = std::function<void(OpenOutcome, ChannelHandle)>;

    virtual ~ChannelOpener() = default;

    /// The worker io_context owning the session; accept local sockets on it.
    virtual asio::io_context& io() = 0;

    /// Opens a channel to req.host:req.port. While the session is (re)connecting the
    /// request waits up to reconnect.pending_wait (bounded count of waiters), then fails
    /// with no_session. Call on io()'s thread; `cb` runs later on the same thread,
    /// exactly once (also on shutdown: no_session).
    virtual void open(OpenRequest req, OpenCallback cb) = 0;
};

/// A local listener feeding flows into a ChannelOpener (-L forward, SOCKS5 / HTTP CONNECT
/// front door). Owned by the client profile; lives on the opener's io(). Stays bound
/// while the session reconnects.
class LocalService {
  public:
    virtual ~LocalService() = default;
    /// Binds now; false + *why ("cannot listen on 127.0.0.1:1080: Address in use").
    virtual bool bind(std::string* why) = 0;
    /// Starts accepting.
    virtual void start() = 0;
    /// Stops accepting (idempotent).
    virtual void close() = 0;
    /// Runtime details for profile.status; callable from any thread.
    virtual nlohmann::json status() const = 0;
};

}  // namespace ghost::daemon::proxy

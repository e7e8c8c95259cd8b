#pragma once
/// What the client's front doors (SOCKS5, HTTP CONNECT, -L forwards, TUN, DNS) use to get
/// a TCP flow carried over the SSH session as a direct-tcpip channel.
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
#include <optional>
#include <string>
#include <utility>

#include <asio.hpp>

#include "common/proxy/open_failure.hpp"

namespace ghost::daemon::ssh {

/// Where the channel should go and who asked (the direct-tcpip originator fields).
struct OpenRequest {
    std::string host;  // name or address, resolved on the server side
    uint16_t port = 0;
    std::string origin_host = "127.0.0.1";
    uint16_t origin_port = 0;
};

/// Result of ChannelOpener::open: success, or why not (one failure type for every front
/// door, which maps it to its own reply codes: common/proxy/open_failure.hpp).
struct OpenOutcome {
    std::optional<ghost::proxy::OpenFailure> failure;  // empty: success
    std::string message;  // human: "server could not open 10.0.0.5:80: Connection refused"

    bool ok() const { return !failure; }
    static OpenOutcome success() { return {}; }
    static OpenOutcome fail(ghost::proxy::OpenFailure f, std::string msg) {
        return {f, std::move(msg)};
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

}  // namespace ghost::daemon::ssh

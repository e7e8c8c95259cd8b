#pragma once
/// ghostd's D-Bus front door (docs/dbus.md): owns org.ghost.Ghost1 on the system bus,
/// exports the manager and one object per profile, and translates every method call into
/// a CoreApi call and every core event into signals / PropertiesChanged. No logic of its
/// own beyond authorisation and translation.
///
/// Threads: the bus is served by a thread of its own; every CoreApi call and every change
/// to the exported objects happens on the control io_context. start() and stop() must be
/// called on the control thread (or before/after it runs).

#include <asio.hpp>

#include <memory>
#include <string>

#include "daemon/core/log.hpp"

namespace ghost::daemon {

class CoreApi;

class DbusService {
  public:
    DbusService(asio::io_context& control, CoreApi& api, log::Logger logger);
    ~DbusService();
    DbusService(const DbusService&) = delete;
    DbusService& operator=(const DbusService&) = delete;

    /// The group whose members may call mutating methods besides root (default "ghost",
    /// like the socket's). Call before start().
    void set_control_group(std::string group);
    /// Connects to the system bus (DBUS_SYSTEM_BUS_ADDRESS honoured), exports the objects,
    /// requests org.ghost.Ghost1 and starts the bus thread. On failure returns false and
    /// sets *error (e.g. no bus, or the policy does not let us own the name).
    bool start(std::string* error);
    /// Releases the name, stops the bus thread and unexports everything (idempotent).
    /// Calls still waiting for the core get no reply (the bus reports NoReply).
    void stop();

  private:
    class Impl;
    std::shared_ptr<Impl> impl_;
};

}  // namespace ghost::daemon

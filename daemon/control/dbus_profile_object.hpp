#pragma once
/// One profile exported on D-Bus: /org/ghost/Ghost1/profile/<escaped name> with the
/// org.ghost.Ghost1.Profile interface. Properties are a cache of the core's view, updated
/// from events on the control thread and read by the bus thread under a mutex.

#include <sdbus-c++/sdbus-c++.h>

#include <cstdint>
#include <memory>
#include <mutex>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "daemon/control/dbus_request.hpp"

namespace ghost::daemon::dbus {

/// The exported properties of one profile.
struct ProfileProperties {
    std::string name;
    std::string role;
    std::string state;
    std::string last_error;
    uint64_t bytes_in = 0;
    uint64_t bytes_out = 0;
    bool autostart = false;
};

class ProfileObject {
  public:
    /// Exports the object on `connection`; its methods are handed to `dispatch`.
    ProfileObject(sdbus::IConnection& connection, const std::string& name, Dispatch dispatch);
    ProfileObject(const ProfileObject&) = delete;
    ProfileObject& operator=(const ProfileObject&) = delete;

    /// The object path.
    const std::string& path() const { return path_; }
    /// A copy of the current properties (any thread).
    ProfileProperties properties() const;
    /// Takes the fields present in a core status/list entry or event; returns the D-Bus
    /// names of the properties whose value changed. Control thread.
    std::vector<std::string> update(const nlohmann::json& fields);
    /// Emits PropertiesChanged for `names` (no-op when empty). Throws sdbus::Error.
    void emit_changed(const std::vector<std::string>& names);
    /// Emits InterfacesAdded / InterfacesRemoved through the manager's ObjectManager.
    void emit_added();
    void emit_removed();

  private:
    void register_methods();
    void register_properties();
    template <typename T>
    T get(T ProfileProperties::*field) const;

    std::string path_;
    Dispatch dispatch_;
    mutable std::mutex mutex_;
    ProfileProperties props_;
    std::unique_ptr<sdbus::IObject> object_;
};

}  // namespace ghost::daemon::dbus

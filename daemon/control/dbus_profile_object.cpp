#include "daemon/control/dbus_profile_object.hpp"

#include "common/text/printable.hpp"
#include "daemon/control/dbus_names.hpp"

namespace ghost::daemon::dbus {
namespace {

// Assigns json[key] to *field when present with the right type; records `prop` if changed.
template <typename T>
void take(const nlohmann::json& fields, const char* key, T* field, const char* prop,
          std::vector<std::string>* changed) {
    auto it = fields.find(key);
    if (it == fields.end()) return;
    T value{};
    if constexpr (std::is_same_v<T, std::string>) {
        if (it->is_null()) {
            value.clear();  // e.g. last_error: null once the profile recovered
        } else if (it->is_string()) {
            value =
                text::printable(it->template get_ref<const std::string&>());  // D-Bus needs UTF-8
        } else {
            return;
        }
    } else if constexpr (std::is_same_v<T, bool>) {
        if (!it->is_boolean()) return;
        value = it->template get<bool>();
    } else {
        if (!it->is_number_unsigned() && !it->is_number_integer()) return;
        value = it->template get<T>();
    }
    if (value == *field) return;
    *field = std::move(value);
    changed->emplace_back(prop);
}

}  // namespace

ProfileObject::ProfileObject(sdbus::IConnection& connection, const std::string& name,
                             Dispatch dispatch)
    : path_(profile_object_path(name)), dispatch_(std::move(dispatch)) {
    props_.name = name;
    object_ = sdbus::createObject(connection, path_);
    register_methods();
    register_properties();
    object_->finishRegistration();
}

ProfileProperties ProfileObject::properties() const {
    std::lock_guard lock(mutex_);
    return props_;
}

template <typename T>
T ProfileObject::get(T ProfileProperties::*field) const {
    std::lock_guard lock(mutex_);
    return props_.*field;
}

std::vector<std::string> ProfileObject::update(const nlohmann::json& fields) {
    std::vector<std::string> changed;
    if (!fields.is_object()) return changed;
    std::lock_guard lock(mutex_);
    take(fields, "role", &props_.role, "Role", &changed);
    take(fields, "state", &props_.state, "State", &changed);
    take(fields, "last_error", &props_.last_error, "LastError", &changed);
    take(fields, "bytes_in", &props_.bytes_in, "BytesIn", &changed);
    take(fields, "bytes_out", &props_.bytes_out, "BytesOut", &changed);
    take(fields, "autostart", &props_.autostart, "Autostart", &changed);
    return changed;
}

void ProfileObject::emit_changed(const std::vector<std::string>& names) {
    // Never called with mutex_ held: sd-bus calls our getters while building the signal.
    if (!names.empty()) object_->emitPropertiesChangedSignal(kProfileInterface, names);
}

void ProfileObject::emit_added() {
    object_->emitInterfacesAddedSignal({kProfileInterface});
}

void ProfileObject::emit_removed() {
    object_->emitInterfacesRemovedSignal({kProfileInterface});
}

void ProfileObject::register_methods() {
    const std::string name = props_.name;
    object_->registerMethod(
        kProfileInterface, "Up", "b", {"wait"}, "s", {"state"},
        [this, name](sdbus::MethodCall call) {
            bool wait = true;
            call >> wait;
            dispatch_(std::move(call),
                      {"profile.up", {{"name", name}, {"wait", wait}}, ReplyKind::state});
        });
    object_->registerMethod(
        kProfileInterface, "Down", "", {}, "s", {"state"}, [this, name](sdbus::MethodCall call) {
            dispatch_(std::move(call), {"profile.down", {{"name", name}}, ReplyKind::state});
        });
    object_->registerMethod(
        kProfileInterface, "GetStatus", "", {}, "s", {"json"},
        [this, name](sdbus::MethodCall call) {
            dispatch_(std::move(call), {"profile.status", {{"name", name}}, ReplyKind::json});
        });
}

void ProfileObject::register_properties() {
    using sdbus::Flags;
    object_->registerProperty("Name")
        .onInterface(kProfileInterface)
        .withGetter([this] { return get(&ProfileProperties::name); })
        .withUpdateBehavior(Flags::CONST_PROPERTY_VALUE);
    object_->registerProperty("Role")
        .onInterface(kProfileInterface)
        .withGetter([this] { return get(&ProfileProperties::role); })
        .withUpdateBehavior(Flags::EMITS_CHANGE_SIGNAL);
    object_->registerProperty("State")
        .onInterface(kProfileInterface)
        .withGetter([this] { return get(&ProfileProperties::state); })
        .withUpdateBehavior(Flags::EMITS_CHANGE_SIGNAL);
    object_->registerProperty("LastError")
        .onInterface(kProfileInterface)
        .withGetter([this] { return get(&ProfileProperties::last_error); })
        .withUpdateBehavior(Flags::EMITS_CHANGE_SIGNAL);
    object_->registerProperty("BytesIn")
        .onInterface(kProfileInterface)
        .withGetter([this] { return get(&ProfileProperties::bytes_in); })
        .withUpdateBehavior(Flags::EMITS_CHANGE_SIGNAL);
    object_->registerProperty("BytesOut")
        .onInterface(kProfileInterface)
        .withGetter([this] { return get(&ProfileProperties::bytes_out); })
        .withUpdateBehavior(Flags::EMITS_CHANGE_SIGNAL);
    object_->registerProperty("Autostart")
        .onInterface(kProfileInterface)
        .withGetter([this] { return get(&ProfileProperties::autostart); })
        .withUpdateBehavior(Flags::EMITS_CHANGE_SIGNAL);
}

}  // namespace ghost::daemon::dbus

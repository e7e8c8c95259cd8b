#pragma once
/// One D-Bus method call translated into a core API call, and how the core's result is
/// turned back into the D-Bus reply.

#include <sdbus-c++/sdbus-c++.h>

#include <functional>
#include <string>

#include <nlohmann/json.hpp>

namespace ghost::daemon::dbus {

/// Shape of the D-Bus reply built from the core result.
enum class ReplyKind {
    state,         // s: result["state"]
    json,          // s: the result serialised as JSON
    profile_list,  // a(ssso): name, role, state, object path per profile
    object_path,   // o: the object path of result["name"]
};

/// A core call: method name, JSON params, reply shape.
struct Request {
    std::string method;
    nlohmann::json params;
    ReplyKind kind = ReplyKind::json;
};

/// Hands a decoded call to the service (runs on the bus thread; never blocks).
using Dispatch = std::function<void(sdbus::MethodCall call, Request request)>;

}  // namespace ghost::daemon::dbus

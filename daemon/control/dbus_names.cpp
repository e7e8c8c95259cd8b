#include "daemon/control/dbus_names.hpp"

#include <systemd/sd-bus.h>

#include <cstdlib>
#include <memory>

#include "daemon/control/core_api.hpp"

namespace ghost::daemon::dbus {
namespace {

struct FreeDeleter {
    void operator()(char* p) const { std::free(p); }
};

}  // namespace

std::string profile_object_path(std::string_view profile_name) {
    char* raw = nullptr;
    const std::string name(profile_name);
    if (sd_bus_path_encode(kProfilePathPrefix, name.c_str(), &raw) < 0 || raw == nullptr) {
        throw std::bad_alloc();  // only fails on allocation
    }
    std::unique_ptr<char, FreeDeleter> path(raw);
    return std::string(path.get());
}

std::optional<std::string> profile_name_from_path(std::string_view object_path) {
    char* raw = nullptr;
    const std::string path(object_path);
    if (sd_bus_path_decode(path.c_str(), kProfilePathPrefix, &raw) <= 0 || raw == nullptr) {
        return std::nullopt;
    }
    std::unique_ptr<char, FreeDeleter> name(raw);
    return std::string(name.get());
}

const char* error_name(int core_error_code) {
    switch (core_error_code) {
        case errc::not_found:
            return kErrorNotFound;
        case errc::permission_denied:
            return kErrorPermissionDenied;
        case errc::invalid_state:
            return kErrorInvalidState;
        case errc::config_error:
            return kErrorConfigError;
        case errc::invalid_params:
            return kErrorInvalidArgs;
        default:
            return kErrorFailed;
    }
}

}  // namespace ghost::daemon::dbus

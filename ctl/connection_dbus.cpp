// D-Bus connection for `ghostctl --dbus`: the same verbs through org.ghost.Ghost1.

#include "ctl/ctl.hpp"

namespace ghost::ctl {

std::unique_ptr<Connection> connect_dbus(const Options&) {
    std::exit(fail(exit_code::unreachable, "--dbus: D-Bus client not available in this build"));
}

}  // namespace ghost::ctl

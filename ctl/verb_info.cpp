#include <iostream>

#include "ctl/verbs.hpp"

namespace ghost::ctl {

int verb_info(const Options& o) {
    Answer a = connect(o)->call("daemon.info", nlohmann::json::object());
    if (!a.ok) return report_error(a);
    if (o.json) {
        print_json(a.result);
        return exit_code::ok;
    }
    std::cout << "ghostd " << a.result.value("version", "?") << " (pid " << a.result.value("pid", 0)
              << "), up " << human_duration(a.result.value("uptime_s", 0)) << "\n"
              << "profiles: " << a.result.value("profiles", 0) << " (" << a.result.value("active", 0)
              << " active)\nconfig: " << a.result.value("config_dir", "") << "\n";
    return exit_code::ok;
}

}  // namespace ghost::ctl

#include "ctl/verbs.hpp"

namespace ghost::ctl {

int verb_info(const Options& o) {
    Answer a = connect(o)->call("daemon.info", nlohmann::json::object());
    if (!a.ok) return report_error(a);
    if (o.json) {
        print_json(a.result);
        return exit_code::ok;
    }
    const auto& r = a.result;
    print_line("ghostd " + r.value("version", "?") + " (pid " + std::to_string(r.value("pid", 0)) +
               "), up " + human_duration(r.value("uptime_s", 0)));
    print_line("profiles: " + std::to_string(r.value("profiles", 0)) + " (" +
               std::to_string(r.value("active", 0)) + " active)");
    print_line("config: " + r.value("config_dir", ""));
    return exit_code::ok;
}

}  // namespace ghost::ctl

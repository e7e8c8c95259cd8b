#include <ctime>
#include <iostream>

#include "ctl/verbs.hpp"

namespace ghost::ctl {

/// Follows the event stream until interrupted; `--count N` stops after N events.
int verb_monitor(const Options& o) {
    long limit = -1;
    for (size_t i = 0; i < o.args.size(); ++i) {
        if (o.args[i] == "--count" && i + 1 < o.args.size())
            limit = std::strtol(o.args[++i].c_str(), nullptr, 10);
        else
            return fail(exit_code::usage, "usage: ghostctl monitor [--count N]");
    }
    long seen = 0;
    connect(o)->follow([&](const nlohmann::json& ev) {
        if (o.json) {
            print_json_line(ev);
        } else {
            std::time_t t = ev.value("time", 0L);
            char ts[16];
            std::strftime(ts, sizeof ts, "%H:%M:%S", std::localtime(&t));
            std::string text =
                std::string(ts) + " " + ev.value("profile", "-") + " " + ev.value("type", "?");
            if (ev.contains("state"))
                text += " " + ev.value("previous", "?") + " -> " + ev.value("state", "?");
            if (!ev.value("reason", "").empty()) text += ": " + ev.value("reason", "");
            if (ev.value("type", "") == "stats")
                text += " in " + human_bytes(ev.value("bytes_in", uint64_t{0})) + " out " +
                        human_bytes(ev.value("bytes_out", uint64_t{0}));
            print_line(text);
            std::cout.flush();
        }
        return limit < 0 || ++seen < limit;
    });
    return exit_code::ok;
}

}  // namespace ghost::ctl

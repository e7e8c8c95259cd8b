#include "ctl/verbs.hpp"

namespace ghost::ctl {

int verb_reload(const Options& o) {
    if (!o.args.empty()) return fail(exit_code::usage, "usage: ghostctl reload");
    Answer a = connect(o)->call("daemon.reload", nlohmann::json::object());
    if (!a.ok) return report_error(a);
    if (o.json) {
        print_json(a.result);
    } else {
        auto names = [](const nlohmann::json& arr) {
            std::string s;
            for (auto& n : arr) s += (s.empty() ? "" : ", ") + n.get<std::string>();
            return s.empty() ? "-" : s;
        };
        print_line("added: " + names(a.result["added"]));
        print_line("removed: " + names(a.result["removed"]));
        print_line("changed: " + names(a.result["changed"]));
        for (auto& e : a.result["errors"]) print_error_line(e.get<std::string>());
    }
    return a.result["errors"].empty() ? exit_code::ok : exit_code::config;
}

}  // namespace ghost::ctl

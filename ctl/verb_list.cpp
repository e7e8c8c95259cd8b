#include "ctl/verbs.hpp"

namespace ghost::ctl {

int verb_list(const Options& o) {
    Answer a = connect(o)->call("profile.list", nlohmann::json::object());
    if (!a.ok) return report_error(a);
    if (o.json) {
        print_json(a.result);
        return exit_code::ok;
    }
    std::vector<std::vector<std::string>> rows;
    for (auto& p : a.result) {
        rows.push_back({p.value("name", ""), p.value("role", ""), p.value("state", ""),
                        p.value("autostart", false) ? "yes" : "no", p.value("last_error", "")});
    }
    print_table({"NAME", "ROLE", "STATE", "AUTOSTART", "LAST ERROR"}, rows);
    return exit_code::ok;
}

}  // namespace ghost::ctl

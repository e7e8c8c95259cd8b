#include "ctl/verbs.hpp"

namespace ghost::ctl {

int verb_up(const Options& o) {
    bool wait = true;
    std::string name;
    for (auto& a : o.args) {
        if (a == "--no-wait")
            wait = false;
        else if (name.empty())
            name = a;
        else
            return fail(exit_code::usage, "up takes one profile name");
    }
    if (name.empty()) return fail(exit_code::usage, "usage: ghostctl up NAME [--no-wait]");
    Answer a = connect(o)->call("profile.up", {{"name", name}, {"wait", wait}});
    if (!a.ok) {
        if (o.json && a.data.is_object()) print_json(a.data);
        return report_error(a);
    }
    if (o.json) {
        print_json(a.result);
    } else {
        print_line(name + ": " + a.result.value("state", "?"));
    }
    return exit_code::ok;
}

}  // namespace ghost::ctl

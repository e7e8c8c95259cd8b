#include "ctl/verbs.hpp"

namespace ghost::ctl {

int verb_down(const Options& o) {
    if (o.args.size() != 1) return fail(exit_code::usage, "usage: ghostctl down NAME");
    Answer a = connect(o)->call("profile.down", {{"name", o.args[0]}});
    if (!a.ok) return report_error(a);
    if (o.json) {
        print_json(a.result);
    } else {
        print_line(o.args[0] + ": " + a.result.value("state", "?"));
    }
    return exit_code::ok;
}

}  // namespace ghost::ctl

#include "ctl/verbs.hpp"

namespace ghost::ctl {

int verb_kick(const Options& o) {
    if (o.args.size() != 2) return fail(exit_code::usage, "usage: ghostctl kick NAME SESSION-ID");
    Answer a = connect(o)->call("server.kick", {{"name", o.args[0]}, {"id", o.args[1]}});
    if (!a.ok) return report_error(a);
    if (o.json) {
        print_json(a.result);
    } else {
        print_line("kicked session " + o.args[1] + " of " + o.args[0]);
    }
    return exit_code::ok;
}

}  // namespace ghost::ctl

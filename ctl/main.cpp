// ghostctl: drives ghostd over its JSON-RPC socket (or D-Bus with --dbus).

#include <cstdlib>
#include <cstring>
#include <iostream>

#include "ctl/verbs.hpp"

namespace {

using namespace ghost::ctl;

struct Verb {
    const char* name;
    int (*run)(const Options&);
    const char* usage;
    const char* help;
};

constexpr Verb kVerbs[] = {
    {"list", verb_list, "list", "profiles and their states"},
    {"status", verb_status, "status [NAME...]", "full status of profiles"},
    {"up", verb_up, "up NAME [--no-wait]", "bring a profile up (waits until up or failed)"},
    {"down", verb_down, "down NAME", "bring a profile down"},
    {"check", verb_check, "check [--daemon] FILE",
     "validate profile files (here, or by ghostd with --daemon)"},
    {"reload", verb_reload, "reload", "re-read configuration (like systemctl reload ghostd)"},
    {"sessions", verb_sessions, "sessions NAME", "live sessions of a server profile"},
    {"kick", verb_kick, "kick NAME ID", "close a session of a server profile"},
    {"proxy-command", verb_proxy_command, "proxy-command NAME",
     "the profile's transport on stdin/stdout, for ssh -o ProxyCommand"},
    {"monitor", verb_monitor, "monitor [--count N]", "follow events (state changes, stats)"},
    {"info", verb_info, "info", "daemon version and directories"},
};

void usage(std::ostream& os) {
    os << "usage: ghostctl [--json] [--dbus] [--socket PATH] [--timeout SECONDS] VERB "
          "[ARGS]\n\nverbs:\n";
    for (auto& v : kVerbs)
        os << "  " << v.usage << std::string(22 - std::strlen(v.usage), ' ') << v.help << "\n";
    os << "\nexit codes: 0 ok, 1 failed, 2 usage, 3 ghostd unreachable, 4 permission denied,\n"
          "            5 not found, 6 configuration error, 7 protocol error or timeout\n";
}

}  // namespace

int main(int argc, char** argv) {
    Options o;
    if (const char* s = std::getenv("GHOST_SOCKET")) o.socket = s;
    const Verb* verb = nullptr;
    for (int i = 1; i < argc; ++i) {
        std::string a = argv[i];
        if (verb) {
            if (a == "--json")
                o.json = true;
            else
                o.args.push_back(a);
            continue;
        }
        if (a == "--json")
            o.json = true;
        else if (a == "--dbus")
            o.dbus = true;
        else if ((a == "--socket" || a == "--timeout") && i + 1 < argc) {
            std::string v = argv[++i];
            if (a == "--socket")
                o.socket = v;
            else if ((o.timeout_s = std::atoi(v.c_str())) <= 0)
                return fail(exit_code::usage, "invalid --timeout '" + v + "'");
        } else if (a == "--help" || a == "-h" || a == "help") {
            usage(std::cout);
            return exit_code::ok;
        } else if (a == "--version") {
            std::cout << "ghostctl " GHOST_VERSION "\n";
            return exit_code::ok;
        } else {
            for (auto& v : kVerbs)
                if (a == v.name) verb = &v;
            if (!verb) {
                usage(std::cerr);
                return fail(exit_code::usage, "unknown verb or option '" + a + "'");
            }
        }
    }
    if (!verb) {
        usage(std::cerr);
        return exit_code::usage;
    }
    return verb->run(o);
}

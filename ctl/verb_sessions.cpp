#include <chrono>

#include "ctl/verbs.hpp"

namespace ghost::ctl {

int verb_sessions(const Options& o) {
    if (o.args.size() != 1) return fail(exit_code::usage, "usage: ghostctl sessions NAME");
    Answer a = connect(o)->call("server.sessions", {{"name", o.args[0]}});
    if (!a.ok) return report_error(a);
    if (o.json) {
        print_json(a.result);
        return exit_code::ok;
    }
    int64_t now = std::chrono::duration_cast<std::chrono::seconds>(
                      std::chrono::system_clock::now().time_since_epoch())
                      .count();
    std::vector<std::vector<std::string>> rows;
    for (auto& s : a.result) {
        rows.push_back({s.value("id", ""), s.value("key_name", ""), s.value("key_fingerprint", ""),
                        s.value("peer", ""), human_duration(now - s.value("since", now)),
                        std::to_string(s.value("channels", 0)),
                        human_bytes(s.value("bytes_in", uint64_t{0})) + " / " +
                            human_bytes(s.value("bytes_out", uint64_t{0})),
                        human_path(s.value("path", nlohmann::json()))});
    }
    print_table({"ID", "KEY", "FINGERPRINT", "PEER", "SINCE", "CHANNELS", "IN / OUT", "PATH"},
                rows);
    return exit_code::ok;
}

}  // namespace ghost::ctl

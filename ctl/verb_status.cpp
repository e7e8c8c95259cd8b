#include <chrono>
#include <iostream>

#include "common/text/printable_json.hpp"
#include "ctl/verbs.hpp"

namespace ghost::ctl {

namespace {
void line(const std::string& key, const std::string& value) {
    if (!value.empty())
        print_line("  " + key + std::string(key.size() < 16 ? 16 - key.size() : 1, ' ') + value);
}
std::string str(const nlohmann::json& s, const char* key) {
    auto it = s.find(key);
    if (it == s.end() || it->is_null()) return {};
    return it->is_string() ? it->get<std::string>() : text::dump_printable(*it);
}
}  // namespace

void print_status(const nlohmann::json& s) {
    int64_t now = std::chrono::duration_cast<std::chrono::seconds>(
                      std::chrono::system_clock::now().time_since_epoch())
                      .count();
    std::string head = s.value("name", "?") + ": " + s.value("state", "?");
    if (s.contains("since")) head += " (for " + human_duration(now - s.value("since", now)) + ")";
    print_line(head);
    line("role", str(s, "role"));
    line("reason", str(s, "reason"));
    line("last error", str(s, "last_error"));
    line("server", str(s, "server"));
    line("transport", str(s, "transport"));
    line("user", str(s, "user"));
    line("host key", str(s, "host_key_fingerprint"));
    line("public key", str(s, "public_key"));
    if (s.value("bytes_in", 0) || s.value("bytes_out", 0))
        line("traffic", human_bytes(s.value("bytes_in", uint64_t{0})) + " in, " +
                            human_bytes(s.value("bytes_out", uint64_t{0})) + " out");
    line("channels", str(s, "channels_open"));
    if (s.contains("path")) line("path", human_path(s["path"]));
    line("file", str(s, "file"));
    for (auto& e : s.value("config_errors", nlohmann::json::array()))
        line("config error", e.get<std::string>());
    // Anything else the runner reports (listeners, forwards, reconnect...) as compact JSON.
    static const char* known[] = {
        "name",          "state",     "since",     "role",          "reason",
        "last_error",    "server",    "transport", "user",          "host_key_fingerprint",
        "public_key",    "bytes_in",  "bytes_out", "channels_open", "file",
        "config_errors", "autostart", "valid",     "path"};
    for (auto& [k, v] : s.items()) {
        bool skip = false;
        for (auto* kn : known) skip = skip || k == kn;
        if (skip || v.is_null() || (v.is_array() && v.empty()) || (v.is_object() && v.empty()))
            continue;
        line(k, v.is_string() ? v.get<std::string>() : text::dump_printable(v));
    }
}

int verb_status(const Options& o) {
    auto conn = connect(o);
    std::vector<std::string> names = o.args;
    if (names.empty()) {
        Answer l = conn->call("profile.list", nlohmann::json::object());
        if (!l.ok) return report_error(l);
        for (auto& p : l.result) names.push_back(p.value("name", ""));
    }
    nlohmann::json all = nlohmann::json::array();
    for (size_t i = 0; i < names.size(); ++i) {
        Answer a = conn->call("profile.status", {{"name", names[i]}});
        if (!a.ok) return report_error(a);
        if (o.json) {
            all.push_back(a.result);
            continue;
        }
        if (i) std::cout << "\n";
        print_status(a.result);
    }
    if (o.json) print_json(o.args.size() == 1 ? all[0] : all);
    return exit_code::ok;
}

}  // namespace ghost::ctl

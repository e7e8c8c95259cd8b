#include <iostream>

#include "common/config/schema.hpp"
#include "ctl/verbs.hpp"
#include "io/config_file.hpp"

namespace ghost::ctl {
namespace {

std::vector<std::string> error_lines(const std::vector<config::Error>& errs) {
    std::vector<std::string> out;
    for (auto& e : errs) out.push_back(e.str());
    return out;
}

/// Asks the running ghostd (config.check) about one file. The file is read here, as the
/// user, with the loader ghostd itself uses; ghostd only ever sees its name and content.
std::vector<std::string> check_by_daemon(Connection& conn, const std::string& path) {
    std::vector<config::Error> errs;
    auto text = io::read_config_file(path, errs);
    if (!text) return error_lines(errs);
    Answer a = conn.call("config.check", {{"file", path}, {"text", std::move(*text)}});
    if (!a.ok) std::exit(report_error(a));
    std::vector<std::string> out;
    auto it = a.result.find("errors");
    if (it == a.result.end() || !it->is_array())
        std::exit(fail(exit_code::protocol, "ghostd answered config.check without an error list"));
    for (auto& e : *it) out.push_back(e.is_string() ? e.get<std::string>() : e.dump());
    return out;
}

}  // namespace

/// Validates profile files with the daemon's own validator: here (no daemon needed), or by
/// the running ghostd with --daemon.
int verb_check(const Options& o) {
    bool by_daemon = false;
    std::vector<std::string> paths;
    for (auto& a : o.args) {
        if (a == "--daemon")
            by_daemon = true;
        else
            paths.push_back(a);
    }
    if (paths.empty()) return fail(exit_code::usage, "usage: ghostctl check [--daemon] FILE...");
    std::unique_ptr<Connection> conn = by_daemon ? connect(o) : nullptr;
    nlohmann::json out = nlohmann::json::array();
    int rc = exit_code::ok;
    for (auto& path : paths) {
        std::vector<std::string> errs;
        if (conn) {
            errs = check_by_daemon(*conn, path);
        } else {
            std::vector<config::Error> found;
            io::load_profile_file(path, found);
            errs = error_lines(found);
        }
        out.push_back({{"file", path}, {"ok", errs.empty()}, {"errors", errs}});
        if (!errs.empty()) rc = exit_code::config;
        if (o.json) continue;
        if (errs.empty()) print_line(path + ": ok");
        for (auto& err : errs) print_error_line(err);
    }
    if (o.json) print_json(paths.size() == 1 ? out[0] : out);
    return rc;
}

}  // namespace ghost::ctl

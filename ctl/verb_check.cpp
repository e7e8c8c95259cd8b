#include <iostream>

#include "common/config/schema.hpp"
#include "ctl/verbs.hpp"

namespace ghost::ctl {

/// Validates profile files locally with the daemon's own validator (no daemon needed).
int verb_check(const Options& o) {
    if (o.args.empty()) return fail(exit_code::usage, "usage: ghostctl check FILE...");
    nlohmann::json out = nlohmann::json::array();
    int rc = exit_code::ok;
    for (auto& path : o.args) {
        std::vector<config::Error> errs;
        config::load_profile_file(path, errs);
        nlohmann::json e = nlohmann::json::array();
        for (auto& err : errs) e.push_back(err.str());
        out.push_back({{"file", path}, {"ok", errs.empty()}, {"errors", e}});
        if (!errs.empty()) rc = exit_code::config;
        if (o.json) continue;
        if (errs.empty()) std::cout << path << ": ok\n";
        for (auto& err : errs) std::cerr << err.str() << "\n";
    }
    if (o.json) print_json(o.args.size() == 1 ? out[0] : out);
    return rc;
}

}  // namespace ghost::ctl

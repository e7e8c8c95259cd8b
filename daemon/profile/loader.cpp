#include "daemon/profile/loader.hpp"

#include <algorithm>

#include "io/config_file.hpp"

namespace ghost::daemon {

namespace fs = std::filesystem;

namespace {
constexpr size_t kMaxProfiles = 1024;

/// One NAME.json found in the profiles directory: its text, or why it cannot be read.
struct ProfileFile {
    fs::path path;
    std::optional<std::string> text;
    std::vector<config::Error> errors;
};

/// Reads every NAME.json in `dir` with the one safe loader.
std::map<std::string, ProfileFile> read_profile_dir(const fs::path& dir,
                                                    std::vector<config::Error>& errors) {
    std::map<std::string, ProfileFile> files;
    std::error_code ec;
    for (auto it = fs::directory_iterator(dir, ec); !ec && it != fs::directory_iterator();
         it.increment(ec)) {
        const fs::path& p = it->path();
        if (p.extension() != ".json") continue;
        std::string name = p.stem().string();
        if (!config::is_valid_profile_name(name)) {
            errors.push_back({p.string(), "", "\"" + name + "\"",
                              "invalid profile name (use [a-z0-9][a-z0-9_-]{0,63})"});
            continue;
        }
        if (files.size() >= kMaxProfiles) {
            errors.push_back({p.string(), "", "", "too many profiles (limit 1024)"});
            break;
        }
        ProfileFile& f = files[name];
        f.path = p;
        f.text = io::read_config_file(p.string(), f.errors);
    }
    if (ec && ec != std::errc::no_such_file_or_directory)
        errors.push_back({dir.string(), "", "", "cannot list directory: " + ec.message()});
    return files;
}

/// Marks every profile that conflicts with another invalid, with the conflict as error.
void apply_conflicts(std::map<std::string, LoadedProfile>& profiles) {
    std::vector<config::Profile> valid;
    for (auto& [name, lp] : profiles)
        if (lp.profile) valid.push_back(*lp.profile);
    for (auto& err : config::check_conflicts(valid)) {
        std::string stem = fs::path(err.file).stem().string();
        if (auto it = profiles.find(stem); it != profiles.end()) {
            it->second.profile.reset();
            it->second.errors.push_back(err);
        }
    }
}
}  // namespace

LoadedProfiles load_profiles(const fs::path& dir) {
    LoadedProfiles out;
    for (auto& [name, f] : read_profile_dir(dir, out.errors)) {
        LoadedProfile& lp = out.profiles[name];
        if (f.text) lp.profile = config::parse_profile(name, *f.text, f.path.string(), f.errors);
        lp.errors = std::move(f.errors);
        lp.text = f.text.value_or("");
    }
    apply_conflicts(out.profiles);
    return out;
}

nlohmann::json errors_json(const std::vector<config::Error>& errs) {
    nlohmann::json a = nlohmann::json::array();
    for (auto& e : errs) a.push_back(e.str());
    return a;
}

bool same_errors(const std::vector<config::Error>& a, const std::vector<config::Error>& b) {
    return std::equal(
        a.begin(), a.end(), b.begin(), b.end(),
        [](const config::Error& x, const config::Error& y) { return x.str() == y.str(); });
}

}  // namespace ghost::daemon

#include "io/config_file.hpp"

#include <filesystem>

#include "io/regular_file.hpp"

namespace ghost::io {

std::optional<std::string> read_config_file(const std::string& path,
                                            std::vector<config::Error>& errors) {
    std::string why;
    auto text = read_regular_file(path, config::kMaxConfigBytes, &why);
    if (!text) errors.push_back({path, "", "", std::move(why)});
    return text;
}

std::optional<config::Profile> load_profile_file(const std::string& path,
                                                 std::vector<config::Error>& errors) {
    auto text = read_config_file(path, errors);
    if (!text) return std::nullopt;
    return config::check_profile_text(path, *text, errors);
}

std::optional<config::DaemonConfig> load_daemon_config(const std::string& path,
                                                       std::vector<config::Error>& errors) {
    std::error_code ec;  // only a missing file (not a dangling link) means "defaults"
    if (std::filesystem::symlink_status(path, ec).type() == std::filesystem::file_type::not_found)
        return config::DaemonConfig{};
    auto text = read_config_file(path, errors);
    if (!text) return std::nullopt;
    return config::parse_daemon_config(*text, path, errors);
}

}  // namespace ghost::io

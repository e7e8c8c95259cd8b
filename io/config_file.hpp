#pragma once
/// Reading configuration files (profiles and ghostd.json) for the pure parsers in
/// common/config: the one loader ghostd and ghostctl share.

#include <optional>
#include <string>
#include <vector>

#include "common/config/model.hpp"
#include "common/config/schema.hpp"

namespace ghost::io {

/// Reads a configuration file: a regular file (or a link to one) of at most
/// config::kMaxConfigBytes, read without ever blocking (read_regular_file). nullopt with an
/// Error naming the file and what is wrong with it (FIFO, directory, dangling link, ...).
std::optional<std::string> read_config_file(const std::string& path,
                                            std::vector<config::Error>& errors);

/// Reads FILE (read_config_file) and checks it (config::check_profile_text).
std::optional<config::Profile> load_profile_file(const std::string& path,
                                                 std::vector<config::Error>& errors);

/// Reads ghostd.json (read_config_file) and parses it (config::parse_daemon_config); a
/// missing file yields the defaults, a dangling link or a file that is not regular is an
/// error.
std::optional<config::DaemonConfig> load_daemon_config(const std::string& path,
                                                       std::vector<config::Error>& errors);

}  // namespace ghost::io

#pragma once
/// Typed model from validated JSON: every absent key takes its default from the key table.

#include <nlohmann/json.hpp>

#include "common/config/model.hpp"

namespace ghost::config {

/// Fills a Profile (all but name, file and features) from a validated profile document.
Profile build_profile(const nlohmann::json& doc);

/// Fills a DaemonConfig from a validated ghostd.json document.
DaemonConfig build_daemon_config(const nlohmann::json& doc);

}  // namespace ghost::config

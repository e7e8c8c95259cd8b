// Every shipped example (config/ghostd.json, config/profiles/*.json) loads without errors,
// and docs/profiles.md carries the current generated key reference.

#include <gtest/gtest.h>

#include <algorithm>
#include <filesystem>
#include <fstream>
#include <sstream>

#include "common/config/schema.hpp"
#include "io/config_file.hpp"

namespace ghost::config {
namespace {

using io::load_daemon_config;
using io::load_profile_file;

const std::filesystem::path kSource = GHOST_SOURCE_DIR;

std::string join_errors(const std::vector<Error>& errors) {
    std::string out;
    for (const auto& e : errors) out += e.str() + "\n";
    return out;
}

std::vector<std::filesystem::path> example_profiles() {
    std::vector<std::filesystem::path> files;
    for (const auto& entry : std::filesystem::directory_iterator(kSource / "config/profiles"))
        if (entry.path().extension() == ".json") files.push_back(entry.path());
    std::sort(files.begin(), files.end());
    return files;
}

TEST(ConfigExamples, DaemonConfigLoads) {
    std::vector<Error> errors;
    auto config = load_daemon_config((kSource / "config/ghostd.json").string(), errors);
    ASSERT_TRUE(config) << join_errors(errors);
    // The shipped file documents the defaults; it must not change them.
    DaemonConfig defaults;
    EXPECT_EQ(config->log_level, defaults.log_level);
    EXPECT_EQ(config->control_group, defaults.control_group);
    EXPECT_EQ(config->workers, defaults.workers);
    EXPECT_EQ(config->rpc_max_clients, defaults.rpc_max_clients);
    EXPECT_EQ(config->rpc_reserved_clients, defaults.rpc_reserved_clients);
    EXPECT_EQ(config->rpc_max_clients_per_user, defaults.rpc_max_clients_per_user);
    EXPECT_EQ(config->rpc_max_subscriptions_per_user, defaults.rpc_max_subscriptions_per_user);
    EXPECT_EQ(config->rpc_max_request_bytes, defaults.rpc_max_request_bytes);
    EXPECT_EQ(config->rpc_idle_timeout_s, defaults.rpc_idle_timeout_s);
    EXPECT_EQ(config->watchdog_interval_s, defaults.watchdog_interval_s);
}

TEST(ConfigExamples, EveryProfileLoadsAndNoneConflict) {
    auto files = example_profiles();
    ASSERT_GE(files.size(), 6u);
    std::vector<Profile> profiles;
    for (const auto& file : files) {
        std::vector<Error> errors;
        auto profile = load_profile_file(file.string(), errors);
        ASSERT_TRUE(profile) << join_errors(errors);
        EXPECT_EQ(profile->name, file.stem().string());
        profiles.push_back(*profile);
    }
    EXPECT_EQ(join_errors(check_conflicts(profiles)), "");
}

TEST(ConfigExamples, RequiredExamplesExistWithTheirFeatures) {
    struct Want {
        const char* name;
        Role role;
        std::vector<std::string> features;
    } wants[] = {
        {"work-socks", Role::client, {"http_connect", "socks5", "ssh"}},
        {"forwards", Role::client, {"forward", "remote_forward", "ssh"}},
        {"vpn-split", Role::client, {"hooks", "ssh", "tun"}},
        {"vpn-full", Role::client, {"socks5", "ssh", "tun"}},
        {"stealth", Role::client, {"socks5", "ssh", "tls"}},
        {"edge", Role::server, {"acl", "outbound", "server"}},
    };
    for (const auto& want : wants) {
        std::vector<Error> errors;
        auto path = kSource / "config/profiles" / (std::string(want.name) + ".json");
        auto profile = load_profile_file(path.string(), errors);
        ASSERT_TRUE(profile) << want.name << "\n" << join_errors(errors);
        EXPECT_EQ(profile->role, want.role) << want.name;
        EXPECT_EQ(profile->features, want.features) << want.name;
    }
}

TEST(ConfigExamples, SplitAndFullTunnelShapes) {
    std::vector<Error> errors;
    auto split = load_profile_file((kSource / "config/profiles/vpn-split.json").string(), errors);
    ASSERT_TRUE(split && split->tun) << join_errors(errors);
    EXPECT_FALSE(split->tun->full);
    EXPECT_FALSE(split->tun->routes.empty());
    auto full = load_profile_file((kSource / "config/profiles/vpn-full.json").string(), errors);
    ASSERT_TRUE(full && full->tun) << join_errors(errors);
    EXPECT_TRUE(full->tun->full);
    EXPECT_TRUE(full->tun->kill_switch);
}

TEST(ConfigExamples, DocsCarryTheGeneratedSchema) {
    std::ifstream in(kSource / "docs/profiles.md");
    ASSERT_TRUE(in) << "docs/profiles.md missing";
    std::stringstream buffer;
    buffer << in.rdbuf();
    std::string doc = buffer.str();
    const std::string begin = "<!-- BEGIN SCHEMA -->\n";
    const std::string end = "<!-- END SCHEMA -->";
    auto b = doc.find(begin);
    auto e = doc.find(end);
    ASSERT_NE(b, std::string::npos);
    ASSERT_NE(e, std::string::npos);
    ASSERT_LT(b, e);
    std::string block = doc.substr(b + begin.size(), e - b - begin.size());
    EXPECT_EQ(block, schema_markdown())
        << "docs/profiles.md is stale: replace the block between the SCHEMA markers with the "
           "output of ghost::config::schema_markdown()";
}

}  // namespace
}  // namespace ghost::config

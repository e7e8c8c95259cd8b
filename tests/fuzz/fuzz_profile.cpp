// libFuzzer target for profile loading (common/config): the text as a profile file
// (parse_profile, what reload and config.check run on each file) and as ghostd.json.
// Input: the file's text. A profile that loads is also checked against itself for
// conflicts, as two profiles are at reload and at `up`.

#include <cstdint>
#include <string>
#include <vector>

#include "common/config/schema.hpp"
#include "tests/fuzz/fuzz_util.hpp"

namespace {

using ghost::fuzz::check;
namespace config = ghost::config;

void check_errors(bool loaded, const std::vector<config::Error>& errors) {
    check(loaded == errors.empty(), "loaded with errors, or refused without one");
    for (const auto& e : errors) {
        check(e.file == "fuzz.json" && !e.message.empty(), "error without file or message");
        check(!e.str().empty(), "empty error text");
    }
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
    const std::string_view text = ghost::fuzz::as_text(data, size);
    std::vector<config::Error> errors;
    auto profile = config::parse_profile("fuzz", text, "fuzz.json", errors);
    check_errors(profile.has_value(), errors);
    if (profile) {
        (void)config::check_conflicts({*profile, *profile});
        (void)config::tun_conflict(*profile, *profile);
    }
    errors.clear();
    auto daemon = config::parse_daemon_config(text, "fuzz.json", errors);
    check_errors(daemon.has_value(), errors);
    return 0;
}

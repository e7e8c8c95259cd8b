#include "daemon/core/log.hpp"

#include <sys/stat.h>
#include <systemd/sd-journal.h>
#include <unistd.h>

#include <atomic>
#include <cstdio>
#include <cstdlib>
#include <ctime>
#include <mutex>

#include "common/text/printable.hpp"

namespace ghost::log {
namespace {

std::atomic<int> g_level{static_cast<int>(Level::info)};
std::atomic<bool> g_journal{false};
std::mutex g_stderr_mutex;
thread_local std::string t_thread = "main";

const char* level_name(Level l) {
    switch (l) {
        case Level::error:
            return "error";
        case Level::warning:
            return "warning";
        case Level::notice:
            return "notice";
        case Level::info:
            return "info";
        case Level::debug:
            return "debug";
    }
    return "?";
}

// systemd sets JOURNAL_STREAM=dev:inode for the stream stderr is connected to.
bool stderr_is_journal() {
    const char* js = std::getenv("JOURNAL_STREAM");
    if (!js) return false;
    struct stat st {};
    if (fstat(STDERR_FILENO, &st) != 0) return false;
    unsigned long long dev = 0, ino = 0;
    if (std::sscanf(js, "%llu:%llu", &dev, &ino) != 2) return false;
    return dev == st.st_dev && ino == st.st_ino;
}

}  // namespace

bool parse_level(std::string_view text, Level* out) {
    static constexpr std::pair<std::string_view, Level> kLevels[] = {{"debug", Level::debug},
                                                                     {"info", Level::info},
                                                                     {"notice", Level::notice},
                                                                     {"warning", Level::warning},
                                                                     {"error", Level::error}};
    for (auto& [name, l] : kLevels) {
        if (text == name) {
            *out = l;
            return true;
        }
    }
    return false;
}

void init(Level level) {
    set_level(level);
    g_journal = stderr_is_journal();
}

void set_level(Level level) {
    g_level = static_cast<int>(level);
}
bool enabled(Level level) {
    return static_cast<int>(level) <= g_level.load();
}
void set_thread_name(std::string name) {
    t_thread = std::move(name);
}

void write(Level level, std::string_view profile_text, std::string_view peer_text,
           std::string_view msg_text) {
    // Names, peers and messages carry config and peer bytes: escape them for the terminal.
    const std::string msg = text::printable(msg_text);
    const std::string profile = text::printable(profile_text);
    const std::string peer = text::printable(peer_text);
    if (g_journal) {
        sd_journal_send("MESSAGE=%s", msg.c_str(), "PRIORITY=%d", static_cast<int>(level),
                        "GHOST_PROFILE=%s", profile.c_str(), "GHOST_PEER=%s", peer.c_str(),
                        "GHOST_THREAD=%s", t_thread.c_str(), "SYSLOG_IDENTIFIER=ghostd", nullptr);
        return;
    }
    std::string line;
    line.reserve(msg.size() + 64);
    line += level_name(level);
    line += ' ';
    if (!profile.empty()) line.append("[").append(profile).append("] ");
    if (!peer.empty()) line.append("[").append(peer).append("] ");
    line += msg;
    line += '\n';
    std::lock_guard lock(g_stderr_mutex);
    std::fwrite(line.data(), 1, line.size(), stderr);
}

}  // namespace ghost::log

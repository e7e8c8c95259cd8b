#pragma once
/// ghostd's one logger: journald with structured fields (GHOST_PROFILE=, GHOST_PEER=)
/// when running under systemd, otherwise "level [profile] [peer] message" lines on stderr.

#include <sstream>
#include <string>
#include <string_view>
#include <utility>

namespace ghost::log {

enum class Level { error = 3, warning = 4, notice = 5, info = 6, debug = 7 };

/// Parses "debug", "info", "notice", "warning", "error".
bool parse_level(std::string_view text, Level* out);

/// Chooses the sink (journald when JOURNAL_STREAM matches stderr, else stderr) and level.
void init(Level level);
void set_level(Level level);
bool enabled(Level level);
/// Names the calling thread in stderr output and in the journal (GHOST_THREAD=).
void set_thread_name(std::string name);

/// Writes one record. `profile` and `peer` may be empty. Control bytes and invalid UTF-8
/// in any of them are escaped (text::printable), so a record is one safe line.
void write(Level level, std::string_view profile, std::string_view peer, std::string_view msg);

/// Concatenates any streamable values: cat("port ", 22) == "port 22".
template <typename... Args>
std::string cat(Args&&... args) {
    std::ostringstream os;
    (os << ... << std::forward<Args>(args));
    return os.str();
}

/// A logger bound to a profile and optionally a peer.
class Logger {
  public:
    Logger() = default;
    explicit Logger(std::string profile, std::string peer = {})
        : profile_(std::move(profile)), peer_(std::move(peer)) {}

    Logger with_peer(std::string peer) const { return Logger(profile_, std::move(peer)); }
    const std::string& profile() const { return profile_; }

    template <typename... A>
    void debug(A&&... a) const {
        emit(Level::debug, std::forward<A>(a)...);
    }
    template <typename... A>
    void info(A&&... a) const {
        emit(Level::info, std::forward<A>(a)...);
    }
    template <typename... A>
    void notice(A&&... a) const {
        emit(Level::notice, std::forward<A>(a)...);
    }
    template <typename... A>
    void warning(A&&... a) const {
        emit(Level::warning, std::forward<A>(a)...);
    }
    template <typename... A>
    void error(A&&... a) const {
        emit(Level::error, std::forward<A>(a)...);
    }

  private:
    template <typename... A>
    void emit(Level l, A&&... a) const {
        if (enabled(l)) write(l, profile_, peer_, cat(std::forward<A>(a)...));
    }
    std::string profile_;
    std::string peer_;
};

/// The daemon-wide logger (no profile).
inline const Logger& global() {
    static const Logger l;
    return l;
}

}  // namespace ghost::log

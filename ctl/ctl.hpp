#pragma once
/// Shared pieces of ghostctl: options, the daemon connection, output helpers, exit codes.

#include <functional>
#include <memory>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

namespace ghost::ctl {

/// Documented exit codes (docs/ghostctl.md).
namespace exit_code {
inline constexpr int ok = 0;
inline constexpr int failed = 1;  // the operation ran and failed (up → failed, check → errors)
inline constexpr int usage = 2;   // bad command line
inline constexpr int unreachable = 3;  // ghostd not running / socket or bus unreachable
inline constexpr int denied = 4;       // permission denied
inline constexpr int not_found = 5;    // no such profile / session
inline constexpr int config = 6;       // profile has configuration errors
inline constexpr int protocol = 7;     // unexpected answer, timeout, internal error
}  // namespace exit_code

struct Options {
    bool json = false;
    bool dbus = false;
    std::string socket = "/run/ghost/ghostd.sock";
    int timeout_s = 90;
    std::vector<std::string> args;  // verb arguments
};

/// The answer to one call.
struct Answer {
    bool ok = false;
    nlohmann::json result;
    int code = 0;
    std::string message;
    nlohmann::json data;
};

/// A connection to ghostd over the socket or D-Bus.
class Connection {
  public:
    virtual ~Connection() = default;
    /// Calls a core method with named params. Exits the process on transport failure.
    virtual Answer call(const std::string& method, const nlohmann::json& params) = 0;
    /// Subscribes to events and calls `on_event` for each until it returns false.
    virtual void follow(const std::function<bool(const nlohmann::json&)>& on_event) = 0;
    /// After a call that turned the connection into a byte stream (profile.connect): the
    /// socket and any stream bytes already read. -1 when this connection cannot do that.
    virtual int take_stream(std::string* buffered) {
        (void)buffered;
        return -1;
    }
};

std::unique_ptr<Connection> connect_socket(const Options& o);
std::unique_ptr<Connection> connect_dbus(const Options& o);
std::unique_ptr<Connection> connect(const Options& o);

// Everything ghostctl prints goes through these helpers: text from ghostd, configs and peers
// is escaped with text::printable, so it cannot carry terminal control sequences.

/// Prints an error answer to stderr and returns the exit code for it.
int report_error(const Answer& a);
/// Prints "ghostctl: MESSAGE" to stderr (each line escaped) and returns `code`.
int fail(int code, const std::string& message);
/// Prints one line of text to stdout, escaped.
void print_line(const std::string& text);
/// Prints one line of text to stderr, escaped.
void print_error_line(const std::string& text);
/// Prints a table: header row and rows, columns padded, cells escaped.
void print_table(const std::vector<std::string>& header,
                 const std::vector<std::vector<std::string>>& rows);
/// Prints JSON (pretty) to stdout, strings escaped; valid JSON whatever the bytes.
void print_json(const nlohmann::json& j);
/// Prints JSON on one line to stdout (and flushes), strings escaped.
void print_json_line(const nlohmann::json& j);
/// Human "3m 12s" for a duration in seconds.
std::string human_duration(int64_t seconds);
/// Human "1.2 MiB" for bytes.
std::string human_bytes(uint64_t bytes);
/// Human "rtt 100.4 ms (min 100.0), ssh rtt 100.9 ms, window 16.0 MiB" for a session's
/// `path` object;
/// empty when nothing was measured.
std::string human_path(const nlohmann::json& path);

}  // namespace ghost::ctl

#pragma once
/// Up/down hooks of a profile: an executable run when the profile becomes `up` and when
/// it leaves `up` (GHOST_STATE = reconnecting, down or failed), with a timeout. A hook's
/// failure is reported (log, event, status), never fatal to the profile.
///
/// Environment (nothing inherited from ghostd): PATH, GHOST_PROFILE, GHOST_STATE,
/// GHOST_HOOK (up|down), GHOST_TUN_DEV (TUN profiles). stdin is /dev/null; the first
/// lines of stdout/stderr are logged.
///
/// The executable must be an absolute path to a regular file owned by root (or by
/// ghostd's user) and not writable by group or others, as sshd demands of its files.

#include <chrono>
#include <functional>
#include <string>
#include <thread>
#include <vector>

#include <asio.hpp>
#include <nlohmann/json.hpp>

namespace ghost::daemon {

struct HookRun {
    std::string profile;
    std::string hook;  // "up" | "down"
    std::string path;
    std::string state;  // GHOST_STATE
    std::string tun_dev;
    std::chrono::seconds timeout{10};
};

struct HookResult {
    bool ok = false;
    int exit_code = -1;   // -1 when it did not run or was killed
    std::string message;  // "exited with status 3", "killed after 10 s timeout", ...
    std::string output;   // first lines of stdout+stderr (bounded)
    double seconds = 0;

    nlohmann::json to_json() const;
};

/// Why `path` may not be run as a hook, or "" when it may.
std::string hook_path_problem(const std::string& path);

/// Runs the hook on the returned thread; `done` is posted to `io` with the result (the
/// thread ends right after). The caller joins the thread (in `done`, or at shutdown).
std::thread run_hook(asio::io_context& io, HookRun run, std::function<void(HookResult)> done);

}  // namespace ghost::daemon

#include "daemon/profile/hooks.hpp"

#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <spawn.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <thread>

namespace ghost::daemon {
namespace {

constexpr size_t kMaxOutput = 4096;  // bytes of hook output kept for the log/status

}  // namespace

nlohmann::json HookResult::to_json() const {
    return {{"ok", ok},
            {"exit_code", exit_code},
            {"message", message},
            {"output", output},
            {"seconds", seconds}};
}

std::string hook_path_problem(const std::string& path) {
    if (path.empty() || path[0] != '/') return "hook '" + path + "' is not an absolute path";
    struct stat st {};
    if (::stat(path.c_str(), &st) != 0) return "hook " + path + ": " + std::strerror(errno);
    if (!S_ISREG(st.st_mode)) return "hook " + path + " is not a regular file";
    if ((st.st_mode & S_IXUSR) == 0) return "hook " + path + " is not executable";
    if (st.st_uid != 0 && st.st_uid != ::geteuid())
        return "hook " + path + " is owned by uid " + std::to_string(st.st_uid) +
               " (must be root's)";
    if ((st.st_mode & (S_IWGRP | S_IWOTH)) != 0)
        return "hook " + path + " is writable by group or others (mode " + [&] {
            char m[8];
            std::snprintf(m, sizeof m, "%04o", st.st_mode & 07777);
            return std::string(m);
        }() + ")";
    return {};
}

namespace {

HookResult execute(const HookRun& run) {
    HookResult r;
    if (std::string why = hook_path_problem(run.path); !why.empty()) {
        r.message = why;
        return r;
    }
    int out[2];
    if (::pipe2(out, O_CLOEXEC) != 0) {
        r.message = std::string("cannot create pipe: ") + std::strerror(errno);
        return r;
    }
    std::vector<std::string> env = {
        "PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin",
        "GHOST_PROFILE=" + run.profile, "GHOST_STATE=" + run.state, "GHOST_HOOK=" + run.hook};
    if (!run.tun_dev.empty()) env.push_back("GHOST_TUN_DEV=" + run.tun_dev);
    std::vector<char*> envp;
    for (auto& e : env) envp.push_back(e.data());
    envp.push_back(nullptr);
    std::string path = run.path;
    char* argv[] = {path.data(), nullptr};

    posix_spawn_file_actions_t fa;
    posix_spawn_file_actions_init(&fa);
    posix_spawn_file_actions_addopen(&fa, 0, "/dev/null", O_RDONLY, 0);
    posix_spawn_file_actions_adddup2(&fa, out[1], 1);
    posix_spawn_file_actions_adddup2(&fa, out[1], 2);
    posix_spawnattr_t attr;
    posix_spawnattr_init(&attr);
    sigset_t none, all;
    sigemptyset(&none);
    sigfillset(&all);
    posix_spawnattr_setsigmask(&attr, &none);  // ghostd blocks signals in its threads
    posix_spawnattr_setsigdefault(&attr, &all);
    posix_spawnattr_setpgroup(&attr, 0);  // own group: the timeout kills it all
    posix_spawnattr_setflags(
        &attr, POSIX_SPAWN_SETSIGMASK | POSIX_SPAWN_SETSIGDEF | POSIX_SPAWN_SETPGROUP);
    auto start = std::chrono::steady_clock::now();
    pid_t pid = -1;
    int rc = posix_spawn(&pid, path.c_str(), &fa, &attr, argv, envp.data());
    posix_spawn_file_actions_destroy(&fa);
    posix_spawnattr_destroy(&attr);
    ::close(out[1]);
    if (rc != 0) {
        ::close(out[0]);
        r.message = "cannot run hook " + run.path + ": " + std::strerror(rc);
        return r;
    }

    auto deadline = start + run.timeout;
    bool killed = false, pipe_open = true;
    int status = 0;
    char buf[1024];
    for (;;) {
        pid_t w = ::waitpid(pid, &status, WNOHANG);
        if (w == pid) break;
        auto now = std::chrono::steady_clock::now();
        if (!killed && now >= deadline) {
            ::kill(-pid, SIGKILL);
            killed = true;
        }
        if (pipe_open) {
            struct pollfd p {
                out[0], POLLIN, 0
            };
            if (::poll(&p, 1, 50) > 0) {
                ssize_t n = ::read(out[0], buf, sizeof buf);
                if (n <= 0)
                    pipe_open = false;
                else if (r.output.size() < kMaxOutput)
                    r.output.append(buf, std::min<size_t>(static_cast<size_t>(n),
                                                          kMaxOutput - r.output.size()));
            }
        } else {
            std::this_thread::sleep_for(std::chrono::milliseconds(50));
        }
    }
    // What the hook wrote just before exiting is still in the pipe.
    ::fcntl(out[0], F_SETFL, O_NONBLOCK);
    for (ssize_t n; pipe_open && (n = ::read(out[0], buf, sizeof buf)) > 0;) {
        if (r.output.size() < kMaxOutput)
            r.output.append(buf,
                            std::min<size_t>(static_cast<size_t>(n), kMaxOutput - r.output.size()));
    }
    ::close(out[0]);
    r.seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
    while (!r.output.empty() && (r.output.back() == '\n' || r.output.back() == '\r'))
        r.output.pop_back();
    if (killed) {
        r.message = "killed after the " + std::to_string(run.timeout.count()) +
                    " s timeout (hooks.timeout)";
    } else if (WIFEXITED(status)) {
        r.exit_code = WEXITSTATUS(status);
        r.ok = r.exit_code == 0;
        r.message = "exited with status " + std::to_string(r.exit_code);
    } else if (WIFSIGNALED(status)) {
        r.message = std::string("killed by signal ") + strsignal(WTERMSIG(status));
    }
    return r;
}

}  // namespace

std::thread run_hook(asio::io_context& io, HookRun run, std::function<void(HookResult)> done) {
    return std::thread([&io, run = std::move(run), done = std::move(done)]() mutable {
        HookResult r = execute(run);
        asio::post(io,
                   [done = std::move(done), r = std::move(r)]() mutable { done(std::move(r)); });
    });
}

}  // namespace ghost::daemon

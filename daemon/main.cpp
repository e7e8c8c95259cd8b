// ghostd: the ghost daemon. Parses the command line, loads configuration, starts the
// control plane (JSON-RPC socket, D-Bus) and the worker pool, and runs until SIGTERM.

#include <sys/resource.h>
#include <sys/stat.h>

#include <csignal>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <iostream>
#include <string>
#include <vector>

#include "common/config/schema.hpp"
#include "daemon/control/core_api.hpp"
#include "daemon/control/dbus_service.hpp"
#include "daemon/control/rpc_server.hpp"
#include "daemon/core/log.hpp"
#include "daemon/core/worker_pool.hpp"
#include "daemon/profile/manager.hpp"
#include "daemon/systemd/notify.hpp"
#include "daemon/tun/routing.hpp"
#include "io/config_file.hpp"

namespace {

using namespace ghost;
using namespace ghost::daemon;

// Rules and table routes of TUN profiles carry ghost's route protocol; after a crash
// (SIGKILL) they outlive the process (the device itself does not). Remove them before
// any profile starts. Failing here (no CAP_NET_ADMIN) only costs a log line.
void remove_tun_leftovers() {
    tun::Netlink nl;
    size_t removed = 0;
    if (nl.connect()) return;
    if (auto ec = tun::Routing::cleanup_leftovers(nl, &removed)) {
        log::Logger().warning("cannot check for leftover TUN routes: ", ec.message());
    } else if (removed > 0) {
        log::Logger().notice("removed ", removed, " TUN routes and rules left by an earlier run");
    }
}

struct Options {
    Paths paths{GHOST_SYSCONFDIR, "/run/ghost", "/var/lib/ghost"};
    bool check_config = false;
    bool dump_schema = false;
    std::string log_level;
};

constexpr const char* kUsage =
    "usage: ghostd [options]\n"
    "  --foreground         run in the foreground (ghostd never forks; accepted for clarity)\n"
    "  --config-dir DIR     ghostd.json and profiles/ (default " GHOST_SYSCONFDIR
    ")\n"
    "  --runtime-dir DIR    control socket ghostd.sock (default /run/ghost)\n"
    "  --state-dir DIR      generated keys (default /var/lib/ghost)\n"
    "  --log-level LEVEL    debug|info|notice|warning|error (overrides ghostd.json)\n"
    "  --check-config       validate ghostd.json and every profile, then exit (0 = valid)\n"
    "  --dump-schema        print the configuration reference (markdown) and exit\n"
    "  --version            print the version and exit\n";

/// systemd passes its directories in the environment; the command line still wins.
void apply_systemd_dirs(Options& o) {
    auto first = [](const char* v) {
        std::string s(v);
        return s.substr(0, s.find(':'));
    };
    if (const char* v = std::getenv("CONFIGURATION_DIRECTORY")) o.paths.config_dir = first(v);
    if (const char* v = std::getenv("RUNTIME_DIRECTORY")) o.paths.runtime_dir = first(v);
    if (const char* v = std::getenv("STATE_DIRECTORY")) o.paths.state_dir = first(v);
}

int parse_args(int argc, char** argv, Options& o) {
    std::vector<std::string> args(argv + 1, argv + argc);
    for (size_t i = 0; i < args.size(); ++i) {
        const std::string& a = args[i];
        auto value = [&](std::string* out) {
            if (i + 1 >= args.size()) {
                std::cerr << "ghostd: " << a << " needs a value\n" << kUsage;
                return false;
            }
            *out = args[++i];
            return true;
        };
        if (a == "--foreground" || a == "-f") continue;
        if (a == "--config-dir") {
            if (!value(&o.paths.config_dir)) return 2;
            continue;
        }
        if (a == "--runtime-dir") {
            if (!value(&o.paths.runtime_dir)) return 2;
            continue;
        }
        if (a == "--state-dir") {
            if (!value(&o.paths.state_dir)) return 2;
            continue;
        }
        if (a == "--log-level") {
            if (!value(&o.log_level)) return 2;
            continue;
        }
        if (a == "--check-config") {
            o.check_config = true;
            continue;
        }
        if (a == "--dump-schema") {
            o.dump_schema = true;
            continue;
        }
        if (a == "--version") {
            std::cout << "ghostd " GHOST_VERSION "\n";
            return 0;
        }
        if (a == "--help" || a == "-h") {
            std::cout << kUsage;
            return 0;
        }
        std::cerr << "ghostd: unknown option '" << a << "'\n" << kUsage;
        return 2;
    }
    return -1;
}

std::string daemon_config_path(const Options& o) {
    return o.paths.config_dir + "/ghostd.json";
}

/// --check-config: the same validator the daemon uses, every problem printed.
int check_config(const Options& o) {
    std::vector<config::Error> errors;
    io::load_daemon_config(daemon_config_path(o), errors);
    asio::io_context io;
    WorkerPool workers(1);
    ProfileManager pm(io, workers, o.paths);
    auto report = pm.load();
    errors.insert(errors.end(), report.errors.begin(), report.errors.end());
    for (auto& e : errors) std::cerr << e.str() << "\n";
    std::cout << (errors.empty() ? "ok: " : "invalid: ") << pm.names().size() << " profile(s) in "
              << o.paths.config_dir << "/profiles, " << errors.size() << " error(s)\n";
    workers.stop();
    return errors.empty() ? 0 : 1;
}

bool make_dir(const std::string& path, mode_t mode, std::string* why) {
    std::error_code ec;
    std::filesystem::create_directories(path, ec);
    if (ec) {
        *why = "cannot create " + path + ": " + ec.message();
        return false;
    }
    ::chmod(path.c_str(), mode);
    return true;
}

/// Every flow is a socket: raise the soft fd limit to the hard one, but keep fds below
/// 65536 because libssh 0.10 truncates larger ones.
void raise_fd_limit() {
    struct rlimit rl {};
    if (getrlimit(RLIMIT_NOFILE, &rl) != 0) return;
    rlim_t want = std::min<rlim_t>(rl.rlim_max, 65536);
    if (rl.rlim_cur < want) {
        rl.rlim_cur = want;
        setrlimit(RLIMIT_NOFILE, &rl);
    }
}

std::string status_line(const ProfileManager& pm) {
    return log::cat("running: ", pm.names().size(), " profile(s), ", pm.active_count(), " active");
}

int run(const Options& o) {
    std::vector<config::Error> errors;
    auto dcfg = io::load_daemon_config(daemon_config_path(o), errors);
    if (!dcfg) {
        for (auto& e : errors) std::cerr << "ghostd: " << e.str() << "\n";
        return 1;
    }
    log::Level level = log::Level::info;
    if (!log::parse_level(o.log_level.empty() ? dcfg->log_level : o.log_level, &level)) {
        std::cerr << "ghostd: invalid log level '" << o.log_level << "'\n";
        return 2;
    }
    log::init(level);
    const auto& L = log::global();
    std::string why;
    if (!make_dir(o.paths.runtime_dir, 0755, &why) || !make_dir(o.paths.state_dir, 0700, &why)) {
        L.error(why);
        return 1;
    }
    std::signal(SIGPIPE, SIG_IGN);
    raise_fd_limit();

    asio::io_context control(1);
    // Registered before anything is visible (control socket, bus name): a SIGTERM that
    // arrives while starting up is handled as a clean stop, never the default action.
    asio::signal_set signals(control, SIGTERM, SIGINT, SIGHUP);
    WorkerPool workers(dcfg->workers);
    ProfileManager profiles(control, workers, o.paths);
    auto report = profiles.load();
    for (auto& e : report.errors) L.error("config: ", e.str());
    CoreApi api(profiles);

    RpcServer::Limits limits;
    limits.max_clients = dcfg->rpc_max_clients;
    limits.reserved_clients = dcfg->rpc_reserved_clients;
    limits.max_clients_per_uid = dcfg->rpc_max_clients_per_user;
    limits.max_subscriptions_per_uid = dcfg->rpc_max_subscriptions_per_user;
    limits.max_request_bytes = dcfg->rpc_max_request_bytes;
    limits.idle_timeout = std::chrono::seconds(dcfg->rpc_idle_timeout_s);
    std::string sock = o.paths.runtime_dir + "/ghostd.sock";
    RpcServer rpc(control, api, sock, limits, dcfg->control_group);
    if (!rpc.start(&why)) {
        L.error(why);
        return 1;
    }

    DbusService dbus(control, api, log::Logger());
    dbus.set_control_group(dcfg->control_group);
    if (!dbus.start(&why)) L.warning("D-Bus front door disabled: ", why);

    bool stopping = false;
    notify::Watchdog watchdog(control);
    std::function<void()> wait_signal = [&] {
        signals.async_wait([&](asio::error_code ec, int sig) {
            if (ec) return;
            if (sig == SIGHUP) {
                notify::reloading();
                auto r = profiles.load();
                for (auto& e : r.errors) L.error("config: ", e.str());
                L.notice("reloaded: ", r.added.size(), " added, ", r.removed.size(), " removed, ",
                         r.changed.size(), " changed, ", r.errors.size(), " error(s)");
                notify::ready(status_line(profiles));
            } else if (!stopping) {
                stopping = true;
                L.notice("stopping (signal ", sig, "): bringing every profile down");
                notify::stopping();
                rpc.stop();
                dbus.stop();
                profiles.stop_all([&] {
                    watchdog.stop();
                    signals.cancel();
                    control.stop();
                });
                return;
            }
            wait_signal();
        });
    };
    wait_signal();

    watchdog.start();

    remove_tun_leftovers();
    profiles.autostart();
    L.notice("ghostd ", GHOST_VERSION, " ready: ", profiles.names().size(),
             " profile(s), control socket ", sock);
    notify::ready(status_line(profiles));
    control.run();
    workers.stop();
    L.notice("stopped");
    return 0;
}

}  // namespace

int main(int argc, char** argv) {
    Options o;
    apply_systemd_dirs(o);
    if (int rc = parse_args(argc, argv, o); rc >= 0) return rc;
    try {
        if (o.dump_schema) {
            std::cout << config::schema_markdown();
            return 0;
        }
        if (o.check_config) return check_config(o);
        return run(o);
    } catch (const std::exception& e) {
        std::cerr << "ghostd: fatal: " << e.what() << "\n";
        return 1;
    }
}

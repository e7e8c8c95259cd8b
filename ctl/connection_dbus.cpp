// D-Bus connection for `ghostctl --dbus`: the same verbs through org.ghost.Ghost1 on the
// system bus (DBUS_SYSTEM_BUS_ADDRESS honoured). Answers are shaped like the socket's.

#include <sdbus-c++/sdbus-c++.h>

#include <condition_variable>
#include <mutex>

#include "common/json/bounded_json.hpp"
#include "ctl/ctl.hpp"

namespace ghost::ctl {
namespace {

constexpr const char* kService = "org.ghost.Ghost1";
constexpr const char* kManagerPath = "/org/ghost/Ghost1";
constexpr const char* kManager = "org.ghost.Ghost1.Manager";

/// D-Bus error name → core error code (docs/dbus.md).
int code_for(const std::string& name) {
    static const std::pair<const char*, int> kMap[] = {
        {"org.ghost.Ghost1.Error.NotFound", -32001},
        {"org.ghost.Ghost1.Error.PermissionDenied", -32002},
        {"org.freedesktop.DBus.Error.AccessDenied", -32002},
        {"org.ghost.Ghost1.Error.InvalidState", -32003},
        {"org.ghost.Ghost1.Error.ConfigError", -32004},
        {"org.ghost.Ghost1.Error.Failed", -32005},
        {"org.freedesktop.DBus.Error.InvalidArgs", -32602},
    };
    for (auto& [n, c] : kMap)
        if (name == n) return c;
    return -32603;
}

/// A JSON object ghostd sent as a D-Bus string (GetStatus, GetInfo, ...), through the one
/// bounded parser. Exits with a protocol error when it is not a JSON object.
nlohmann::json parse_reply(const std::string& text) {
    auto parsed = bounded_json::parse(text);
    if (!parsed.ok() || !parsed.value.is_object())
        std::exit(fail(exit_code::protocol, "ghostd sent an invalid D-Bus reply" +
                                                (parsed.ok() ? "" : ": " + parsed.message)));
    return std::move(parsed.value);
}

bool unreachable(const std::string& name) {
    return name == "org.freedesktop.DBus.Error.ServiceUnknown" ||
           name == "org.freedesktop.DBus.Error.NameHasNoOwner" ||
           name == "org.freedesktop.DBus.Error.NoServer" ||
           name == "org.freedesktop.DBus.Error.FileNotFound";
}

class DbusConnection : public Connection {
  public:
    explicit DbusConnection(const Options& o) : opts_(o) {
        try {
            bus_ = sdbus::createSystemBusConnection();
            manager_ = sdbus::createProxy(*bus_, kService, kManagerPath);
        } catch (const sdbus::Error& e) {
            std::exit(
                fail(exit_code::unreachable, "cannot reach the system bus: " + e.getMessage()));
        }
    }

    Answer call(const std::string& method, const nlohmann::json& params) override {
        try {
            return dispatch(method, params);
        } catch (const sdbus::Error& e) {
            if (unreachable(e.getName()))
                std::exit(fail(exit_code::unreachable,
                               "ghostd is not on the bus (" + e.getMessage() +
                                   ").\nStart it with: sudo systemctl start ghostd"));
            Answer a;
            a.code = code_for(e.getName());
            a.message = e.getMessage().empty() ? e.getName() : e.getMessage();
            return a;
        }
    }

    void follow(const std::function<bool(const nlohmann::json&)>& on_event) override {
        std::mutex m;
        std::condition_variable cv;
        bool done = false;
        manager_->uponSignal("ProfileStateChanged")
            .onInterface(kManager)
            .call(
                [&](const std::string& name, const std::string& state, const std::string& reason) {
                    nlohmann::json ev = {{"type", "state"},
                                         {"profile", name},
                                         {"state", state},
                                         {"reason", reason},
                                         {"time", std::time(nullptr)}};
                    std::lock_guard lock(m);
                    if (!done && !on_event(ev)) {
                        done = true;
                        cv.notify_all();
                    }
                });
        manager_->finishRegistration();
        bus_->enterEventLoopAsync();
        std::unique_lock lock(m);
        cv.wait(lock, [&] { return done; });
        bus_->leaveEventLoop();
    }

  private:
    Answer dispatch(const std::string& method, const nlohmann::json& p) {
        std::string json;
        if (method == "profile.list") {
            std::vector<sdbus::Struct<std::string, std::string, std::string, sdbus::ObjectPath>> v;
            v = invoke<decltype(v)>("ListProfiles");
            nlohmann::json out = nlohmann::json::array();
            for (auto& s : v) {
                auto st = parse_reply(invoke<std::string>("GetStatus", s.get<0>()));
                out.push_back({{"name", s.get<0>()},
                               {"role", s.get<1>()},
                               {"state", s.get<2>()},
                               {"last_error", st.value("last_error", "")},
                               {"autostart", st.value("autostart", false)},
                               {"path", std::string(s.get<3>())}});
            }
            return ok(std::move(out));
        }
        if (method == "profile.status") {
            json = invoke<std::string>("GetStatus", p.at("name").get<std::string>());
        } else if (method == "daemon.info") {
            json = invoke<std::string>("GetInfo");
        } else if (method == "daemon.reload") {
            json = invoke<std::string>("Reload");
        } else if (method == "config.check") {
            json = invoke<std::string>("CheckConfig", p.at("file").get<std::string>(),
                                       p.at("text").get<std::string>());
        } else if (method == "profile.up" || method == "profile.down") {
            std::string name = p.at("name").get<std::string>();
            if (method == "profile.up")
                invoke<std::string>("Up", name, p.value("wait", true));
            else
                invoke<std::string>("Down", name);
            json = invoke<std::string>("GetStatus", name);
        } else {
            Answer a;
            a.code = -32601;
            a.message =
                method + " is not available over D-Bus; use the control socket (without --dbus)";
            return a;
        }
        return ok(parse_reply(json));
    }

    /// Calls a Manager method with a timeout and returns its single result.
    template <typename Out, typename... In>
    Out invoke(const char* method, const In&... in) {
        auto call = manager_->createMethodCall(kManager, method);
        ((call << in), ...);
        auto reply = manager_->callMethod(call, static_cast<uint64_t>(opts_.timeout_s) * 1000000);
        Out out;
        reply >> out;
        return out;
    }

    static Answer ok(nlohmann::json r) {
        Answer a;
        a.ok = true;
        a.result = std::move(r);
        return a;
    }

    Options opts_;
    std::unique_ptr<sdbus::IConnection> bus_;
    std::unique_ptr<sdbus::IProxy> manager_;
};

}  // namespace

std::unique_ptr<Connection> connect_dbus(const Options& o) {
    return std::make_unique<DbusConnection>(o);
}

}  // namespace ghost::ctl

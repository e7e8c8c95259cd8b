#include "daemon/control/dbus_service.hpp"

#include <grp.h>
#include <poll.h>
#include <pwd.h>
#include <sys/eventfd.h>
#include <unistd.h>

#include <sdbus-c++/sdbus-c++.h>

#include <atomic>
#include <cerrno>
#include <map>
#include <mutex>
#include <optional>
#include <set>
#include <system_error>
#include <thread>
#include <vector>

#include "common/rpc/authz.hpp"
#include "common/rpc/slot_pool.hpp"
#include "common/text/printable.hpp"
#include "common/text/printable_json.hpp"
#include "daemon/control/core_api.hpp"
#include "daemon/control/dbus_names.hpp"
#include "daemon/control/dbus_profile_object.hpp"
#include "daemon/control/dbus_request.hpp"

namespace ghost::daemon {
namespace {

using dbus::ReplyKind;
using dbus::Request;
using nlohmann::json;

// D-Bus calls waiting for the core at once, of which some are kept for root and the control
// group, and how many one other uid may have waiting: a flood of read-only calls from
// unprivileged users cannot keep root's Down from being heard.
constexpr rpc::SlotPool::Limits kPendingCalls{.total = 128, .reserved = 32, .per_uid = 32};

using ProfileEntry = sdbus::Struct<std::string, std::string, std::string, sdbus::ObjectPath>;

// Who sent a method call, decided once.
struct Who {
    rpc::Caller caller;
    bool privileged = false;  // rpc::privileged: root or the control group
};

// A call waiting for the core, with the slot it holds.
struct Pending {
    sdbus::MethodCall call;
    Who who;
};

std::string string_field(const json& object, const char* key) {
    auto it = object.find(key);
    return (it != object.end() && it->is_string()) ? it->get<std::string>() : std::string();
}

std::optional<gid_t> group_id(const char* name) {
    std::vector<char> buffer(16384);
    group entry{};
    group* found = nullptr;
    if (getgrnam_r(name, &entry, buffer.data(), buffer.size(), &found) != 0 || !found) {
        return std::nullopt;
    }
    return found->gr_gid;
}

std::string user_name(uid_t uid) {
    std::vector<char> buffer(16384);
    passwd entry{};
    passwd* found = nullptr;
    if (getpwuid_r(uid, &entry, buffer.data(), buffer.size(), &found) == 0 && found) {
        return found->pw_name;
    }
    return "uid " + std::to_string(uid);
}

// The caller's uid, gid and supplementary groups as the bus (and /proc) report them, so
// the decision matches the socket front door's SO_PEERCRED + SO_PEERGROUPS.
rpc::Caller bus_caller(const sdbus::MethodCall& call) {
    rpc::Caller caller;
    caller.uid = call.getCredsUid();
    if (caller.uid == 0) return caller;  // root needs no group lookups
    caller.gid = call.getCredsGid();
    caller.groups = call.getCredsSupplementaryGids();
    return caller;
}

// Builds the D-Bus reply body from a core result. Throws on a malformed result.
void append_result(sdbus::MethodReply& reply, ReplyKind kind, const json& result) {
    switch (kind) {
        case ReplyKind::state:
            reply << result.at("state").get<std::string>();
            break;
        case ReplyKind::json:
            reply << text::dump_printable(result);
            break;
        case ReplyKind::object_path:
            reply << sdbus::ObjectPath(
                dbus::profile_object_path(result.at("name").get<std::string>()));
            break;
        case ReplyKind::profile_list: {
            std::vector<ProfileEntry> entries;
            for (const json& p : result) {
                const std::string name = p.at("name").get<std::string>();
                entries.emplace_back(text::printable(name),
                                     text::printable(string_field(p, "role")),
                                     text::printable(string_field(p, "state")),
                                     sdbus::ObjectPath(dbus::profile_object_path(name)));
            }
            reply << entries;
            break;
        }
    }
}

}  // namespace

class DbusService::Impl : public std::enable_shared_from_this<Impl> {
  public:
    Impl(asio::io_context& control, CoreApi& api, log::Logger logger)
        : control_(control), api_(api), log_(std::move(logger)) {}
    ~Impl() { teardown(); }

    bool start(std::string* error);
    void teardown();
    void set_control_group(std::string group) { control_group_ = std::move(group); }

  private:
    // Bus thread.
    void run_bus_loop();
    void dispatch(sdbus::MethodCall call, Request request);
    Who identify(const sdbus::MethodCall& call) const;
    uint64_t admit(sdbus::MethodCall call, const Who& who);
    // Control thread.
    void register_manager();
    void call_core(uint64_t id, Request request);
    void finish(uint64_t id, ReplyKind kind, const ApiResult& result);
    void send_reply(const sdbus::MethodCall& call, ReplyKind kind, const ApiResult& result);
    void load_profiles();
    void on_event(const json& event);
    void on_state(const std::string& name, const json& event);
    void add_profile(const std::string& name, const json& fields);
    void remove_profile(const std::string& name);
    void update_profile(const std::string& name, const json& fields);
    void refresh_profile(const std::string& name);
    template <typename F>
    void guarded(const char* what, F&& action);
    // Any thread.
    void wake();

    asio::io_context& control_;
    CoreApi& api_;
    log::Logger log_;
    std::unique_ptr<sdbus::IConnection> connection_;
    std::unique_ptr<sdbus::IObject> manager_;
    std::map<std::string, std::unique_ptr<dbus::ProfileObject>> profiles_;
    std::set<std::string> mutating_;  // written before the bus thread starts
    std::string control_group_ = "ghost";
    std::optional<gid_t> control_gid_;  // written before the bus thread starts
    std::optional<uint64_t> subscription_;
    std::mutex pending_mutex_;
    std::map<uint64_t, Pending> pending_;         // calls waiting for the core
    rpc::SlotPool pending_slots_{kPendingCalls};  // accounts for pending_
    uint64_t next_call_id_ = 1;
    std::thread bus_thread_;
    int wake_fd_ = -1;
    std::atomic<bool> stopping_{false};
    std::atomic<bool> bus_alive_{false};
};

bool DbusService::Impl::start(std::string* error) {
    if (connection_) return true;
    stopping_ = false;
    control_gid_ = group_id(control_group_.c_str());
    for (const std::string& method : api_.method_names()) {  // who may call: the core's table
        if (api_.find(method)->mutating) mutating_.insert(method);
    }
    try {
        wake_fd_ = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
        if (wake_fd_ < 0) throw std::system_error(errno, std::generic_category(), "eventfd");
        connection_ = sdbus::createSystemBusConnection();
        register_manager();
        bus_alive_ = true;
        std::weak_ptr<Impl> weak = weak_from_this();
        subscription_ = api_.subscribe([weak](const json& event) {
            if (auto self = weak.lock()) self->on_event(event);
        });
        load_profiles();
        // The name last: whoever sees it appear finds the objects already exported.
        connection_->requestName(dbus::kBusName);
        bus_thread_ = std::thread([this] { run_bus_loop(); });
    } catch (const std::exception& e) {
        *error = std::string("cannot serve ") + dbus::kBusName + " on the system bus: " + e.what();
        teardown();
        return false;
    }
    log_.info("D-Bus: serving ", dbus::kBusName, " at ", dbus::kManagerPath);
    return true;
}

void DbusService::Impl::teardown() {
    stopping_ = true;
    if (bus_thread_.joinable()) {
        wake();
        bus_thread_.join();
    }
    bus_alive_ = false;
    if (subscription_) {
        api_.unsubscribe(*subscription_);
        subscription_.reset();
    }
    if (connection_) {
        try {
            connection_->releaseName(dbus::kBusName);
        } catch (const sdbus::Error&) {
            // never owned it, or the bus is gone: nothing to release
        }
    }
    profiles_.clear();
    manager_.reset();
    {
        // Messages hold the connection's internals: drop them before the connection.
        std::lock_guard lock(pending_mutex_);
        pending_.clear();
        pending_slots_ = rpc::SlotPool(kPendingCalls);
    }
    connection_.reset();
    if (wake_fd_ >= 0) close(wake_fd_);
    wake_fd_ = -1;
}

void DbusService::Impl::wake() {
    if (wake_fd_ < 0) return;
    const uint64_t one = 1;
    [[maybe_unused]] ssize_t n = write(wake_fd_, &one, sizeof one);
}

void DbusService::Impl::run_bus_loop() {
    log::set_thread_name("dbus");
    try {
        while (!stopping_) {
            while (!stopping_ && connection_->processPendingRequest()) {
            }
            const auto poll_data = connection_->getEventLoopPollData();
            pollfd fds[2] = {{poll_data.fd, poll_data.events, 0}, {wake_fd_, POLLIN, 0}};
            if (poll(fds, 2, poll_data.getPollTimeout()) < 0 && errno != EINTR) {
                throw std::system_error(errno, std::generic_category(), "poll on the bus");
            }
            uint64_t drained = 0;
            if (fds[1].revents & POLLIN) (void)!read(wake_fd_, &drained, sizeof drained);
        }
    } catch (const std::exception& e) {
        bus_alive_ = false;
        log_.error("D-Bus: lost the system bus (", e.what(),
                   "); D-Bus control is off until ghostd restarts, the socket still works");
    }
}

void DbusService::Impl::register_manager() {
    manager_ = sdbus::createObject(*connection_, dbus::kManagerPath);
    const char* iface = dbus::kManagerInterface;
    auto method = [this, iface](const char* member, const char* in,
                                const std::vector<std::string>& in_names, const char* out,
                                const std::string& out_name,
                                std::function<Request(sdbus::MethodCall&)> decode) {
        manager_->registerMethod(iface, member, in, in_names, out, {out_name},
                                 [this, decode](sdbus::MethodCall call) {
                                     Request request = decode(call);
                                     dispatch(std::move(call), std::move(request));
                                 });
    };
    method("ListProfiles", "", {}, "a(ssso)", "profiles", [](sdbus::MethodCall&) {
        return Request{"profile.list", json::object(), ReplyKind::profile_list};
    });
    method("GetProfile", "s", {"name"}, "o", "path", [](sdbus::MethodCall& call) {
        std::string name;
        call >> name;
        return Request{"profile.status", {{"name", name}}, ReplyKind::object_path};
    });
    method("GetStatus", "s", {"name"}, "s", "json", [](sdbus::MethodCall& call) {
        std::string name;
        call >> name;
        return Request{"profile.status", {{"name", name}}, ReplyKind::json};
    });
    method("GetInfo", "", {}, "s", "json", [](sdbus::MethodCall&) {
        return Request{"daemon.info", json::object(), ReplyKind::json};
    });
    method("Up", "sb", {"name", "wait"}, "s", "state", [](sdbus::MethodCall& call) {
        std::string name;
        bool wait = true;
        call >> name >> wait;
        return Request{"profile.up", {{"name", name}, {"wait", wait}}, ReplyKind::state};
    });
    method("Down", "s", {"name"}, "s", "state", [](sdbus::MethodCall& call) {
        std::string name;
        call >> name;
        return Request{"profile.down", {{"name", name}}, ReplyKind::state};
    });
    method("Reload", "", {}, "s", "json", [](sdbus::MethodCall&) {
        return Request{"daemon.reload", json::object(), ReplyKind::json};
    });
    method("CheckConfig", "ss", {"file", "text"}, "s", "json", [](sdbus::MethodCall& call) {
        std::string file, text;
        call >> file >> text;
        return Request{"config.check",
                       {{"file", std::move(file)}, {"text", std::move(text)}},
                       ReplyKind::json};
    });
    manager_->registerSignal(iface, "ProfileStateChanged", "sss", {"name", "state", "reason"});
    manager_->addObjectManager();
    manager_->finishRegistration();
}

void DbusService::Impl::dispatch(sdbus::MethodCall call, Request request) {
    const Who who = identify(call);
    if (mutating_.count(request.method) != 0 && !who.privileged) {
        throw sdbus::Error(
            dbus::kErrorPermissionDenied,
            rpc::denial_message(request.method, control_group_, user_name(who.caller.uid)));
    }
    const uint64_t id = admit(std::move(call), who);
    std::weak_ptr<Impl> weak = weak_from_this();
    asio::post(control_, [weak, id, request = std::move(request)]() mutable {
        if (auto self = weak.lock()) self->call_core(id, std::move(request));
    });
}

// Asked of the bus once per call, for the permission check and for the reserved slots.
Who DbusService::Impl::identify(const sdbus::MethodCall& call) const {
    Who who;
    try {
        who.caller = bus_caller(call);
    } catch (const sdbus::Error&) {
        return who;  // the caller vanished or the bus would not say who it is: unprivileged
    }
    who.privileged = rpc::privileged(who.caller, control_gid_);
    return who;
}

// Takes a pending-call slot (or refuses, naming the limit) and parks the call.
uint64_t DbusService::Impl::admit(sdbus::MethodCall call, const Who& who) {
    std::lock_guard lock(pending_mutex_);
    const auto verdict = pending_slots_.acquire(who.caller.uid, who.privileged);
    if (verdict != rpc::SlotPool::Verdict::granted) {
        throw sdbus::Error(
            dbus::kErrorFailed,
            pending_slots_.refusal(verdict, "D-Bus calls in progress", who.caller.uid));
    }
    const uint64_t id = next_call_id_++;
    pending_.emplace(id, Pending{std::move(call), who});
    return id;
}

void DbusService::Impl::call_core(uint64_t id, Request request) {
    const ReplyKind kind = request.kind;
    std::weak_ptr<Impl> weak = weak_from_this();
    api_.call(request.method, request.params, [weak, id, kind](ApiResult result) {
        if (auto self = weak.lock()) self->finish(id, kind, result);
    });
}

void DbusService::Impl::finish(uint64_t id, ReplyKind kind, const ApiResult& result) {
    std::optional<sdbus::MethodCall> call;
    {
        std::lock_guard lock(pending_mutex_);
        auto it = pending_.find(id);
        if (it == pending_.end()) return;
        call = std::move(it->second.call);
        pending_slots_.release(it->second.who.caller.uid, it->second.who.privileged);
        pending_.erase(it);
    }
    if (!bus_alive_ || call->doesntExpectReply()) return;
    guarded("method reply", [&] { send_reply(*call, kind, result); });
}

void DbusService::Impl::send_reply(const sdbus::MethodCall& call, ReplyKind kind,
                                   const ApiResult& result) {
    if (!result.ok) {
        // D-Bus strings must be UTF-8; the message may carry config or peer bytes.
        const sdbus::Error error(dbus::error_name(result.error.code),
                                 text::printable(result.error.message));
        call.createErrorReply(error).send();
        return;
    }
    auto reply = call.createReply();
    try {
        append_result(reply, kind, result.result);
    } catch (const json::exception& e) {
        log_.error("D-Bus: core answered ", call.getMemberName(),
                   " with an unexpected result: ", e.what());
        call.createErrorReply(sdbus::Error(dbus::kErrorFailed, "internal error: malformed result"))
            .send();
        return;
    }
    reply.send();
}

template <typename F>
void DbusService::Impl::guarded(const char* what, F&& action) {
    if (!bus_alive_) return;
    try {
        action();
    } catch (const sdbus::Error& e) {
        log_.warning("D-Bus: ", what, " failed: ", e.getName(), ": ", e.getMessage());
    }
    wake();  // the bus thread may need to flush what we queued
}

void DbusService::Impl::load_profiles() {
    std::weak_ptr<Impl> weak = weak_from_this();
    api_.call("profile.list", json::object(), [weak](ApiResult result) {
        auto self = weak.lock();
        if (!self || !result.ok || !result.result.is_array()) return;
        for (const json& entry : result.result) {
            const std::string name = string_field(entry, "name");
            self->add_profile(name, entry);
            self->refresh_profile(name);  // byte counters and runner fields
        }
    });
}

void DbusService::Impl::on_event(const json& event) {
    if (!event.is_object() || !connection_) return;
    const std::string type = string_field(event, "type");
    const std::string name = string_field(event, "profile");
    if (name.empty()) return;
    if (type == "state") {
        on_state(name, event);
    } else if (type == "stats") {
        update_profile(name, event);
    } else if (type == "profile.added" || type == "profile.changed") {
        refresh_profile(name);
    } else if (type == "profile.removed") {
        remove_profile(name);
    }
}

void DbusService::Impl::on_state(const std::string& name, const json& event) {
    const std::string state = string_field(event, "state");
    const std::string reason = string_field(event, "reason");
    update_profile(name, {{"state", state}});
    guarded("ProfileStateChanged", [&] {
        manager_->emitSignal("ProfileStateChanged")
            .onInterface(dbus::kManagerInterface)
            .withArguments(text::printable(name), text::printable(state), text::printable(reason));
    });
    refresh_profile(name);  // LastError and friends follow the state
}

void DbusService::Impl::add_profile(const std::string& name, const json& fields) {
    if (name.empty()) return;
    if (profiles_.count(name) != 0) {
        update_profile(name, fields);
        return;
    }
    guarded("export profile", [&] {
        auto object = std::make_unique<dbus::ProfileObject>(
            *connection_, name, [this](sdbus::MethodCall call, Request request) {
                dispatch(std::move(call), std::move(request));
            });
        object->update(fields);
        auto& slot = profiles_[name];
        slot = std::move(object);
        slot->emit_added();
    });
}

void DbusService::Impl::remove_profile(const std::string& name) {
    auto it = profiles_.find(name);
    if (it == profiles_.end()) return;
    guarded("unexport profile", [&] { it->second->emit_removed(); });
    profiles_.erase(it);
}

void DbusService::Impl::update_profile(const std::string& name, const json& fields) {
    auto it = profiles_.find(name);
    if (it == profiles_.end()) return;
    const std::vector<std::string> changed = it->second->update(fields);
    if (!changed.empty()) guarded("PropertiesChanged", [&] { it->second->emit_changed(changed); });
}

void DbusService::Impl::refresh_profile(const std::string& name) {
    std::weak_ptr<Impl> weak = weak_from_this();
    api_.call("profile.status", {{"name", name}}, [weak, name](ApiResult result) {
        auto self = weak.lock();
        if (!self || !self->connection_) return;
        if (result.ok) {
            self->add_profile(name, result.result);
        } else if (result.error.code == errc::not_found) {
            self->remove_profile(name);
        }
    });
}

DbusService::DbusService(asio::io_context& control, CoreApi& api, log::Logger logger)
    : impl_(std::make_shared<Impl>(control, api, std::move(logger))) {}

DbusService::~DbusService() {
    stop();
}

bool DbusService::start(std::string* error) {
    return impl_->start(error);
}

void DbusService::set_control_group(std::string group) {
    impl_->set_control_group(std::move(group));
}

void DbusService::stop() {
    impl_->teardown();
}

}  // namespace ghost::daemon

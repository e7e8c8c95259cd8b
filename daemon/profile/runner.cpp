#include "daemon/profile/runner.hpp"

#include "daemon/client/client_runner.hpp"

namespace ghost::daemon {

namespace {
/// Stand-in for roles whose data plane is not built: fails at once with the reason.
class UnsupportedRunner : public Runner {
public:
    UnsupportedRunner(RunnerContext ctx, std::string why) : ctx_(std::move(ctx)), why_(std::move(why)) {}
    void start() override { ctx_.report(ProfileState::failed, why_); }
    void stop(std::function<void()> done) override { asio::post(ctx_.control, std::move(done)); }
    nlohmann::json status() const override { return nlohmann::json::object(); }

private:
    RunnerContext ctx_;
    std::string why_;
};
}  // namespace

std::unique_ptr<Runner> make_runner(RunnerContext ctx) {
    if (ctx.profile.role == config::Role::client) return make_client_runner(std::move(ctx));
    return std::make_unique<UnsupportedRunner>(std::move(ctx),
                                               "server role: not yet supported by this ghostd");
}

const std::vector<std::string>& supported_features() {
    // Grows as data-plane pieces land; the schema tags every key with one of these names.
    static const std::vector<std::string> kFeatures = {"ssh", "forward", "remote_forward"};
    return kFeatures;
}

}  // namespace ghost::daemon

#include "daemon/client/client_runner.hpp"

#include "daemon/client/client_core.hpp"

namespace ghost::daemon {
namespace {

/// Control-thread face of a client profile; the work happens in ClientCore on a worker.
class ClientRunner : public Runner {
  public:
    explicit ClientRunner(RunnerContext ctx)
        : control_(ctx.control), core_(std::make_shared<client::ClientCore>(std::move(ctx))) {}

    ~ClientRunner() override {
        if (!stopped_) asio::post(core_->io(), [core = core_] { core->stop(); });
    }

    void start() override {
        if (started_ || stopped_) return;
        started_ = true;
        asio::post(core_->io(), [core = core_] { core->start(); });
    }

    void stop(std::function<void()> done) override {
        stopped_ = true;
        asio::post(core_->io(), [core = core_, &control = control_, done = std::move(done)] {
            core->stop();
            if (done) asio::post(control, done);
        });
    }

    nlohmann::json status() const override { return core_->status_json(); }

  private:
    asio::io_context& control_;
    std::shared_ptr<client::ClientCore> core_;
    bool started_ = false;
    bool stopped_ = false;
};

}  // namespace

std::unique_ptr<Runner> make_client_runner(RunnerContext ctx) {
    return std::make_unique<ClientRunner>(std::move(ctx));
}

}  // namespace ghost::daemon

#include "daemon/core/worker_pool.hpp"

#include "daemon/core/log.hpp"

namespace ghost::daemon {

WorkerPool::WorkerPool(unsigned count) {
    if (count == 0) count = std::max(1u, std::thread::hardware_concurrency());
    for (unsigned i = 0; i < count; ++i) {
        auto w = std::make_unique<Worker>();
        auto* io = &w->io;
        // The reactor opens descriptors when first used: have it now, not when a flood
        // has used them all (it would throw from a session's constructor).
        asio::steady_timer(*io).expires_after(std::chrono::seconds(0));
        w->thread = std::thread([io, i] {
            log::set_thread_name("worker" + std::to_string(i));
            io->run();
        });
        workers_.push_back(std::move(w));
    }
}

WorkerPool::~WorkerPool() {
    stop();
}

asio::io_context& WorkerPool::next() {
    return workers_[next_.fetch_add(1, std::memory_order_relaxed) % workers_.size()]->io;
}

void WorkerPool::stop() {
    for (auto& w : workers_) {
        w->guard.reset();
        w->io.stop();
    }
    for (auto& w : workers_) {
        if (w->thread.joinable()) w->thread.join();
    }
}

}  // namespace ghost::daemon

#pragma once
/// A fixed set of worker threads, each running its own io_context (DESIGN.md §6):
/// a session and all its channels live on exactly one worker.

#include <asio.hpp>

#include <atomic>
#include <memory>
#include <thread>
#include <vector>

namespace ghost::daemon {

class WorkerPool {
  public:
    /// Starts `count` workers (0 = one per core).
    explicit WorkerPool(unsigned count);
    ~WorkerPool();
    WorkerPool(const WorkerPool&) = delete;
    WorkerPool& operator=(const WorkerPool&) = delete;

    /// The next worker's io_context, round robin.
    asio::io_context& next();
    /// Number of workers.
    size_t size() const { return workers_.size(); }
    /// Stops every worker and joins its thread (idempotent).
    void stop();

  private:
    struct Worker {
        asio::io_context io{1};
        asio::executor_work_guard<asio::io_context::executor_type> guard{io.get_executor()};
        std::thread thread;
    };
    std::vector<std::unique_ptr<Worker>> workers_;
    std::atomic<size_t> next_{0};
};

}  // namespace ghost::daemon

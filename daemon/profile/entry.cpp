#include "daemon/profile/entry.hpp"

#include <cassert>

namespace ghost::daemon {

namespace {
/// The valid phase moves: start, stop (and what follows it), and the end of a stop.
[[maybe_unused]] bool valid_move(RunnerPhase from, RunnerPhase to) {
    using P = RunnerPhase;
    switch (from) {
        case P::idle:
            return to == P::running;  // start_runner
        case P::running:              // stop_runner
            return to == P::stopping || to == P::restarting || to == P::removing;
        case P::stopping:  // up during the stop, file removed, stop done
            return to == P::restarting || to == P::removing || to == P::idle;
        case P::restarting:  // down during the stop, file removed, stop done
            return to == P::stopping || to == P::removing || to == P::idle;
        case P::removing:  // the file came back, stop done
            return to == P::stopping || to == P::idle;
    }
    return false;
}
}  // namespace

std::string_view to_string(RunnerPhase p) {
    switch (p) {
        case RunnerPhase::idle:
            return "idle";
        case RunnerPhase::running:
            return "running";
        case RunnerPhase::stopping:
            return "stopping";
        case RunnerPhase::restarting:
            return "restarting";
        case RunnerPhase::removing:
            return "removing";
    }
    return "unknown";
}

void ProfileManager::Entry::set_phase(RunnerPhase next) {
    if (next == phase_) return;
    assert(valid_move(phase_, next));
    log::Logger(name).debug("runner ", to_string(phase_), " -> ", to_string(next));
    phase_ = next;
}

}  // namespace ghost::daemon

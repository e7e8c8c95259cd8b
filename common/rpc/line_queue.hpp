#pragma once
/// The lines waiting to be written to one control client, bounded in count and bytes. Lines
/// are shared, so an event fanned out to many subscribers is serialised and stored once.

#include <cstddef>
#include <deque>
#include <memory>
#include <string>

namespace ghost::rpc {

class LineQueue {
  public:
    using Line = std::shared_ptr<const std::string>;

    LineQueue(size_t max_lines, size_t max_bytes) : max_lines_(max_lines), max_bytes_(max_bytes) {}

    /// Appends `line`; false, with nothing appended, when it would pass either bound (the
    /// client is not reading: drop it rather than grow).
    bool push(Line line) {
        if (lines_.size() >= max_lines_ || line->size() > max_bytes_ - bytes_) return false;
        bytes_ += line->size();
        lines_.push_back(std::move(line));
        return true;
    }
    bool empty() const { return lines_.empty(); }
    const std::string& front() const { return *lines_.front(); }
    /// The i-th queued line (0 is the front), for writing several at once.
    const std::string& at(size_t i) const { return *lines_[i]; }
    void pop() {
        bytes_ -= lines_.front()->size();
        lines_.pop_front();
    }
    size_t size() const { return lines_.size(); }
    size_t bytes() const { return bytes_; }

  private:
    size_t max_lines_;
    size_t max_bytes_;
    size_t bytes_ = 0;
    std::deque<Line> lines_;
};

}  // namespace ghost::rpc

#pragma once
/// For tests of what happens when accept() fails with EMFILE: uses up every descriptor of the
/// process under a lowered RLIMIT_NOFILE until release() (or destruction) gives them back.
/// Open what the test itself needs (sockets, captured output) before.

#include <fcntl.h>
#include <sys/resource.h>
#include <unistd.h>

#include <algorithm>
#include <utility>
#include <vector>

namespace ghost::test {

class DescriptorExhaustion {
  public:
    DescriptorExhaustion() {
        ok_ = ::getrlimit(RLIMIT_NOFILE, &old_) == 0;
        rlimit low = old_;
        low.rlim_cur = std::min<rlim_t>(old_.rlim_cur, 512);
        ok_ = ok_ && ::setrlimit(RLIMIT_NOFILE, &low) == 0;
        for (int fd; ok_ && (fd = ::open("/dev/null", O_RDONLY | O_CLOEXEC)) >= 0;)
            held_.push_back(fd);
    }
    ~DescriptorExhaustion() { release(); }
    DescriptorExhaustion(const DescriptorExhaustion&) = delete;
    DescriptorExhaustion& operator=(const DescriptorExhaustion&) = delete;

    /// Whether the limit could be lowered (else nothing was taken).
    bool ok() const { return ok_; }

    /// Closes what was taken and restores the limit (idempotent).
    void release() {
        for (int fd : held_) ::close(fd);
        held_.clear();
        if (std::exchange(ok_, false)) ::setrlimit(RLIMIT_NOFILE, &old_);
    }

  private:
    rlimit old_{};
    std::vector<int> held_;
    bool ok_ = false;
};

}  // namespace ghost::test

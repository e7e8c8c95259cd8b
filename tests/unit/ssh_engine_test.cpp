// Drives the client engine (ClientCore via make_client_runner) against a real OpenSSH
// sshd on loopback: -L byte-exactness both ways, -R, host key mismatch, unauthorised
// key, non-SSH server, refused target, and reconnect after sshd restarts; and the
// global-request slot (keepalive answers never taken for a tcpip-forward's).

#include <gtest/gtest.h>
#include <libssh/libssh.h>
#include <libssh/server.h>
#include <netinet/in.h>
#include <signal.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include <array>
#include <condition_variable>
#include <cstdio>
#include <fstream>
#include <future>
#include <mutex>
#include <optional>
#include <random>
#include <sstream>
#include <thread>

#include "daemon/client/client_runner.hpp"
#include "daemon/ssh/global_requests.hpp"

using namespace ghost;
using namespace ghost::daemon;
using namespace std::chrono_literals;

namespace {

std::string run(const std::string& cmd) {
    std::string out;
    FILE* p = ::popen(cmd.c_str(), "r");
    if (!p) return out;
    std::array<char, 512> buf;
    while (size_t n = std::fread(buf.data(), 1, buf.size(), p)) out.append(buf.data(), n);
    ::pclose(p);
    while (!out.empty() && (out.back() == '\n' || out.back() == ' ')) out.pop_back();
    return out;
}

// A port free on 127.0.0.1, chosen below the kernel's ephemeral range (32768 and up) so an
// outgoing connection made later in the test cannot take it before the test binds it.
uint16_t free_port() {
    static std::mt19937 rng{std::random_device{}()};
    std::uniform_int_distribution<int> pick(10000, 32000);
    for (int tries = 0; tries < 1000; ++tries) {
        auto port = static_cast<uint16_t>(pick(rng));
        int s = ::socket(AF_INET, SOCK_STREAM, 0);
        sockaddr_in a{};
        a.sin_family = AF_INET;
        a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
        a.sin_port = htons(port);
        bool ok = ::bind(s, reinterpret_cast<sockaddr*>(&a), sizeof a) == 0;
        ::close(s);
        if (ok) return port;
    }
    return 0;
}

int connect_to(uint16_t port) {
    int s = ::socket(AF_INET, SOCK_STREAM, 0);
    sockaddr_in a{};
    a.sin_family = AF_INET;
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    a.sin_port = htons(port);
    if (::connect(s, reinterpret_cast<sockaddr*>(&a), sizeof a) != 0) {
        ::close(s);
        return -1;
    }
    timeval tv{20, 0};
    ::setsockopt(s, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
    return s;
}

/// Threaded echo server on loopback.
class EchoServer {
  public:
    EchoServer() {
        fd_ = ::socket(AF_INET, SOCK_STREAM, 0);
        int one = 1;
        ::setsockopt(fd_, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
        sockaddr_in a{};
        a.sin_family = AF_INET;
        a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
        ::bind(fd_, reinterpret_cast<sockaddr*>(&a), sizeof a);
        ::listen(fd_, 64);
        socklen_t len = sizeof a;
        ::getsockname(fd_, reinterpret_cast<sockaddr*>(&a), &len);
        port_ = ntohs(a.sin_port);
        thread_ = std::thread([this] { loop(); });
    }
    ~EchoServer() {
        ::shutdown(fd_, SHUT_RDWR);
        ::close(fd_);
        thread_.join();
    }
    uint16_t port() const { return port_; }

  private:
    void loop() {
        for (;;) {
            int c = ::accept(fd_, nullptr, nullptr);
            if (c < 0) return;
            std::thread([c] {
                std::vector<char> buf(65536);
                for (;;) {
                    ssize_t n = ::read(c, buf.data(), buf.size());
                    if (n <= 0) break;
                    for (ssize_t off = 0; off < n;) {
                        ssize_t w = ::write(c, buf.data() + off, static_cast<size_t>(n - off));
                        if (w <= 0) return (void)::close(c);
                        off += w;
                    }
                }
                ::shutdown(c, SHUT_WR);
                ::close(c);
            }).detach();
        }
    }
    int fd_;
    uint16_t port_;
    std::thread thread_;
};

/// Kills `pid` and its descendants (found through /proc/<pid>/task/*/children).
void kill_tree(pid_t pid) {
    std::string kids = run("cat /proc/" + std::to_string(pid) + "/task/*/children 2>/dev/null");
    ::kill(pid, SIGSTOP);
    std::istringstream in(kids);
    for (pid_t child; in >> child;) kill_tree(child);
    ::kill(pid, SIGKILL);
}

/// A throwaway sshd in its own process group.
class Sshd {
  public:
    explicit Sshd(const std::string& dir) : dir_(dir) {
        ::mkdir("/run/sshd", 0755);
        run("ssh-keygen -q -t ed25519 -N '' -f " + dir_ + "/host_ed25519");
        fingerprint =
            run("ssh-keygen -l -E sha256 -f " + dir_ + "/host_ed25519.pub | awk '{print $2}'");
        port = free_port();
        std::ofstream cfg(dir_ + "/sshd_config");
        cfg << "ListenAddress 127.0.0.1:" << port << "\nHostKey " << dir_ << "/host_ed25519\n"
            << "PidFile " << dir_ << "/sshd.pid\nAuthorizedKeysFile " << dir_
            << "/authorized_keys\nPasswordAuthentication no\nKbdInteractiveAuthentication no\n"
            << "PermitRootLogin prohibit-password\nAllowTcpForwarding yes\nUsePAM no\n"
            << "StrictModes no\nLogLevel ERROR\n";
    }
    ~Sshd() { stop(); }
    void start() {
        pid_ = ::fork();
        if (pid_ == 0) {
            ::setpgid(0, 0);
            // Dies with the test process, and never holds ctest's output pipe.
            ::prctl(PR_SET_PDEATHSIG, SIGKILL);
            std::string cfg = dir_ + "/sshd_config", log = dir_ + "/sshd.log";
            if (!std::freopen("/dev/null", "r", stdin) || !std::freopen(log.c_str(), "a", stdout) ||
                !std::freopen(log.c_str(), "a", stderr))
                ::_exit(126);
            ::execl("/usr/sbin/sshd", "/usr/sbin/sshd", "-D", "-e", "-f", cfg.c_str(), nullptr);
            ::_exit(127);
        }
        ::setpgid(pid_, pid_);
        for (int i = 0; i < 100; ++i) {
            int s = connect_to(port);
            if (s >= 0) return (void)::close(s);
            std::this_thread::sleep_for(50ms);
        }
    }
    /// Kills sshd and every session process (those call setsid, so no group kill).
    void stop() {
        if (pid_ <= 0) return;
        kill_tree(pid_);
        ::waitpid(pid_, nullptr, 0);
        pid_ = -1;
    }
    std::string fingerprint;
    uint16_t port = 0;

  private:
    std::string dir_;
    pid_t pid_ = -1;
};

/// Records state reports and lets tests wait for one.
struct StateLog {
    std::mutex m;
    std::condition_variable cv;
    std::vector<std::pair<ProfileState, std::string>> states;

    void add(ProfileState s, std::string r) {
        std::lock_guard l(m);
        states.emplace_back(s, std::move(r));
        cv.notify_all();
    }
    /// Waits for `s` after index `from`; returns its reason or "<timeout>".
    std::string wait(ProfileState s, size_t from = 0, std::chrono::seconds t = 20s) {
        std::unique_lock l(m);
        std::string out = "<timeout>";
        cv.wait_for(l, t, [&] {
            for (size_t i = from; i < states.size(); ++i) {
                if (states[i].first == s) {
                    out = states[i].second;
                    return true;
                }
            }
            return false;
        });
        return out;
    }
    size_t size() {
        std::lock_guard l(m);
        return states.size();
    }
};

class SshEngineTest : public ::testing::Test {
  protected:
    void SetUp() override {
        if (const char* l = std::getenv("GHOST_TEST_LOG"); l) {
            log::Level lvl;
            if (log::parse_level(l, &lvl)) log::init(lvl);
        }
        if (::geteuid() != 0 || ::access("/usr/sbin/sshd", X_OK) != 0) {
            GTEST_SKIP() << "needs root and /usr/sbin/sshd";
        }
        char tmpl[] = "/tmp/ghost-ssh-test.XXXXXX";
        dir_ = ::mkdtemp(tmpl);
        sshd_ = std::make_unique<Sshd>(dir_);
        run("ssh-keygen -q -t ed25519 -N '' -f " + dir_ + "/id");
        run("cp " + dir_ + "/id.pub " + dir_ + "/authorized_keys");
        sshd_->start();
        control_thread_ = std::thread([this] { control_.run(); });
    }
    void TearDown() override {
        if (runner_) {
            std::promise<void> done;
            asio::post(control_, [&] { runner_->stop([&] { done.set_value(); }); });
            done.get_future().wait_for(10s);
            asio::post(control_, [&] { runner_.reset(); });
        }
        guard_.reset();
        if (control_thread_.joinable()) control_thread_.join();
        workers_.stop();
        sshd_.reset();
        if (!dir_.empty()) run("rm -rf " + dir_);
    }

    config::Profile profile() {
        config::Profile p;
        p.name = "t";
        p.server = net::Endpoint{"127.0.0.1", sshd_->port};
        p.ssh.user = run("id -un");
        p.ssh.identity_file = dir_ + "/id";
        p.ssh.host_key = sshd_->fingerprint;
        p.ssh.connect_timeout_s = 5;
        p.reconnect.initial_delay_s = 1;
        p.reconnect.max_delay_s = 2;
        return p;
    }

    void start(config::Profile p) {
        RunnerContext ctx{control_,
                          workers_,
                          std::move(p),
                          Paths{dir_, dir_, dir_ + "/state"},
                          log::Logger("t"),
                          [this](ProfileState s, std::string r) { states_.add(s, std::move(r)); },
                          [](nlohmann::json) {}};
        runner_ = make_client_runner(std::move(ctx));
        runner_->start();
    }

    nlohmann::json status() {
        std::promise<nlohmann::json> p;
        asio::post(control_, [&] { p.set_value(runner_->status()); });
        return p.get_future().get();
    }

    std::string dir_;
    std::unique_ptr<Sshd> sshd_;
    asio::io_context control_;
    asio::executor_work_guard<asio::io_context::executor_type> guard_{control_.get_executor()};
    std::thread control_thread_;
    WorkerPool workers_{2};
    StateLog states_;
    std::unique_ptr<Runner> runner_;
};

/// Sends `total` random bytes through port and checks the echo is byte-exact.
void expect_echo(uint16_t port, size_t total) {
    int s = connect_to(port);
    ASSERT_GE(s, 0);
    std::vector<char> data(total);
    std::mt19937 rng(42);
    for (auto& c : data) c = static_cast<char>(rng());
    std::thread writer([&] {
        for (size_t off = 0; off < total;) {
            ssize_t w = ::write(s, data.data() + off, std::min<size_t>(total - off, 1 << 20));
            if (w <= 0) break;
            off += static_cast<size_t>(w);
        }
        ::shutdown(s, SHUT_WR);
    });
    std::vector<char> got;
    got.reserve(total);
    std::vector<char> buf(1 << 16);
    for (;;) {
        ssize_t n = ::read(s, buf.data(), buf.size());
        if (n <= 0) break;
        got.insert(got.end(), buf.data(), buf.data() + n);
    }
    writer.join();
    ::close(s);
    ASSERT_EQ(got.size(), total);
    EXPECT_TRUE(got == data) << "echoed bytes differ";
}

TEST_F(SshEngineTest, LocalForwardIsByteExactBothWays) {
    EchoServer echo;
    auto p = profile();
    uint16_t lport = free_port();
    p.forward.push_back({{"127.0.0.1", lport}, {"127.0.0.1", echo.port()}});
    start(p);
    ASSERT_NE(states_.wait(ProfileState::up), "<timeout>");
    expect_echo(lport, 64u << 20);
    std::vector<std::thread> many;
    for (int i = 0; i < 8; ++i) many.emplace_back([&] { expect_echo(lport, 2u << 20); });
    for (auto& t : many) t.join();
    auto st = status();
    EXPECT_GE(st["bytes_out"].get<uint64_t>(), 80u << 20);
    EXPECT_GE(st["bytes_in"].get<uint64_t>(), 80u << 20);
    EXPECT_EQ(st["channels_total"].get<uint64_t>(), 9u);
    EXPECT_EQ(st["host_key_fingerprint"], sshd_->fingerprint);
    EXPECT_EQ(st["forwards"][0]["connections"].get<uint64_t>(), 9u);
}

TEST_F(SshEngineTest, RemoteForwardReachesLocalTarget) {
    EchoServer echo;
    auto p = profile();
    uint16_t rport = free_port();
    p.remote_forward.push_back({{"127.0.0.1", rport}, {"127.0.0.1", echo.port()}});
    start(p);
    ASSERT_NE(states_.wait(ProfileState::up), "<timeout>");
    for (int i = 0; i < 50 && status()["remote_forwards"][0]["state"] != "listening"; ++i) {
        std::this_thread::sleep_for(100ms);
    }
    ASSERT_EQ(status()["remote_forwards"][0]["state"], "listening") << status().dump();
    expect_echo(rport, 8u << 20);
}

TEST_F(SshEngineTest, WrongHostKeyFailsWithBothFingerprints) {
    auto p = profile();
    p.ssh.host_key = "SHA256:AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA";
    start(p);
    std::string why = states_.wait(ProfileState::failed);
    EXPECT_NE(why.find("host key mismatch for 127.0.0.1:"), std::string::npos) << why;
    EXPECT_NE(why.find(p.ssh.host_key), std::string::npos) << why;
    EXPECT_NE(why.find(sshd_->fingerprint), std::string::npos) << why;
}

TEST_F(SshEngineTest, UnauthorisedKeyFails) {
    auto p = profile();
    p.ssh.identity_file.clear();  // generated per profile, not in authorized_keys
    start(p);
    std::string why = states_.wait(ProfileState::failed);
    EXPECT_NE(why.find("authentication rejected by server for user"), std::string::npos) << why;
    EXPECT_NE(why.find("SHA256:"), std::string::npos) << why;
    auto st = status();
    EXPECT_EQ(st["public_key"].get<std::string>().rfind("ssh-ed25519 ", 0), 0u) << st.dump();
}

TEST_F(SshEngineTest, NonSshServerGivesClearError) {
    int fd = ::socket(AF_INET, SOCK_STREAM, 0);
    sockaddr_in a{};
    a.sin_family = AF_INET;
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    ::bind(fd, reinterpret_cast<sockaddr*>(&a), sizeof a);
    ::listen(fd, 4);
    socklen_t len = sizeof a;
    ::getsockname(fd, reinterpret_cast<sockaddr*>(&a), &len);
    std::thread http([fd] {
        int c = ::accept(fd, nullptr, nullptr);
        if (c < 0) return;
        char junk[256];
        (void)!::read(c, junk, sizeof junk);  // the client's banner, like a web server
        const char reply[] = "HTTP/1.1 400 Bad Request\r\nContent-Length: 0\r\n\r\n";
        (void)!::write(c, reply, sizeof reply - 1);
        std::this_thread::sleep_for(500ms);
        ::close(c);
    });
    auto p = profile();
    p.server->port = ntohs(a.sin_port);
    start(p);
    std::string why = states_.wait(ProfileState::failed);
    EXPECT_NE(why.find("SSH handshake with 127.0.0.1:"), std::string::npos) << why;
    EXPECT_NE(why.find("an SSH server?"), std::string::npos) << why;
    http.join();
    ::close(fd);
}

TEST_F(SshEngineTest, RefusedTargetFailsOnlyThatFlow) {
    EchoServer echo;
    auto p = profile();
    uint16_t bad = free_port(), good = free_port();
    p.forward.push_back({{"127.0.0.1", bad}, {"127.0.0.1", free_port()}});
    p.forward.push_back({{"127.0.0.1", good}, {"127.0.0.1", echo.port()}});
    start(p);
    ASSERT_NE(states_.wait(ProfileState::up), "<timeout>");
    int s = connect_to(bad);
    ASSERT_GE(s, 0);
    char c;
    EXPECT_LE(::read(s, &c, 1), 0);  // closed by ghost
    ::close(s);
    expect_echo(good, 1u << 20);
    EXPECT_EQ(status()["forwards"][0]["failed"].get<uint64_t>(), 1u);
}

TEST_F(SshEngineTest, ReconnectsAfterServerRestartKeepingListener) {
    EchoServer echo;
    auto p = profile();
    uint16_t lport = free_port();
    p.forward.push_back({{"127.0.0.1", lport}, {"127.0.0.1", echo.port()}});
    start(p);
    ASSERT_NE(states_.wait(ProfileState::up), "<timeout>");
    expect_echo(lport, 1u << 20);
    size_t mark = states_.size();
    sshd_->stop();
    ASSERT_NE(states_.wait(ProfileState::reconnecting, mark), "<timeout>");
    int probe = connect_to(lport);  // listener still bound while reconnecting
    EXPECT_GE(probe, 0);
    sshd_->start();
    ASSERT_NE(states_.wait(ProfileState::up, mark, 30s), "<timeout>");
    if (probe >= 0) ::close(probe);
    expect_echo(lport, 1u << 20);
}

}  // namespace

namespace {

TEST_F(SshEngineTest, TrustOnFirstUseRecordsThenPins) {
    auto p = profile();
    p.ssh.host_key.clear();
    p.ssh.trust_on_first_use = true;
    start(p);
    ASSERT_NE(states_.wait(ProfileState::up), "<timeout>");
    std::ifstream kh(dir_ + "/state/t/known_hosts");
    std::string line;
    std::getline(kh, line);
    EXPECT_NE(line.find("[127.0.0.1]:" + std::to_string(sshd_->port)), std::string::npos) << line;
}

TEST_F(SshEngineTest, UnknownHostWithoutTofuIsRefused) {
    auto p = profile();
    p.ssh.host_key.clear();
    start(p);
    std::string why = states_.wait(ProfileState::failed);
    EXPECT_NE(why.find("is not trusted: " + sshd_->fingerprint), std::string::npos) << why;
}

TEST_F(SshEngineTest, KnownHostsMismatchNamesBothKeys) {
    std::string other = dir_ + "/other";
    run("ssh-keygen -q -t ed25519 -N '' -f " + other);
    std::string other_fp = run("ssh-keygen -l -E sha256 -f " + other + ".pub | awk '{print $2}'");
    std::ofstream(dir_ + "/known_hosts")
        << "[127.0.0.1]:" << sshd_->port << " " << run("cut -d' ' -f1,2 " + other + ".pub") << "\n";
    auto p = profile();
    p.ssh.host_key.clear();
    p.ssh.known_hosts = dir_ + "/known_hosts";
    start(p);
    std::string why = states_.wait(ProfileState::failed);
    EXPECT_NE(why.find("expected " + other_fp + ", got " + sshd_->fingerprint), std::string::npos)
        << why;
}

}  // namespace

namespace {

/// A raw non-blocking libssh client session to the test's sshd, for driving
/// ssh::GlobalRequests directly.
class RawSession {
  public:
    RawSession(uint16_t port, const std::string& identity) {
        s_ = ssh_new();
        bool no = false;
        unsigned int p = port;
        ssh_options_set(s_, SSH_OPTIONS_PROCESS_CONFIG, &no);
        ssh_options_set(s_, SSH_OPTIONS_HOST, "127.0.0.1");
        ssh_options_set(s_, SSH_OPTIONS_PORT, &p);
        ssh_options_set(s_, SSH_OPTIONS_USER, run("id -un").c_str());
        ssh_key key = nullptr;
        ok_ = ssh_connect(s_) == SSH_OK &&
              ssh_pki_import_privkey_file(identity.c_str(), nullptr, nullptr, nullptr, &key) ==
                  SSH_OK &&
              ssh_userauth_publickey(s_, nullptr, key) == SSH_AUTH_SUCCESS;
        ssh_key_free(key);
        ssh_set_blocking(s_, 0);
        ev_ = ssh_event_new();
        ok_ = ok_ && ssh_event_add_session(ev_, s_) == SSH_OK;
    }
    ~RawSession() {
        ssh_event_free(ev_);
        ssh_disconnect(s_);
        ssh_free(s_);
    }
    bool ok() const { return ok_; }
    ssh_session get() { return s_; }
    /// Handles whatever arrives during `t`.
    void poll_for(std::chrono::milliseconds t) {
        auto end = std::chrono::steady_clock::now() + t;
        while (std::chrono::steady_clock::now() < end) ssh_event_dopoll(ev_, 10);
    }

  private:
    ssh_session s_ = nullptr;
    ssh_event ev_ = nullptr;
    bool ok_ = false;
};

/// Polls `s` and steps `r` until a forward finished or 10 s passed.
std::optional<ssh::GlobalRequests::ForwardResult> drive(RawSession& s, ssh::GlobalRequests& r) {
    for (int i = 0; i < 1000; ++i) {
        if (auto done = r.step(s.get())) return done;
        s.poll_for(10ms);
    }
    return std::nullopt;
}

bool listening(uint16_t port) {
    int fd = connect_to(port);
    if (fd >= 0) ::close(fd);
    return fd >= 0;
}

// libssh 0.10.6 keeps the answer to a non-blocking want-reply global request until the
// next global-request call, which takes it as its own answer without sending anything
// (libssh-0.10.md). First the trap itself, then GlobalRequests avoiding it.
TEST_F(SshEngineTest, KeepaliveAnswerIsNeverTakenForAForwardReply) {
    RawSession raw(sshd_->port, dir_ + "/id");
    ASSERT_TRUE(raw.ok()) << ssh_get_error(raw.get());

    uint16_t trapped = free_port();
    ssh_send_keepalive(raw.get());
    raw.poll_for(300ms);  // OpenSSH answers keepalive@openssh.com with REQUEST_FAILURE
    int rc = ssh_channel_listen_forward(raw.get(), "127.0.0.1", trapped, nullptr);
    EXPECT_EQ(rc, SSH_ERROR) << "libssh's global-request slot no longer behaves as documented";
    EXPECT_FALSE(listening(trapped)) << "the tcpip-forward was sent after all";

    ssh::GlobalRequests requests;
    uint16_t p1 = free_port(), p2 = free_port();
    requests.start_keepalive(raw.get());  // in flight when the forward is queued
    requests.add_forward("127.0.0.1", p1, nullptr);
    EXPECT_FALSE(requests.idle());
    auto r1 = drive(raw, requests);
    ASSERT_TRUE(r1.has_value());
    EXPECT_TRUE(r1->ok) << r1->error;
    EXPECT_EQ(requests.keepalives_answered(), 1u);
    EXPECT_TRUE(listening(p1)) << "forward reported but sshd does not listen on " << p1;

    requests.start_keepalive(raw.get());  // answered before the next forward is queued
    raw.poll_for(300ms);
    EXPECT_FALSE(requests.step(raw.get()).has_value());
    EXPECT_TRUE(requests.idle());
    EXPECT_EQ(requests.keepalives_answered(), 2u);
    requests.add_forward("127.0.0.1", p2, nullptr);
    auto r2 = drive(raw, requests);
    ASSERT_TRUE(r2.has_value());
    EXPECT_TRUE(r2->ok) << r2->error;
    EXPECT_TRUE(listening(p2)) << "forward reported but sshd does not listen on " << p2;
}

}  // namespace

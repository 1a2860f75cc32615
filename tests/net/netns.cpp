#include "net/netns.hpp"

#include <fcntl.h>
#include <sched.h>
#include <signal.h>
#include <unistd.h>

#include <atomic>
#include <cerrno>
#include <cstdio>
#include <filesystem>

namespace closewise::net::test {

namespace {

constexpr const char* prefix = "cwt-";
std::atomic<int> counter{0};

/// Runs a shell command; its output (stdout and stderr) goes to `out`.
int run_capture(const std::string& cmd, std::string& out) {
  out.clear();
  FILE* p = ::popen((cmd + " 2>&1").c_str(), "r");
  if (!p) return -1;
  char buf[512];
  while (std::fgets(buf, sizeof buf, p)) out += buf;
  const int st = ::pclose(p);
  while (!out.empty() && (out.back() == '\n' || out.back() == '\r')) out.pop_back();
  if (auto nl = out.find('\n'); nl != std::string::npos) out.resize(nl);  // one line
  return st;
}

/// Namespaces named cwt-PID-N whose process is gone: a test that was killed.
void remove_stale() {
  std::error_code ec;
  for (const auto& e : std::filesystem::directory_iterator("/run/netns", ec)) {
    const std::string n = e.path().filename().string();
    if (n.rfind(prefix, 0) != 0) continue;
    const auto dash = n.find('-', 4);
    if (dash == std::string::npos) continue;
    const pid_t pid = static_cast<pid_t>(std::atoi(n.substr(4, dash - 4).c_str()));
    if (pid > 0 && ::kill(pid, 0) != 0 && errno == ESRCH) {
      std::string ignored;
      run_capture("ip netns delete " + n, ignored);
    }
  }
}

}  // namespace

std::string netns_unavailable_reason() {
  std::string out;
  if (run_capture("ip -V", out) != 0) return "ip (iproute2) is missing: " + out;
  const std::string probe = std::string(prefix) + std::to_string(::getpid()) + "-probe";
  if (run_capture("ip netns add " + probe, out) != 0)
    return "ip netns add is not allowed here (needs root / CAP_SYS_ADMIN): " + out;
  run_capture("ip netns delete " + probe, out);
  return {};
}

netns_pair::netns_pair() {
  remove_stale();
  const int n = counter.fetch_add(1);
  for (int i = 0; i < 2; ++i) {
    names_[i] = std::string(prefix) + std::to_string(::getpid()) + "-" + std::to_string(n) +
                (i == 0 ? "a" : "b");
  }
  const std::string A = names_[0], B = names_[1];
  // The veth ends are created inside the namespaces, so no name is ever taken
  // in the test's own namespace, and deleting the namespaces deletes them.
  if (!run("ip netns add " + A) || !run("ip netns add " + B) ||
      !run("ip link add cw0 netns " + A + " type veth peer name cw0 netns " + B) ||
      !run("ip -n " + A + " addr add 198.18.0.1/30 dev cw0") ||
      !run("ip -n " + B + " addr add 198.18.0.2/30 dev cw0") ||
      !run("ip -n " + A + " link set lo up") || !run("ip -n " + B + " link set lo up") ||
      !run("ip -n " + A + " link set cw0 up") || !run("ip -n " + B + " link set cw0 up"))
    return;
  for (int i = 0; i < 2; ++i) {
    fds_[i] = ::open(("/run/netns/" + names_[i]).c_str(), O_RDONLY | O_CLOEXEC);
    if (fds_[i] < 0) {
      error_ = "cannot open /run/netns/" + names_[i];
      return;
    }
  }
}

netns_pair::~netns_pair() {
  for (int& f : fds_) {
    if (f >= 0) ::close(f);
    f = -1;
  }
  std::string ignored;
  for (const auto& n : names_) {
    if (!n.empty()) run_capture("ip netns delete " + n, ignored);
  }
}

bool netns_pair::run(const std::string& cmd) {
  std::string out;
  if (run_capture(cmd, out) == 0) return true;
  if (error_.empty()) error_ = "`" + cmd + "` failed: " + out;
  return false;
}

bool netns_pair::link_down(side s) { return run("ip -n " + name(s) + " link set cw0 down"); }
bool netns_pair::link_up(side s) { return run("ip -n " + name(s) + " link set cw0 up"); }

bool netns_pair::limit_rate(side s, const std::string& rate, std::size_t burst_bytes,
                            const std::string& latency) {
  return run("tc -n " + name(s) + " qdisc replace dev cw0 root tbf rate " + rate + " burst " +
             std::to_string(burst_bytes) + " latency " + latency);
}

netns_scope::netns_scope(int ns_fd) {
  home_ = ::open("/proc/thread-self/ns/net", O_RDONLY | O_CLOEXEC);
  ok_ = home_ >= 0 && ::setns(ns_fd, CLONE_NEWNET) == 0;
}

netns_scope::~netns_scope() {
  if (home_ >= 0) {
    if (ok_) (void)::setns(home_, CLONE_NEWNET);
    ::close(home_);
  }
}

netns_io_thread::netns_io_thread(int ns_fd, int n)
    : ns_fd_(ns_fd), work_(boost::asio::make_work_guard(ioc)) {
  for (int i = 0; i < n; ++i) {
    std::promise<bool> entered;
    auto f = entered.get_future();
    threads_.emplace_back([this, entered = std::move(entered)]() mutable {
      netns_scope in(ns_fd_);
      entered.set_value(in.ok());
      if (in.ok()) ioc.run();
    });
    ok_ = f.get() && ok_;
  }
}

netns_io_thread::~netns_io_thread() {
  work_.reset();
  ioc.stop();
  for (auto& t : threads_) t.join();
}

}  // namespace closewise::net::test

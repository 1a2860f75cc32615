// Test helpers for the network layer: an io_context thread, event channels
// with deadlines, child processes read line by line, and throwaway TLS certs.
#pragma once

#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <cstdio>
#include <cstdlib>
#include <deque>
#include <filesystem>
#include <future>
#include <mutex>
#include <optional>
#include <string>
#include <thread>
#include <vector>

#include <boost/asio/executor_work_guard.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/post.hpp>

#include "closewise/net/client.hpp"
#include "closewise/net/server.hpp"

namespace closewise::net::test {

using namespace std::chrono_literals;

/// Every wait in the net tests is bounded by this, so no test can hang.
inline constexpr auto wait_limit = 10s;

/// Runs an io_context on `n` threads until destroyed.
class io_thread {
 public:
  explicit io_thread(int n = 1) : work_(boost::asio::make_work_guard(ioc)) {
    for (int i = 0; i < n; ++i) threads_.emplace_back([this] { ioc.run(); });
  }
  ~io_thread() {
    work_.reset();
    ioc.stop();
    for (auto& t : threads_) t.join();
  }
  boost::asio::io_context ioc;

 private:
  boost::asio::executor_work_guard<boost::asio::io_context::executor_type> work_;
  std::vector<std::thread> threads_;
};

/// Holds a one-thread io_context (so everything it runs) from construction
/// until release() or destruction, so a test can line up what the kernel
/// sees before the code under test runs. Released on every exit path.
class io_hold {
 public:
  explicit io_hold(boost::asio::io_context& ioc) {
    std::promise<void> held;
    auto entered = held.get_future();
    boost::asio::post(ioc, [held = std::move(held), gate = release_.get_future()]() mutable {
      held.set_value();
      gate.wait();
    });
    entered.wait();
  }
  ~io_hold() { release(); }
  io_hold(const io_hold&) = delete;
  io_hold& operator=(const io_hold&) = delete;
  void release() {
    if (!released_) {
      released_ = true;
      release_.set_value();
    }
  }

 private:
  std::promise<void> release_;
  bool released_ = false;
};

/// A thread-safe queue whose reads wait with a deadline.
template <class T>
class channel {
 public:
  void push(T v) {
    // Notify under the lock: a reader may destroy the channel as soon as it
    // has the value, so push must be done with the channel by then.
    std::lock_guard lock(mu_);
    q_.push_back(std::move(v));
    cv_.notify_all();
  }
  std::optional<T> pop(std::chrono::milliseconds timeout = wait_limit) {
    std::unique_lock lock(mu_);
    if (!cv_.wait_for(lock, timeout, [&] { return !q_.empty(); })) return std::nullopt;
    T v = std::move(q_.front());
    q_.pop_front();
    return v;
  }
  std::size_t size() const {
    std::lock_guard lock(mu_);
    return q_.size();
  }

 private:
  mutable std::mutex mu_;
  std::condition_variable cv_;
  std::deque<T> q_;
};

/// A child process whose stdout is read line by line; killed when destroyed.
class child_process {
 public:
  child_process(const std::vector<std::string>& argv, const std::string& cwd = {}) {
    ::signal(SIGPIPE, SIG_IGN);  // a peer that exits early must not kill the test on write
    int out[2];
    int in[2];
    if (::pipe(out) != 0 || ::pipe(in) != 0) return;
    pid_ = ::fork();
    if (pid_ == 0) {
      ::dup2(out[1], 1);
      ::dup2(in[0], 0);
      ::close(out[0]);
      ::close(out[1]);
      ::close(in[0]);
      ::close(in[1]);
      if (!cwd.empty() && ::chdir(cwd.c_str()) != 0) ::_exit(126);
      std::vector<char*> args;
      for (auto& a : argv) args.push_back(const_cast<char*>(a.c_str()));
      args.push_back(nullptr);
      ::execvp(args[0], args.data());
      ::_exit(127);
    }
    ::close(out[1]);
    ::close(in[0]);
    out_ = out[0];
    in_ = in[1];
  }
  ~child_process() {
    if (in_ >= 0) ::close(in_);
    if (out_ >= 0) ::close(out_);
    if (pid_ > 0) {
      ::kill(pid_, SIGKILL);
      int st = 0;
      ::waitpid(pid_, &st, 0);
    }
  }
  child_process(const child_process&) = delete;
  child_process& operator=(const child_process&) = delete;

  bool started() const { return pid_ > 0; }

  /// The next line of stdout without its newline; nullopt on EOF or timeout.
  std::optional<std::string> read_line(std::chrono::milliseconds timeout = wait_limit) {
    const auto deadline = std::chrono::steady_clock::now() + timeout;
    for (;;) {
      if (auto nl = buf_.find('\n'); nl != std::string::npos) {
        std::string line = buf_.substr(0, nl);
        buf_.erase(0, nl + 1);
        return line;
      }
      const auto left = std::chrono::duration_cast<std::chrono::milliseconds>(
          deadline - std::chrono::steady_clock::now());
      if (left.count() <= 0 || out_ < 0) return std::nullopt;
      pollfd p{out_, POLLIN, 0};
      if (::poll(&p, 1, static_cast<int>(left.count())) <= 0) continue;
      char tmp[4096];
      const auto n = ::read(out_, tmp, sizeof tmp);
      if (n <= 0) {
        ::close(out_);
        out_ = -1;
        continue;
      }
      buf_.append(tmp, static_cast<std::size_t>(n));
    }
  }

  void write_line(const std::string& s) {
    const std::string line = s + "\n";
    [[maybe_unused]] auto n = ::write(in_, line.data(), line.size());
  }

 private:
  pid_t pid_ = -1;
  int out_ = -1;
  int in_ = -1;
  std::string buf_;
};

/// A temporary directory removed when destroyed.
class temp_dir {
 public:
  temp_dir() {
    std::string tmpl = (std::filesystem::temp_directory_path() / "closewise-test-XXXXXX").string();
    if (::mkdtemp(tmpl.data())) path_ = tmpl;
  }
  ~temp_dir() {
    std::error_code ec;
    if (!path_.empty()) std::filesystem::remove_all(path_, ec);
  }
  const std::filesystem::path& path() const { return path_; }

 private:
  std::filesystem::path path_;
};

/// Runs a shell command quietly; true on exit status 0.
inline bool run_quiet(const std::string& cmd) {
  return std::system((cmd + " >/dev/null 2>&1").c_str()) == 0;
}

/// A CA, a server certificate it signed for localhost/127.0.0.1/::1, one for
/// another name, and an unrelated CA: made at run time, nothing committed.
struct test_certs {
  std::filesystem::path dir, ca, server_cert, server_key, wrong_host_cert, wrong_host_key, other_ca;
  bool ok = false;

  explicit test_certs(const std::filesystem::path& d) : dir(d) {
    ca = d / "ca.pem";
    server_cert = d / "server.pem";
    server_key = d / "server.key";
    wrong_host_cert = d / "wrong.pem";
    wrong_host_key = d / "wrong.key";
    other_ca = d / "other-ca.pem";
    const std::string D = d.string();
    const std::string ec = "-newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes";
    auto leaf = [&](const std::string& name, const std::string& san) {
      return run_quiet("cd " + D + " && openssl req " + ec + " -keyout " + name + ".key -out " +
                       name + ".csr -subj /CN=" + name) &&
             run_quiet("cd " + D + " && printf 'subjectAltName=" + san +
                       "\\nbasicConstraints=CA:FALSE\\n' > " + name +
                       ".ext && openssl x509 -req -in " + name +
                       ".csr -CA ca.pem -CAkey ca.key -CAcreateserial -days 2 -out " + name +
                       ".pem -extfile " + name + ".ext");
    };
    ok =
        run_quiet("cd " + D + " && openssl req -x509 " + ec +
                  " -keyout ca.key -out ca.pem -days 2 -subj /CN=closewise-test-ca") &&
        run_quiet("cd " + D + " && openssl req -x509 " + ec +
                  " -keyout other-ca.key -out other-ca.pem -days 2 -subj /CN=closewise-other-ca") &&
        leaf("server", "DNS:localhost,IP:127.0.0.1,IP:::1") && leaf("wrong", "DNS:wrong.example");
  }
};

/// CI=true turns a missing peer into a failure instead of a skip.
inline bool in_ci() {
  const char* ci = std::getenv("CI");
  return ci && std::string(ci) == "true";
}

inline std::string source_dir() { return CLOSEWISE_SOURCE_DIR; }

/// Everything a client reports, in arrival order.
struct client_event {
  enum type_t { opened, message, pong, closed, errored, refused } type;
  proto::message_kind kind = proto::message_kind::text;
  std::string data;
  closewise::close_event close;
  std::error_code ec;
  unsigned status = 0;
};

/// Wires every callback of `c` into `ch`.
inline void record(client& c, channel<client_event>& ch) {
  c.on_open([&ch](const open_info& i) {
    ch.push({client_event::opened, {}, i.subprotocol, {}, {}, 0});
  });
  c.on_message([&ch](proto::message_kind k, std::string_view p) {
    ch.push({client_event::message, k, std::string(p), {}, {}, 0});
  });
  c.on_pong([&ch](std::string_view p) {
    ch.push({client_event::pong, {}, std::string(p), {}, {}, 0});
  });
  c.on_close([&ch](const closewise::close_event& e) {
    ch.push({client_event::closed, {}, {}, e, {}, 0});
  });
  c.on_error([&ch](std::error_code ec) { ch.push({client_event::errored, {}, {}, {}, ec, 0}); });
  c.on_refused([&ch](const proto::handshake_failure& f) {
    ch.push({client_event::refused, {}, f.body, {}, {}, f.status});
  });
}

/// A close_event for EXPECT_EQ.
inline closewise::close_event cev(close_code code, std::string reason, bool clean, initiator who,
                                  std::error_code why = {}) {
  return closewise::close_event{code, std::move(reason), clean, who, why};
}

}  // namespace closewise::net::test

#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/socket.h>

namespace closewise::net::test {

/// A blocking POSIX TCP socket whose every read is bounded by poll().
class raw_tcp {
 public:
  raw_tcp() = default;
  explicit raw_tcp(int fd) : fd_(fd) {}
  ~raw_tcp() {
    if (fd_ >= 0) ::close(fd_);
  }
  raw_tcp(raw_tcp&& o) noexcept : fd_(std::exchange(o.fd_, -1)) {}
  raw_tcp& operator=(raw_tcp&& o) noexcept {
    std::swap(fd_, o.fd_);
    return *this;
  }

  bool connect(std::uint16_t port) {
    fd_ = ::socket(AF_INET, SOCK_STREAM, 0);
    sockaddr_in a{};
    a.sin_family = AF_INET;
    a.sin_port = htons(port);
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    return ::connect(fd_, reinterpret_cast<sockaddr*>(&a), sizeof a) == 0;
  }
  bool send(std::string_view s) {
    while (!s.empty()) {
      const auto n = ::send(fd_, s.data(), s.size(), MSG_NOSIGNAL);
      if (n <= 0) return false;
      s.remove_prefix(static_cast<std::size_t>(n));
    }
    return true;
  }
  /// Reads what is there (waiting up to `timeout`); "" on EOF, nullopt on timeout or error.
  std::optional<std::string> recv(std::chrono::milliseconds timeout = wait_limit) {
    pollfd p{fd_, POLLIN, 0};
    if (::poll(&p, 1, static_cast<int>(timeout.count())) <= 0) return std::nullopt;
    char buf[65536];
    const auto n = ::recv(fd_, buf, sizeof buf, 0);
    if (n < 0) return std::nullopt;
    return std::string(buf, static_cast<std::size_t>(n));
  }
  /// Reads until `delim` was seen or EOF; bounded by `timeout` in total.
  std::string recv_until(std::string_view delim, std::chrono::milliseconds timeout = wait_limit) {
    std::string all;
    const auto deadline = std::chrono::steady_clock::now() + timeout;
    while (all.find(delim) == std::string::npos) {
      const auto left = std::chrono::duration_cast<std::chrono::milliseconds>(
          deadline - std::chrono::steady_clock::now());
      if (left.count() <= 0) break;
      auto part = recv(left);
      if (!part || part->empty()) break;
      all += *part;
    }
    return all;
  }
  int fd() const { return fd_; }

 private:
  int fd_ = -1;
};

/// A listening POSIX socket on 127.0.0.1 and a free port.
class raw_listener {
 public:
  raw_listener() {
    fd_ = ::socket(AF_INET, SOCK_STREAM, 0);
    sockaddr_in a{};
    a.sin_family = AF_INET;
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    ::bind(fd_, reinterpret_cast<sockaddr*>(&a), sizeof a);
    ::listen(fd_, 16);
    socklen_t len = sizeof a;
    ::getsockname(fd_, reinterpret_cast<sockaddr*>(&a), &len);
    port_ = ntohs(a.sin_port);
  }
  ~raw_listener() { ::close(fd_); }
  std::uint16_t port() const { return port_; }
  std::optional<raw_tcp> accept(std::chrono::milliseconds timeout = wait_limit) {
    pollfd p{fd_, POLLIN, 0};
    if (::poll(&p, 1, static_cast<int>(timeout.count())) <= 0) return std::nullopt;
    return raw_tcp(::accept(fd_, nullptr, nullptr));
  }

 private:
  int fd_ = -1;
  std::uint16_t port_ = 0;
};

/// A loopback port for a server that will be restarted on it: free now, and
/// below the kernel's ephemeral range (net.ipv4.ip_local_port_range), so no
/// socket on the machine takes it by bind(0) or connect() while the server
/// is down. 0 when no such port was found (the range starts too low): the
/// caller then listens on 0 and accepts that the port may be taken.
inline std::uint16_t restart_port() {
  unsigned lo = 32768;
  if (FILE* f = std::fopen("/proc/sys/net/ipv4/ip_local_port_range", "r")) {
    if (std::fscanf(f, "%u", &lo) != 1) lo = 32768;
    std::fclose(f);
  }
  constexpr unsigned first = 10'000;
  if (lo <= first + 100) return 0;
  // Spread over the range by pid and a counter, so parallel test processes
  // rarely probe the same port; a port in use is skipped.
  static std::atomic<unsigned> next{static_cast<unsigned>(::getpid()) * 7919u};
  for (int tries = 0; tries < 200; ++tries) {
    const auto port = static_cast<std::uint16_t>(first + next.fetch_add(131) % (lo - first));
    const int fd = ::socket(AF_INET, SOCK_STREAM, 0);
    if (fd < 0) return 0;
    const int on = 1;
    ::setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &on, sizeof on);
    sockaddr_in a{};
    a.sin_family = AF_INET;
    a.sin_port = htons(port);
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    const bool free = ::bind(fd, reinterpret_cast<sockaddr*>(&a), sizeof a) == 0;
    ::close(fd);
    if (free) return port;
  }
  return 0;
}

}  // namespace closewise::net::test

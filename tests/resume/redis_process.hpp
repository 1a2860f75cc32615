// A redis-server the test starts on a free loopback port with no persistence,
// and stops. Missing redis-server fails the test with one line under CI=true
// and skips it otherwise.
#pragma once

#include <arpa/inet.h>
#include <fcntl.h>
#include <hiredis/hiredis.h>
#include <netinet/in.h>
#include <signal.h>
#include <spawn.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <cstdint>
#include <cstdlib>
#include <optional>
#include <string>
#include <thread>
#include <vector>

extern char** environ;

namespace closewise::resume::test {

inline bool in_ci() {
  const char* ci = std::getenv("CI");
  return ci != nullptr && std::string(ci) == "true";
}

/// The redis-server binary, or "" when it is not installed.
/// CLOSEWISE_REDIS_SERVER names another binary (and lets a test run without one).
inline std::string find_redis_server() {
  if (const char* env = std::getenv("CLOSEWISE_REDIS_SERVER"))
    return ::access(env, X_OK) == 0 ? std::string(env) : std::string();
  for (const char* p :
       {"/usr/bin/redis-server", "/usr/local/bin/redis-server", "/usr/sbin/redis-server"})
    if (::access(p, X_OK) == 0) return p;
  return {};
}

/// A port that was free a moment ago (bind to 0, read it back, close).
inline std::uint16_t probe_free_port() {
  const int fd = ::socket(AF_INET, SOCK_STREAM, 0);
  sockaddr_in a{};
  a.sin_family = AF_INET;
  a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  socklen_t len = sizeof a;
  std::uint16_t port = 0;
  if (::bind(fd, reinterpret_cast<sockaddr*>(&a), sizeof a) == 0 &&
      ::getsockname(fd, reinterpret_cast<sockaddr*>(&a), &len) == 0)
    port = ntohs(a.sin_port);
  ::close(fd);
  return port;
}

/// One redis-server process.
class redis_process {
 public:
  redis_process() = default;
  ~redis_process() { stop(); }
  redis_process(const redis_process&) = delete;
  redis_process& operator=(const redis_process&) = delete;

  /// Starts on `port` (0: a probed free port). Returns false with `error()`
  /// set when it could not start or did not answer PING.
  bool start(std::uint16_t port = 0) {
    binary_ = find_redis_server();
    if (binary_.empty()) {
      error_ = "redis-server not found: install redis-server (scripts/deps.sh test)";
      return false;
    }
    // A probed port can be taken between the probe and the bind: try a few.
    for (int attempt = 0; attempt < 5; ++attempt) {
      port_ = port != 0 ? port : probe_free_port();
      if (spawn() && wait_ready()) return true;
      stop();
      if (port != 0) break;
    }
    error_ = "redis-server did not start on 127.0.0.1:" + std::to_string(port_);
    return false;
  }

  /// SIGKILL (crash) or SIGTERM (clean), then reaps it.
  void stop(int sig = SIGTERM) {
    if (pid_ <= 0) return;
    ::kill(pid_, sig);
    int status = 0;
    ::waitpid(pid_, &status, 0);
    pid_ = -1;
  }

  std::uint16_t port() const { return port_; }
  const std::string& error() const { return error_; }
  bool running() const { return pid_ > 0; }

  /// A raw command on a fresh connection (for inspecting keys).
  redisReply* command(const std::vector<std::string>& args) const {
    redisContext* c = redisConnect("127.0.0.1", port_);
    if (c == nullptr || c->err != 0) {
      if (c != nullptr) redisFree(c);
      return nullptr;
    }
    std::vector<const char*> argv;
    std::vector<std::size_t> lens;
    for (const auto& a : args) {
      argv.push_back(a.data());
      lens.push_back(a.size());
    }
    auto* r = static_cast<redisReply*>(
        redisCommandArgv(c, static_cast<int>(args.size()), argv.data(), lens.data()));
    redisFree(c);
    return r;
  }
  /// An integer reply, or nullopt.
  std::optional<long long> integer(const std::vector<std::string>& args) const {
    redisReply* r = command(args);
    std::optional<long long> out;
    if (r != nullptr && r->type == REDIS_REPLY_INTEGER) out = r->integer;
    if (r != nullptr && r->type == REDIS_REPLY_STRING) out = std::atoll(r->str);
    if (r != nullptr) freeReplyObject(r);
    return out;
  }
  /// Redis's own clock, in ms (what the scripts compare deadlines with).
  long long now_ms() const {
    redisReply* r = command({"TIME"});
    long long ms = 0;
    if (r != nullptr && r->type == REDIS_REPLY_ARRAY && r->elements == 2)
      ms = std::atoll(r->element[0]->str) * 1000 + std::atoll(r->element[1]->str) / 1000;
    if (r != nullptr) freeReplyObject(r);
    return ms;
  }

 private:
  bool spawn() {
    const std::string p = std::to_string(port_);
    std::vector<std::string> args = {
        binary_, "--port",      p,    "--bind",     "127.0.0.1", "--save", "",    "--appendonly",
        "no",    "--daemonize", "no", "--loglevel", "warning",   "--dir",  "/tmp"};
    std::vector<char*> argv;
    for (auto& a : args) argv.push_back(a.data());
    argv.push_back(nullptr);
    posix_spawn_file_actions_t fa;
    posix_spawn_file_actions_init(&fa);
    posix_spawn_file_actions_addopen(&fa, 1, "/dev/null", O_WRONLY, 0);
    posix_spawn_file_actions_addopen(&fa, 2, "/dev/null", O_WRONLY, 0);
    const int rc = posix_spawn(&pid_, binary_.c_str(), &fa, nullptr, argv.data(), environ);
    posix_spawn_file_actions_destroy(&fa);
    if (rc != 0) pid_ = -1;
    return rc == 0;
  }

  /// Waits for the event "PING answers PONG", bounded; gives up early if the
  /// process exited (its port was taken).
  bool wait_ready() {
    const auto until = std::chrono::steady_clock::now() + std::chrono::seconds(20);
    while (std::chrono::steady_clock::now() < until) {
      int status = 0;
      if (::waitpid(pid_, &status, WNOHANG) == pid_) {
        pid_ = -1;
        return false;
      }
      timeval tv{0, 200'000};
      redisContext* c = redisConnectWithTimeout("127.0.0.1", port_, tv);
      if (c != nullptr && c->err == 0) {
        auto* r = static_cast<redisReply*>(redisCommand(c, "PING"));
        const bool ok = r != nullptr && r->type == REDIS_REPLY_STATUS;
        if (r != nullptr) freeReplyObject(r);
        redisFree(c);
        if (ok) return true;
      } else if (c != nullptr) {
        redisFree(c);
      }
      // The server is still starting: poll again shortly.
      std::this_thread::sleep_for(std::chrono::milliseconds(10));
    }
    return false;
  }

  std::string binary_;
  std::string error_;
  std::uint16_t port_ = 0;
  pid_t pid_ = -1;
};

}  // namespace closewise::resume::test

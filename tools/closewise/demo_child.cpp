#include "demo_child.hpp"

#include <fcntl.h>
#include <fmt/format.h>
#include <poll.h>
#include <sys/prctl.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cerrno>
#include <cstdlib>
#include <cstring>

namespace closewise::cli::demo {
namespace {

constexpr std::size_t max_line = std::size_t{64} << 10;  // a longer line is cut
constexpr std::size_t max_err_tail = 2048;

int waitpid_retrying(pid_t pid, int* status, int flags) {
  for (;;) {
    const int r = ::waitpid(pid, status, flags);
    if (r >= 0 || errno != EINTR) return r;
  }
}

bool executable_file(const std::string& p) {
  struct stat st {};
  return ::stat(p.c_str(), &st) == 0 && S_ISREG(st.st_mode) && ::access(p.c_str(), X_OK) == 0;
}

}  // namespace

child_process::~child_process() { (void)stop(SIGKILL); }

std::string child_process::start(const std::string& path, const std::vector<std::string>& argv,
                                 line_sink on_stdout) {
  if (pid_ > 0) return "already started";
  int out[2] = {-1, -1}, err[2] = {-1, -1};
  const int null_in = ::open("/dev/null", O_RDONLY | O_CLOEXEC);
  if (null_in < 0 || ::pipe2(out, O_CLOEXEC) != 0 || ::pipe2(err, O_CLOEXEC) != 0) {
    const std::string why = fmt::format("cannot create pipes: {}", std::strerror(errno));
    for (int fd : {null_in, out[0], out[1], err[0], err[1]})
      if (fd >= 0) ::close(fd);
    return why;
  }
  // Everything the child needs is built before fork(): between fork and exec
  // a multi-threaded parent's child may only make async-signal-safe calls.
  std::vector<std::string> args = argv;
  std::vector<char*> cargv;
  for (auto& a : args) cargv.push_back(a.data());
  cargv.push_back(nullptr);
  const std::string exec_failed = fmt::format("cannot execute {}\n", path);
  const pid_t parent = ::getpid();

  const pid_t pid = ::fork();
  if (pid == 0) {
    // The demo's io thread may block signals: the child starts with none blocked.
    sigset_t none;
    sigemptyset(&none);
    sigprocmask(SIG_SETMASK, &none, nullptr);
    // Killed with the demo, whatever ends it (even SIGKILL); the parent may
    // already be gone by the time the request is made.
    ::prctl(PR_SET_PDEATHSIG, SIGKILL);
    if (::getppid() != parent) ::_exit(1);
    ::dup2(null_in, 0);
    ::dup2(out[1], 1);
    ::dup2(err[1], 2);
    // Asio's sockets are not all close-on-exec: a child holding one of the
    // client's sockets would keep its TCP connection alive.
    if (::close_range(3, ~0U, 0) != 0)
      for (int fd = 3; fd < 4096; ++fd) ::close(fd);
    ::execv(path.c_str(), cargv.data());
    (void)!::write(2, exec_failed.data(), exec_failed.size());
    ::_exit(127);
  }
  const int fork_errno = errno;
  for (int fd : {null_in, out[1], err[1]}) ::close(fd);
  if (pid < 0) {
    ::close(out[0]);
    ::close(err[0]);
    return fmt::format("cannot fork: {}", std::strerror(fork_errno));
  }
  pid_ = pid;
  reader_ = std::thread(
      [this, o = out[0], e = err[0], sink = std::move(on_stdout)] { read_loop(o, e, sink); });
  return {};
}

void child_process::read_loop(int out, int err, line_sink on_stdout) {
  std::string line;
  pollfd fds[2] = {{out, POLLIN, 0}, {err, POLLIN, 0}};
  char buf[4096];
  while (fds[0].fd >= 0 || fds[1].fd >= 0) {
    const int n = ::poll(fds, 2, 100);
    if (n < 0 && errno != EINTR) break;
    if (n <= 0) {
      // Quiet: the owner reaped the child and a grandchild may hold the pipe.
      if (stop_reading_) break;
      continue;
    }
    for (int i = 0; i < 2; ++i) {
      if (fds[i].fd < 0 || fds[i].revents == 0) continue;
      const ssize_t got = ::read(fds[i].fd, buf, sizeof buf);
      if (got <= 0) {
        if (got < 0 && errno == EINTR) continue;
        ::close(fds[i].fd);
        fds[i].fd = -1;
        continue;
      }
      const std::string_view chunk(buf, static_cast<std::size_t>(got));
      if (i == 1) {
        std::lock_guard lock(err_mu_);
        err_tail_.append(chunk);
        if (err_tail_.size() > max_err_tail) err_tail_.erase(0, err_tail_.size() - max_err_tail);
        continue;
      }
      line.append(chunk);
      std::size_t from = 0;
      for (auto nl = line.find('\n'); nl != std::string::npos; nl = line.find('\n', from)) {
        on_stdout(std::string_view(line).substr(from, nl - from));
        from = nl + 1;
      }
      line.erase(0, from);
      if (line.size() > max_line) {
        on_stdout(line);
        line.clear();
      }
    }
  }
  for (const auto& f : fds)
    if (f.fd >= 0) ::close(f.fd);
  if (!line.empty()) on_stdout(line);
  on_stdout(std::nullopt);
}

void child_process::signal(int sig) const {
  if (pid_ > 0) ::kill(pid_, sig);
}

void child_process::join_reader() {
  if (!reader_.joinable()) return;
  stop_reading_ = true;
  reader_.join();
}

std::optional<std::string> child_process::poll_exit() {
  if (pid_ <= 0 || ended_) return ended_;
  int status = 0;
  if (waitpid_retrying(pid_, &status, WNOHANG) != pid_) return std::nullopt;
  ended_ = describe_exit(status);
  return ended_;
}

std::string child_process::stop(int sig, std::chrono::milliseconds grace) {
  if (pid_ > 0 && !poll_exit()) {
    ::kill(pid_, sig);
    if (sig != SIGKILL) {
      const auto until = std::chrono::steady_clock::now() + grace;
      while (!poll_exit() && std::chrono::steady_clock::now() < until) {
        pollfd none{-1, 0, 0};
        ::poll(&none, 0, 5);  // waitpid has no timeout; an exit is not an fd event
      }
      if (!ended_) ::kill(pid_, SIGKILL);
    }
    if (!ended_) {
      int status = 0;
      // SIGKILL cannot be caught: this wait ends.
      if (waitpid_retrying(pid_, &status, 0) == pid_) ended_ = describe_exit(status);
    }
  }
  join_reader();
  return ended_.value_or(std::string());
}

std::string child_process::diagnostics() const {
  std::string t;
  {
    std::lock_guard lock(err_mu_);
    t = err_tail_;
  }
  while (!t.empty() && (t.back() == '\n' || t.back() == '\r' || t.back() == ' ')) t.pop_back();
  if (const auto nl = t.rfind('\n'); nl != std::string::npos) t.erase(0, nl + 1);
  return t;
}

std::string describe_exit(int status) {
  if (WIFEXITED(status)) return fmt::format("exited with status {}", WEXITSTATUS(status));
  if (WIFSIGNALED(status)) {
    const char* name = ::sigabbrev_np(WTERMSIG(status));
    return name != nullptr ? fmt::format("killed by SIG{}", name)
                           : fmt::format("killed by signal {}", WTERMSIG(status));
  }
  return fmt::format("ended with wait status {}", status);
}

std::string find_program(std::string_view name) {
  std::string path = std::getenv("PATH") != nullptr ? std::getenv("PATH") : "";
  path += ":/usr/sbin:/usr/local/bin:/usr/bin";
  std::size_t from = 0;
  while (from <= path.size()) {
    const auto colon = std::min(path.find(':', from), path.size());
    const std::string dir = path.substr(from, colon - from);
    from = colon + 1;
    if (dir.empty()) continue;  // "" would mean the working directory: not searched
    const std::string candidate = fmt::format("{}/{}", dir, name);
    if (executable_file(candidate)) return candidate;
  }
  return {};
}

}  // namespace closewise::cli::demo

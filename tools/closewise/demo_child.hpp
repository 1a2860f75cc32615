// A child process of `closewise demo` (its resume row runs redis-server and
// `closewise serve` as real processes, issue 13): stdout read line by line on
// a thread of its own, so a chatty child never blocks on a full pipe, and the
// child killed and reaped on every path, even when the demo itself dies.
#pragma once

#include <sys/types.h>

#include <atomic>
#include <chrono>
#include <csignal>
#include <functional>
#include <mutex>
#include <optional>
#include <string>
#include <string_view>
#include <thread>
#include <vector>

namespace closewise::cli::demo {

/// Gets each line the child prints on stdout, then nullopt once at EOF. It
/// runs on the child's reader thread.
using line_sink = std::function<void(std::optional<std::string_view>)>;

/// One child process. Its stdin is /dev/null, it inherits no descriptor but
/// its pipes, and the kernel kills it (PR_SET_PDEATHSIG) if the demo dies
/// first. The destructor kills it with SIGKILL and reaps it.
class child_process {
 public:
  child_process() = default;
  ~child_process();
  child_process(const child_process&) = delete;
  child_process& operator=(const child_process&) = delete;

  /// Runs `path` with `argv` (argv[0] included). Returns "" or why it did not
  /// start (no pipe, no fork). A path that cannot be executed shows up as a
  /// child that exits with status 127.
  std::string start(const std::string& path, const std::vector<std::string>& argv,
                    line_sink on_stdout);

  pid_t pid() const { return pid_; }

  /// Sends `sig` without waiting. Safe on any thread while the child has not
  /// been reaped (poll_exit, stop), so its pid cannot be another process's.
  void signal(int sig) const;

  /// Reaps the child if it has exited: how it ended ("exited with status 1",
  /// "killed by SIGKILL"), or nullopt while it runs.
  std::optional<std::string> poll_exit();
  /// Sends `sig` and reaps the child. A signal other than SIGKILL gets
  /// `grace` to work before SIGKILL follows. Returns how it ended.
  std::string stop(int sig = SIGKILL,
                   std::chrono::milliseconds grace = std::chrono::milliseconds(0));

  /// The last of what it wrote on stderr, on one line ("" when nothing).
  std::string diagnostics() const;

 private:
  void read_loop(int out, int err, line_sink on_stdout);
  void join_reader();

  pid_t pid_ = -1;
  std::optional<std::string> ended_;
  std::atomic<bool> stop_reading_{false};
  std::thread reader_;
  mutable std::mutex err_mu_;
  std::string err_tail_;
};

/// "exited with status N" or "killed by SIGNAME", from a waitpid() status.
std::string describe_exit(int status);

/// The named program on PATH (then /usr/sbin and /usr/local/bin), or "".
std::string find_program(std::string_view name);

}  // namespace closewise::cli::demo

#include "demo_resume.hpp"

#include <fmt/format.h>
#include <netinet/in.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <cerrno>
#include <closewise/net/reconnecting_client.hpp>
#include <closewise/net/server.hpp>
#include <closewise/resume/memory_store.hpp>
#include <condition_variable>
#include <cstdlib>
#include <functional>
#include <memory>
#include <mutex>
#include <optional>
#include <thread>

#include "demo_child.hpp"

namespace closewise::cli::demo {
namespace {

using std::chrono::milliseconds;
using std::chrono::seconds;
using steady = std::chrono::steady_clock;

constexpr auto echo_wait = seconds(20);    // each half of the stream
constexpr auto start_wait = seconds(10);   // redis-server's PONG, serve's listening line
constexpr auto stop_grace = seconds(5);    // SIGTERM at the end, then SIGKILL
constexpr auto restart_wait = seconds(5);  // a new serve whose port was taken meanwhile

struct book {
  std::mutex mu;
  std::condition_variable cv;
  std::vector<int> echoes;
  std::size_t back = 0;
  std::vector<resume::client_outcome> outcomes;
  std::optional<steady::time_point> resumed_at;
  std::optional<steady::time_point> killed_at;
  int killed_after = 0;
  std::string server_died;  ///< a server process that died unasked: how
  std::string last_cause;   ///< the cause of the client's last scheduled reconnect
  template <class P>
  bool wait(P p) {
    std::unique_lock l(mu);
    cv.wait_for(l, echo_wait, [&] { return p() || !server_died.empty(); });
    return p();
  }
  void died(std::string how) {
    std::lock_guard l(mu);
    if (server_died.empty()) server_died = std::move(how);
    cv.notify_all();
  }
};

/// "; the client's last reconnect was for CAUSE", when it had one.
std::string client_cause(const book& b) {
  return b.last_cause.empty()
             ? std::string()
             : fmt::format("; the client's last reconnect was for {}", b.last_cause);
}

/// Why the row did not come out as "resumed, nothing lost", or "".
std::string what_went_wrong(const resume_row& r, const book& b) {
  if (!b.server_died.empty()) return b.server_died;
  if (b.outcomes.size() < 2)
    return fmt::format("the client did not reconnect within {} s of the death{}", echo_wait.count(),
                       client_cause(b));
  if (r.outcome != "resumed")
    return fmt::format("the second connection was not resumed: {}", r.outcome);
  if (r.handed_back > 0) return fmt::format("{} message(s) handed back", r.handed_back);
  if (r.echoes != r.messages)
    return fmt::format("{} echoes of {} within {} s{}", r.echoes, r.messages, echo_wait.count(),
                       client_cause(b));
  if (!r.in_order_once) return "echoes out of order or duplicated";
  return {};
}

/// How the server dies and comes back.
struct death {
  /// Runs on the client's thread as the client gets the echo that is a third
  /// of the stream, so the death lands exactly there, with messages in flight.
  /// It must not block (a signal). Empty: the death waits for `restart`.
  std::function<void()> at_echo;
  /// Then, on the calling thread: finishes the death and starts the next
  /// server; "" or why it did not start.
  std::function<std::string()> restart;
};

/// The client half of the row, whatever "the server dies" means: a
/// reconnecting client with a resumable session streams numbered messages to
/// the echo server on `port`, and the server dies after a third of the echoes.
void stream_across_a_death(boost::asio::io_context& ioc, std::uint16_t port, book& b, resume_row& r,
                           const death& d) {
  const int messages = r.messages;
  // The death comes after a third of the echoes, with another sixth still in
  // flight (sent, not echoed yet); the rest goes out after it.
  const int kill_at = messages / 3;
  const int before = std::min(messages, kill_at + messages / 6);
  net::reconnecting_client_config cfg;
  cfg.resume = resume::session_settings{};
  cfg.queue.max_messages = static_cast<std::size_t>(messages) + 16;
  cfg.policy.backoff = policy::full_jitter{milliseconds{20}, milliseconds{20}, milliseconds{200}};
  auto c = std::make_unique<net::reconnecting_client>(ioc, cfg);
  c->on_message([&b, &d, kill_at](proto::message_kind, std::string_view p) {
    std::lock_guard l(b.mu);
    b.echoes.push_back(std::atoi(std::string(p).c_str()));
    if (d.at_echo && !b.killed_at && static_cast<int>(b.echoes.size()) == kill_at) {
      d.at_echo();
      b.killed_at = steady::now();
      b.killed_after = kill_at;
    }
    b.cv.notify_all();
  });
  c->on_undelivered([&b](std::vector<net::queued_message> m, std::error_code) {
    std::lock_guard l(b.mu);
    b.back += m.size();
    b.cv.notify_all();
  });
  c->on_resume([&b](const resume::client_outcome& o) {
    std::lock_guard l(b.mu);
    b.outcomes.push_back(o);
    if (b.outcomes.size() == 2) b.resumed_at = steady::now();
    b.cv.notify_all();
  });
  c->on_reconnect_scheduled([&b](std::uint32_t, milliseconds, const std::string& cause) {
    std::lock_guard l(b.mu);
    b.last_cause = cause;
  });
  if (const auto ec = c->connect(fmt::format("ws://127.0.0.1:{}/", port))) {
    r.problem = fmt::format("the client did not connect: {}", ec.message());
    return;
  }
  for (int i = 1; i <= before; ++i) (void)c->send_text(std::to_string(i));
  std::string restart_problem;
  std::optional<steady::time_point> killed;
  if (b.wait([&] {
        return d.at_echo ? b.killed_at.has_value() : static_cast<int>(b.echoes.size()) >= kill_at;
      })) {
    {
      std::lock_guard l(b.mu);
      if (!b.killed_at) {
        b.killed_at = steady::now();
        b.killed_after = static_cast<int>(b.echoes.size());
      }
      r.killed_after = b.killed_after;
      killed = b.killed_at;
    }
    restart_problem = d.restart();
    if (restart_problem.empty()) {
      for (int i = before + 1; i <= messages; ++i) (void)c->send_text(std::to_string(i));
      b.wait([&] {
        return (static_cast<int>(b.echoes.size()) >= messages && b.outcomes.size() >= 2) ||
               b.back > 0 || b.outcomes.size() > 2;
      });
    }
  }
  {
    std::lock_guard l(b.mu);
    r.echoes = static_cast<int>(b.echoes.size());
    r.in_order_once = r.echoes == messages;
    for (int i = 0; r.in_order_once && i < messages; ++i)
      r.in_order_once = b.echoes[static_cast<std::size_t>(i)] == i + 1;
    r.handed_back = b.back;
    if (b.outcomes.size() >= 2) {
      r.outcome = b.outcomes[1].kind == resume::client_outcome_kind::resumed
                      ? "resumed"
                      : std::string(to_string(b.outcomes[1].status));
      r.replayed_out = static_cast<long>(b.outcomes[1].replay_out);
      r.replayed_in = static_cast<long>(b.outcomes[1].replay_in);
    }
    if (b.resumed_at && killed)
      r.resume_time = std::chrono::duration_cast<milliseconds>(*b.resumed_at - *killed);
    if (!killed)
      r.problem = b.server_died.empty()
                      ? fmt::format("only {} of the first {} echoes within {} s{}", r.echoes,
                                    kill_at, echo_wait.count(), client_cause(b))
                      : b.server_died;
    else if (!restart_problem.empty())
      r.problem = restart_problem;
    else
      r.problem = what_went_wrong(r, b);
    r.ok = r.problem.empty();
  }
  // Not under b.mu: the destructor hands back what is still unacked through
  // on_undelivered. The client goes before `b`, which its callbacks use.
  c.reset();
}

// --- in-process: net::server objects sharing a memory store ---

std::unique_ptr<net::server> echo_server(boost::asio::io_context& ioc,
                                         std::shared_ptr<resume::session_store> store,
                                         std::uint16_t port) {
  net::server_config cfg;
  cfg.resume_store = std::move(store);
  auto s = std::make_unique<net::server>(ioc, cfg);
  s->on_message(
      [](net::session& ss, proto::message_kind k, std::string_view p) { (void)ss.send(k, p); });
  if (s->listen("127.0.0.1", port)) return nullptr;
  return s;
}

void run_in_process(boost::asio::io_context& ioc, resume_row& r) {
  r.store = "memory";
  auto store = std::make_shared<resume::memory_store>();
  auto first = echo_server(ioc, store, 0);
  if (!first) {
    r.problem = "the first server could not listen on 127.0.0.1";
    return;
  }
  const auto port = first->port();
  std::unique_ptr<net::server> second;
  book b;
  death d;
  d.restart = [&]() -> std::string {
    first.reset();  // the abrupt death: aborted, mid-stream
    // The old acceptor closes on its executor: the port is free a moment later.
    for (int i = 0; i < 500 && !second; ++i) {
      second = echo_server(ioc, store, port);
      if (!second) std::this_thread::sleep_for(milliseconds(10));
    }
    return second ? std::string() : fmt::format("no second server took port {} within 5 s", port);
  };
  stream_across_a_death(ioc, port, b, r, d);
  second.reset();
}

#ifdef CLOSEWISE_CLI_REDIS
// --- process: `closewise serve --resume redis://...` children and their redis-server ---

/// A loopback port that was free a moment ago (bind to 0, read it back, close).
std::uint16_t probe_free_port() {
  const int fd = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  if (fd < 0) return 0;
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

/// One PING on a fresh connection: true when +PONG comes back within 200 ms.
bool answers_ping(std::uint16_t port) {
  const int fd = ::socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
  if (fd < 0) return false;
  const auto until = steady::now() + milliseconds(200);
  auto wait_for = [&](short what) {
    const auto left = std::chrono::duration_cast<milliseconds>(until - steady::now()).count();
    pollfd p{fd, what, 0};
    return left > 0 && ::poll(&p, 1, static_cast<int>(left)) == 1 && (p.revents & what) != 0;
  };
  sockaddr_in a{};
  a.sin_family = AF_INET;
  a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  a.sin_port = htons(port);
  bool ok = false;
  int err = 0;
  socklen_t len = sizeof err;
  if ((::connect(fd, reinterpret_cast<sockaddr*>(&a), sizeof a) == 0 || errno == EINPROGRESS) &&
      wait_for(POLLOUT) && ::getsockopt(fd, SOL_SOCKET, SO_ERROR, &err, &len) == 0 && err == 0) {
    static constexpr std::string_view ping = "PING\r\n";
    if (::send(fd, ping.data(), ping.size(), MSG_NOSIGNAL) == static_cast<ssize_t>(ping.size())) {
      std::string got;
      char buf[64];
      while (got.find("\r\n") == std::string::npos && wait_for(POLLIN)) {
        const ssize_t n = ::recv(fd, buf, sizeof buf, 0);
        if (n <= 0) break;
        got.append(buf, static_cast<std::size_t>(n));
      }
      ok = got.rfind("+PONG\r\n", 0) == 0;
    }
  }
  ::close(fd);
  return ok;
}

/// Appends ": WHAT" when the child said something.
std::string with_words(std::string text, const std::string& words) {
  if (!words.empty()) text += fmt::format(": {}", words);
  return text;
}

/// redis-server on a free loopback port with no persistence, stopped (SIGTERM,
/// then SIGKILL) when the object goes.
class redis_server {
 public:
  ~redis_server() {
    if (proc_) (void)proc_->stop(SIGTERM, stop_grace);
  }

  /// Returns "" once it answers PING, or why it did not.
  std::string start(const std::string& binary) {
    std::string why = "no free loopback port";
    // A probed port can be taken between the probe and redis's bind: try a few.
    for (int attempt = 0; attempt < 3; ++attempt) {
      port_ = probe_free_port();
      if (port_ == 0) continue;
      why = start_on(binary);
      if (why.empty()) return why;
    }
    return why;
  }
  std::uint16_t port() const { return port_; }

 private:
  std::string start_on(const std::string& binary) {
    if (proc_) (void)proc_->stop(SIGKILL);
    {
      std::lock_guard l(mu_);
      closed_ = false;
      last_.clear();
    }
    proc_ = std::make_unique<child_process>();
    const std::string p = std::to_string(port_);
    const std::vector<std::string> args = {
        binary, "--port",      p,    "--bind",     "127.0.0.1", "--save", "", "--appendonly",
        "no",   "--daemonize", "no", "--loglevel", "warning"};
    if (auto e = proc_->start(binary, args,
                              [this](std::optional<std::string_view> line) {
                                std::lock_guard l(mu_);
                                if (!line)
                                  closed_ = true;
                                else if (!line->empty())
                                  last_ = std::string(*line);  // redis logs on stdout
                                cv_.notify_all();
                              });
        !e.empty())
      return fmt::format("redis-server ({}) did not start: {}", binary, e);
    // Ready is the event "PING answers PONG": polled, bounded, and cut short
    // when the process ends (its stdout closes).
    const auto until = steady::now() + start_wait;
    while (!answers_ping(port_)) {
      std::unique_lock l(mu_);
      if (cv_.wait_for(l, milliseconds(10), [&] { return closed_; })) {
        const std::string said = last_.empty() ? proc_->diagnostics() : last_;
        l.unlock();
        const std::string how = proc_->stop(SIGKILL);
        return with_words(fmt::format("redis-server ({}) {} before answering PING on 127.0.0.1:{}",
                                      binary, how, port_),
                          said);
      }
      if (steady::now() >= until) {
        l.unlock();
        (void)proc_->stop(SIGKILL);
        return fmt::format("redis-server ({}) did not answer PING on 127.0.0.1:{} within {} s",
                           binary, port_, start_wait.count());
      }
    }
    return {};
  }

  std::mutex mu_;
  std::condition_variable cv_;
  bool closed_ = false;
  std::string last_;
  std::uint16_t port_ = 0;
  std::unique_ptr<child_process> proc_;  // last: its reader thread stops first
};

/// `closewise serve --echo --json --resume STORE`, this binary as a child
/// process. `on_death` runs (on its reader thread) when it ends unasked.
class serve_process {
 public:
  explicit serve_process(std::function<void(std::string)> on_death)
      : on_death_(std::move(on_death)) {}
  ~serve_process() { (void)kill(); }

  /// Starts it on `port` (0: any) and waits for its listening line; "" or why not.
  std::string start(std::uint16_t port, const std::string& store) {
    const std::vector<std::string> args = {
        "closewise",          "serve",  "--host", "127.0.0.1", "--port",
        std::to_string(port), "--echo", "--json", "--resume",  store};
    const std::string what = fmt::format("closewise serve --port {} --resume {}", port, store);
    // /proc/self/exe: this very binary, even if the file was replaced meanwhile.
    if (auto e = proc_.start("/proc/self/exe", args,
                             [this](std::optional<std::string_view> l) { on_line(l); });
        !e.empty())
      return fmt::format("{} did not start: {}", what, e);
    std::unique_lock l(mu_);
    if (cv_.wait_for(l, start_wait, [&] { return port_ || closed_; }) && port_) return {};
    const bool ended = closed_;
    l.unlock();
    const std::string how = proc_.stop(SIGKILL);
    if (ended)
      return with_words(fmt::format("{} {} before listening", what, how), proc_.diagnostics());
    return fmt::format("{} printed no listening line within {} s", what, start_wait.count());
  }

  std::uint16_t port() const {
    std::lock_guard l(mu_);
    return port_.value_or(0);
  }
  /// start() failed because the process exited without listening (its port
  /// was taken, say), not because it hung.
  bool ended_before_listening() const {
    std::lock_guard l(mu_);
    return closed_ && !port_;
  }
  long pid() const { return static_cast<long>(proc_.pid()); }

  /// SIGKILL, at once and without waiting (safe on any thread, before kill()).
  void signal_kill() {
    {
      std::lock_guard l(mu_);
      asked_ = true;
    }
    proc_.signal(SIGKILL);
  }
  /// SIGKILL, then waitpid: when it returns, the process and its listener are gone.
  std::string kill() {
    {
      std::lock_guard l(mu_);
      asked_ = true;
    }
    return proc_.stop(SIGKILL);
  }
  /// When it ended on its own after listening: how, with its last words
  /// (it is reaped here), else "".
  std::string death() {
    {
      std::lock_guard l(mu_);
      if (!died_) return {};
    }
    const std::string how = kill();
    return with_words(fmt::format("closewise serve (pid {}) {} mid-stream", pid(), how),
                      proc_.diagnostics());
  }
  /// The graceful stop (SIGTERM: 1001 to its clients), bounded.
  void stop() {
    {
      std::lock_guard l(mu_);
      asked_ = true;
    }
    (void)proc_.stop(SIGTERM, stop_grace);
  }
  /// The first resume event it printed (its first connection's handshake): resumed, resume_new, ...
  std::string resume_event() const {
    std::lock_guard l(mu_);
    return resume_event_;
  }

 private:
  void on_line(std::optional<std::string_view> line) {
    std::unique_lock l(mu_);
    if (!line) {
      closed_ = true;
      cv_.notify_all();
      if (asked_ || !port_) return;
      died_ = true;
      l.unlock();
      // Its stdout closed: it is exiting; reaping waits for the owner.
      on_death_(with_words(fmt::format("closewise serve (pid {}) ended mid-stream", pid()),
                           proc_.diagnostics()));
      return;
    }
    // One line per echoed message: only the others are worth parsing.
    if (line->find(R"("event":"message")") != std::string_view::npos) return;
    const auto j = nlohmann::json::parse(*line, nullptr, /*allow_exceptions=*/false);
    if (j.is_discarded() || !j.contains("event") || !j["event"].is_string()) return;
    const auto event = j["event"].get<std::string>();
    if (event == "listening" && j.contains("port") && j["port"].is_number_unsigned())
      port_ = j["port"].get<std::uint16_t>();
    // The handshake's event (resumed, or why not) is the first. A later one
    // is the session's end: the client's 1001 ends it, and what it had not
    // acked yet is handed back ("resume_failed", reason "ended").
    else if (event.rfind("resume", 0) == 0 && resume_event_.empty())
      resume_event_ = j.contains("reason") && j["reason"].is_string()
                          ? fmt::format("{} ({})", event, j["reason"].get<std::string>())
                          : event;
    cv_.notify_all();
  }

  std::function<void(std::string)> on_death_;
  mutable std::mutex mu_;
  std::condition_variable cv_;
  std::optional<std::uint16_t> port_;
  bool closed_ = false;
  bool asked_ = false;
  bool died_ = false;  ///< ended while it had a port, unasked
  std::string resume_event_;
  child_process proc_;  // last: its reader thread stops before the state it writes
};

void run_as_processes(boost::asio::io_context& ioc, const std::string& redis_binary,
                      resume_row& r) {
  redis_server redis;
  std::string killed_how;
  auto describe_how = [&] {
    std::string how =
        fmt::format("process: `closewise serve --resume {}`",
                    r.store.empty() ? std::string("redis://127.0.0.1:PORT") : r.store);
    if (r.killed_pid != 0) how += fmt::format(" (pid {})", r.killed_pid);
    if (killed_how.empty()) return how + ", not killed: the row stopped before";
    how += killed_how == "killed by SIGKILL"
               ? " killed with SIGKILL"
               : fmt::format(" was to be killed but had {}", killed_how);
    if (r.restarted_pid == 0) return how + ", and no new process took its port";
    return how +
           fmt::format(", a new process (pid {}) on the same port {}", r.restarted_pid,
                       r.outcome == "resumed"
                           ? std::string("resumed from Redis")
                           : fmt::format("did not resume ({})",
                                         r.outcome.empty() ? "no second connection" : r.outcome));
  };
  if (auto why = redis.start(redis_binary); !why.empty()) {
    r.problem = why;
    r.how = describe_how();
    return;
  }
  r.store = fmt::format("redis://127.0.0.1:{}", redis.port());
  book b;
  auto died = [&b](std::string how) { b.died(std::move(how)); };
  auto first = std::make_unique<serve_process>(died);
  std::unique_ptr<serve_process> second;
  if (auto why = first->start(0, r.store); !why.empty()) {
    r.problem = why;
    r.how = describe_how();
    return;
  }
  const auto port = first->port();
  r.killed_pid = first->pid();
  death d;
  d.at_echo = [&first] { first->signal_kill(); };
  d.restart = [&]() -> std::string {
    killed_how = first->kill();  // reaped: the process and its listener are gone
    // The port is free now, but until the new process binds it any socket on
    // the machine may take it as its ephemeral port (even the client, which
    // then connects to itself). A new process that cannot listen is tried
    // again, for up to restart_wait.
    const auto until = steady::now() + restart_wait;
    for (;;) {
      second = std::make_unique<serve_process>(died);
      auto why = second->start(port, r.store);
      if (why.empty()) break;
      if (!second->ended_before_listening() || steady::now() >= until)
        return fmt::format("after the kill, {}", why);
      std::this_thread::sleep_for(milliseconds(50));
    }
    r.restarted_pid = second->pid();
    return {};
  };
  stream_across_a_death(ioc, port, b, r, d);
  // A process that died on its own: the book only knew that its stdout closed.
  for (auto* p : {first.get(), second.get()})
    if (auto how = p != nullptr ? p->death() : std::string(); !how.empty()) {
      r.problem = std::move(how);
      r.ok = false;
    }
  if (second) {
    r.server_outcome = second->resume_event();
    second->stop();
  }
  r.how = describe_how();
}

/// redis-server: CLOSEWISE_REDIS_SERVER when set (as in the tests), else on PATH.
std::string redis_server_binary(std::string& why_not) {
  if (const char* env = std::getenv("CLOSEWISE_REDIS_SERVER")) {
    if (::access(env, X_OK) == 0) return env;
    why_not =
        fmt::format("redis-server not found (CLOSEWISE_REDIS_SERVER={} is not executable)", env);
    return {};
  }
  auto found = find_program("redis-server");
  if (found.empty()) why_not = "redis-server not found (install it: apt-get install redis-server)";
  return found;
}
#endif

}  // namespace

resume_row run_resume_row(boost::asio::io_context& ioc, int messages) {
  resume_row r;
  r.messages = messages;
#ifdef CLOSEWISE_CLI_REDIS
  std::string why;
  if (const auto redis = redis_server_binary(why); !redis.empty()) {
    run_as_processes(ioc, redis, r);
    return r;
  }
#else
  const std::string why = "this build has no Redis support (libhiredis-dev was missing)";
#endif
  run_in_process(ioc, r);
  r.how = fmt::format(
      "{}: in-process: the first server is destroyed abruptly (every connection aborted, no "
      "close frame) and a second one on the same port takes over its memory store",
      why);
  return r;
}

nlohmann::json resume_report(const resume_row& r) {
  auto or_null = [](const std::string& s) {
    return s.empty() ? nlohmann::json() : nlohmann::json(s);
  };
  auto pid = [](long p) { return p == 0 ? nlohmann::json() : nlohmann::json(p); };
  return {{"name", "resume-after-server-death"},
          {"how", r.how},
          {"store", or_null(r.store)},
          {"killed_pid", pid(r.killed_pid)},
          {"restarted_pid", pid(r.restarted_pid)},
          {"messages", r.messages},
          {"killed_after_echoes", r.killed_after},
          {"echoes", r.echoes},
          {"exactly_once_in_order", r.in_order_once},
          {"handed_back", r.handed_back},
          {"outcome", r.outcome},
          {"server_outcome", or_null(r.server_outcome)},
          {"replayed_out", r.replayed_out},
          {"replayed_in", r.replayed_in},
          {"resume_ms", r.resume_time.count()},
          {"problem", or_null(r.problem)},
          {"agrees", r.ok}};
}

std::vector<std::string> describe(const resume_row& r) {
  std::vector<std::string> lines = {
      fmt::format("resume: {} numbered messages echoed; the server died after {} echoes",
                  r.messages, r.killed_after),
      fmt::format("  {}", r.how),
      fmt::format("  second connection: {} ({} replayed out, {} in) {} ms after the death{}",
                  r.outcome.empty() ? "none" : r.outcome, r.replayed_out, r.replayed_in,
                  r.resume_time.count(),
                  r.server_outcome.empty()
                      ? std::string()
                      : fmt::format("; the new process printed: {}", r.server_outcome)),
      fmt::format("  echoes {} of {}, exactly once and in order: {}; handed back: {} -> {}",
                  r.echoes, r.messages, r.in_order_once ? "yes" : "NO", r.handed_back,
                  r.ok ? "nothing lost" : "DISAGREES")};
  if (!r.problem.empty()) lines.push_back(fmt::format("  problem: {}", r.problem));
  return lines;
}

}  // namespace closewise::cli::demo

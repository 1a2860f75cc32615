// `closewise demo`: the close-code table, made live (ARCHITECTURE §5).
//
// An embedded server on 127.0.0.1 does one thing per scenario to a fresh
// reconnecting client (close with a code, drop TCP, go silent, refuse the
// upgrade, restart under many clients). The demo prints what the client saw,
// what its policy decided and how long it really waited before the server
// accepted it again, then compares all of it with the policy table.
//
// Threads: one thread runs the io_context (server, clients, the silent peer);
// the main thread walks the scenarios and waits on what the callbacks record.
//
// `--json` prints nothing until the end, then one JSON document (version 1):
//   {report: "closewise demo", version, time_scale: "1/10", scaling: [text],
//    server_hints_scaled: false, heartbeat_ms {interval, grace},
//    tolerance_ms {early, late}, policy: <policy JSON as docs/reconnect.md>,
//    all_agree, elapsed_ms, scenarios: [{
//      name ("close-1012", "drop", "silent", "http-429", "shed", "restart", ...),
//      server_action, clients, http_status (refusals),
//      close {code, name, reason, was_clean, initiator, error?} | null,
//      decision "retry"|"stop"|"none", cause + attempt + scheduled_delay_ms (retry),
//      stop_reason (stop), delay_ms (measured close -> server accept; null unless retry),
//      expected_decision, expected_rule, expected_close_code,
//      expected_delay_range_ms [lo, hi] (inclusive; null for stop),
//      agrees, problems [text], elapsed_ms,
//      detection_ms + expected_detection_range_ms (silent),
//      delays_ms [..] + delay_stats_ms {min, median, max} (restart)}]}
// The exit status is 0 when every scenario agrees with the table, 1 otherwise.
#include <fmt/format.h>
#include <unistd.h>

#include <boost/asio/executor_work_guard.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/steady_timer.hpp>
#include <closewise/close_code.hpp>
#include <closewise/close_event.hpp>
#include <closewise/error.hpp>
#include <closewise/net/reconnecting_client.hpp>
#include <closewise/net/server.hpp>
#include <closewise/net/session.hpp>
#include <closewise/policy/json.hpp>
#include <closewise/policy/policy.hpp>
#include <nlohmann/json.hpp>

#include <algorithm>
#include <charconv>
#include <chrono>
#include <condition_variable>
#include <cstdio>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <thread>
#include <vector>

#include "commands.hpp"
#include "demo_policy.hpp"
#include "demo_silent_peer.hpp"
#include "output.hpp"

namespace closewise::cli {
namespace {

namespace asio = boost::asio;
using clock = std::chrono::steady_clock;
using std::chrono::milliseconds;

// Every delay of the default policy is divided by this, so the walk takes
// seconds rather than minutes; the banner says so.
constexpr int time_divisor = 10;
// How long a connection stays open before the server acts, so the timeline
// shows the open before the close (and no close races the client's own open).
constexpr milliseconds hold{250};
// The heartbeat every demo client runs (the real default is 15 s + 10 s).
constexpr milliseconds heartbeat_interval{400};
constexpr milliseconds heartbeat_grace{400};
// ARCHITECTURE §6: a dead peer is found within interval + grace, +/-20%.
constexpr double detection_slack = 0.2;
// A measured wait counts as agreeing with the policy when it lies in the
// policy's range, allowing this much for connect, handshake and scheduling.
constexpr milliseconds late_tolerance{250};
constexpr milliseconds early_tolerance{5};
// No scenario may take longer than this; a missing event then shows as a mismatch.
constexpr milliseconds scenario_limit{6000};

// -------------------------------------------------------------- scenarios --

enum class action_kind { close, drop, silent, refuse, restart };

struct scenario {
  std::string name;  // stable JSON name: "close-1012", "drop", "http-429", ...
  action_kind kind = action_kind::close;
  close_code code = close_code::normal;  // close, restart: the code sent
  std::string reason;                    // close, restart: the reason sent
  unsigned status = 0;                   // refuse: the HTTP status
  std::optional<unsigned> retry_after;   // refuse: Retry-After seconds
  int clients = 1;
  std::string label;  // the first column of the summary table
};

scenario close_with(std::uint16_t code, std::string reason) {
  scenario s;
  s.name = fmt::format("close-{}", code);
  s.code = static_cast<close_code>(code);
  s.reason = std::move(reason);
  s.label = fmt::format("{}", code);
  return s;
}

std::vector<scenario> make_scenarios(int restart_clients) {
  std::vector<scenario> v = {
      close_with(1000, "done"),
      close_with(1001, "server going away"),
      close_with(1002, "protocol error"),
      close_with(1003, "unsupported data"),
      close_with(1007, "invalid payload"),
      close_with(1008, "policy violation"),
      close_with(1009, "message too big"),
      close_with(1010, "extension required"),
      close_with(1011, "internal error"),
      close_with(1012, "restarting"),
      close_with(1013, "try again later"),
      close_with(1014, "bad gateway"),
      close_with(3000, "registered, retryable half"),
      close_with(3500, "registered, final half"),
      close_with(4000, "private, retryable half"),
      close_with(4500, "private, final half"),
  };
  scenario drop;
  drop.name = "drop";
  drop.kind = action_kind::drop;
  drop.code = close_code::abnormal;
  drop.label = "drop";
  v.push_back(drop);

  scenario silent;
  silent.name = "silent";
  silent.kind = action_kind::silent;
  silent.code = close_code::abnormal;
  silent.label = "silent";
  v.push_back(silent);

  for (const auto& [status, ra] : {std::pair<unsigned, std::optional<unsigned>>{401, std::nullopt},
                                   {429, 1u},
                                   {503, std::nullopt}}) {
    scenario s;
    s.name = fmt::format("http-{}", status);
    s.kind = action_kind::refuse;
    s.code = close_code::abnormal;  // browsers and closewise report a refused upgrade as 1006
    s.status = status;
    s.retry_after = ra;
    s.label = fmt::format("HTTP {}", status);
    v.push_back(s);
  }

  scenario shed = close_with(1013, "retry-after=1");
  shed.name = "shed";
  shed.label = "shed";
  v.push_back(shed);

  scenario restart = close_with(1012, "restart");
  restart.name = "restart";
  restart.kind = action_kind::restart;
  restart.clients = restart_clients;
  restart.label = "restart";
  v.push_back(restart);
  return v;
}

std::string_view status_phrase(unsigned status) {
  switch (status) {
    case 401: return "Unauthorized";
    case 429: return "Too Many Requests";
    case 503: return "Service Unavailable";
    default: return "";
  }
}

std::string server_action(const scenario& s) {
  switch (s.kind) {
    case action_kind::close:
      if (s.name == "shed") return fmt::format("shed load: close {} \"{}\"", to_int(s.code), s.reason);
      return fmt::format("close {} \"{}\"", to_int(s.code), s.reason);
    case action_kind::drop: return "drop TCP without a close frame";
    case action_kind::silent: return "complete the handshake, then go silent (no reads, no pongs, TCP kept open)";
    case action_kind::refuse:
      return s.retry_after ? fmt::format("refuse the upgrade: HTTP {} {}, Retry-After: {}", s.status,
                                         status_phrase(s.status), *s.retry_after)
                           : fmt::format("refuse the upgrade: HTTP {} {}", s.status, status_phrase(s.status));
    case action_kind::restart:
      return fmt::format("restart: close {} clients at once with {} \"{}\"", s.clients, to_int(s.code), s.reason);
  }
  return "";
}

// ---------------------------------------------------------------- console --

// Human output with optional ANSI colour; silent in JSON mode. Lines come from
// both threads, so each is written whole under a lock.
class console {
 public:
  console(bool human, bool color) : human_(human), color_(color) {}
  bool human() const noexcept { return human_; }
  bool color() const noexcept { return color_; }

  void line(std::string_view text) {
    if (!human_) return;
    std::lock_guard lock(mu_);
    std::fwrite(text.data(), 1, text.size(), stdout);
    std::fputc('\n', stdout);
    std::fflush(stdout);
  }
  std::string paint(std::string_view text, std::string_view sgr) const {
    if (!color_) return std::string(text);
    return fmt::format("\x1b[{}m{}\x1b[0m", sgr, text);
  }
  std::string bold(std::string_view t) const { return paint(t, "1"); }
  std::string dim(std::string_view t) const { return paint(t, "2"); }
  std::string green(std::string_view t) const { return paint(t, "32"); }
  std::string red(std::string_view t) const { return paint(t, "31"); }
  std::string yellow(std::string_view t) const { return paint(t, "33"); }
  std::string cyan(std::string_view t) const { return paint(t, "36"); }
  std::string check(bool ok) const { return ok ? green("✓") : red("✗"); }

 private:
  bool human_;
  bool color_;
  std::mutex mu_;
};

std::string ms_text(milliseconds d) { return event_printer::seconds(d); }

std::string range_text(milliseconds lo, milliseconds hi) {
  return lo == hi ? fmt::format("{} ms", lo.count()) : fmt::format("{}–{} ms", lo.count(), hi.count());
}

milliseconds since(clock::time_point from, clock::time_point to) {
  return std::chrono::duration_cast<milliseconds>(to - from);
}

// ------------------------------------------------------------ observation --

enum class verdict { pending, retry, stop };

std::string_view to_string(verdict v) {
  switch (v) {
    case verdict::pending: return "none";
    case verdict::retry: return "retry";
    case verdict::stop: return "stop";
  }
  return "none";
}

// What one client saw and decided, and when the server took it back.
struct client_obs {
  std::optional<clock::time_point> opened;  // the client's first on_open
  std::optional<close_event> close;         // its first on_close
  clock::time_point closed_at{};
  verdict decided = verdict::pending;
  milliseconds scheduled{0};
  std::uint32_t attempt = 0;
  std::string cause;
  std::string stop_reason;
  std::optional<clock::time_point> reopened;  // the server accepted the retry
  int requests = 0;                           // upgrade requests the server saw
  int opens = 0;                              // connections the server opened

  bool done() const { return decided == verdict::stop || (decided == verdict::retry && reopened); }
  std::optional<milliseconds> waited() const {
    if (!close || !reopened) return std::nullopt;
    return since(closed_at, *reopened);
  }
};

// One scenario in progress. Callbacks on the io thread fill it in under `mu`;
// the main thread waits on `cv`.
struct run {
  const scenario* sc = nullptr;
  int index = 0;
  clock::time_point start = clock::now();
  std::mutex mu;
  std::condition_variable cv;
  std::vector<client_obs> clients;
  std::vector<std::shared_ptr<net::session>> held;  // restart: sessions waiting for the close

  bool verbose() const { return sc->clients == 1; }
  bool all_done() const {
    return std::all_of(clients.begin(), clients.end(), [](const client_obs& c) { return c.done(); });
  }
};

// Which run a request belongs to: clients connect to /demo/<index>/<client>,
// so a late event of an earlier scenario can never be taken for the current one.
class run_registry {
 public:
  void set(std::shared_ptr<run> r) {
    std::lock_guard lock(mu_);
    current_ = std::move(r);
  }
  std::pair<std::shared_ptr<run>, std::size_t> find(std::string_view target) const {
    constexpr std::string_view prefix = "/demo/";
    if (target.substr(0, prefix.size()) != prefix) return {};
    target.remove_prefix(prefix.size());
    int index = -1;
    std::size_t client = 0;
    auto [p, ec] = std::from_chars(target.data(), target.data() + target.size(), index);
    if (ec != std::errc{} || p == target.data() + target.size() || *p != '/') return {};
    ++p;
    auto [q, ec2] = std::from_chars(p, target.data() + target.size(), client);
    if (ec2 != std::errc{}) return {};
    std::lock_guard lock(mu_);
    if (!current_ || current_->index != index || client >= current_->clients.size()) return {};
    return {current_, client};
  }

 private:
  mutable std::mutex mu_;
  std::shared_ptr<run> current_;
};

void timeline(console& out, const run& r, std::string_view who, std::string_view text) {
  if (!r.verbose()) return;
  const auto t = std::chrono::duration<double>(clock::now() - r.start).count();
  std::string actor = fmt::format("{:<7}", who);
  if (who == "server" || who == "peer") actor = out.yellow(actor);
  else actor = out.cyan(actor);
  out.line(fmt::format("  {}  {} {}", out.dim(fmt::format("{:>8}", fmt::format("+{:.3f} s", t))), actor, text));
}

// ----------------------------------------------------------------- result --

struct result {
  const scenario* sc = nullptr;
  demo::expectation expect;
  client_obs first;                    // client 0
  std::vector<milliseconds> delays;    // every client's measured wait (retry only)
  std::vector<milliseconds> scheduled; // every client's scheduled delay (retry only)
  std::optional<milliseconds> detection;
  milliseconds detection_lo{0}, detection_hi{0};
  bool agrees = false;
  std::vector<std::string> problems;
  milliseconds elapsed{0};
};

void judge(result& res, const std::vector<client_obs>& clients) {
  const auto& e = res.expect;
  const scenario& sc = *res.sc;
  for (std::size_t i = 0; i < clients.size(); ++i) {
    const auto& c = clients[i];
    const std::string who = clients.size() > 1 ? fmt::format("client {}: ", i) : std::string();
    if (!c.close) {
      res.problems.push_back(who + "no close event");
      continue;
    }
    if (c.close->code != sc.code)
      res.problems.push_back(fmt::format("{}saw {} instead of {}", who, to_int(c.close->code), to_int(sc.code)));
    if (c.decided == verdict::pending) {
      res.problems.push_back(who + "no decision within the scenario's time limit");
      continue;
    }
    if ((c.decided == verdict::retry) != e.retry)
      res.problems.push_back(fmt::format("{}decided {}, the table says {}", who, to_string(c.decided),
                                         e.retry ? "retry" : "stop"));
    if (c.decided != verdict::retry) continue;
    res.scheduled.push_back(c.scheduled);
    if (e.retry && (c.scheduled < e.lo || c.scheduled > e.hi))
      res.problems.push_back(fmt::format("{}scheduled {} ms, outside {}", who, c.scheduled.count(),
                                         range_text(e.lo, e.hi)));
    if (const auto w = c.waited()) {
      res.delays.push_back(*w);
      if (e.retry && (*w < e.lo - early_tolerance || *w > e.hi + late_tolerance))
        res.problems.push_back(fmt::format("{}waited {} ms, outside {} (+{} ms tolerance)", who, w->count(),
                                           range_text(e.lo, e.hi), late_tolerance.count()));
    } else {
      res.problems.push_back(who + "the reconnection did not arrive within the scenario's time limit");
    }
  }
  if (sc.kind == action_kind::silent) {
    const auto& c = clients.front();
    const milliseconds nominal = heartbeat_interval + heartbeat_grace;
    res.detection_lo = milliseconds{static_cast<milliseconds::rep>(nominal.count() * (1 - detection_slack))};
    res.detection_hi = milliseconds{static_cast<milliseconds::rep>(nominal.count() * (1 + detection_slack))};
    if (c.opened && c.close) {
      res.detection = since(*c.opened, c.closed_at);
      // The same scheduling allowance as for the waits: timers fire late, never early.
      if (*res.detection < res.detection_lo || *res.detection > res.detection_hi + late_tolerance)
        res.problems.push_back(fmt::format("heartbeat took {} ms, outside {}", res.detection->count(),
                                           range_text(res.detection_lo, res.detection_hi)));
    }
    if (c.close && c.close->error != make_error_code(error::heartbeat_timeout))
      res.problems.push_back(fmt::format("the close came from '{}', not the heartbeat", c.close->error.message()));
  }
  res.agrees = res.problems.empty();
}

// --------------------------------------------------------------- the demo --

struct demo_opts {
  bool json = false;
  bool no_color = false;
  int restart_clients = 20;
  std::optional<std::uint64_t> seed;
};

// Runs the io_context on one thread for as long as it lives.
class io_runner {
 public:
  io_runner() : work_(asio::make_work_guard(ioc)), thread_([this] { ioc.run(); }) {}
  ~io_runner() {
    work_.reset();
    ioc.stop();
    thread_.join();
  }
  io_runner(const io_runner&) = delete;
  io_runner& operator=(const io_runner&) = delete;
  asio::io_context ioc;

 private:
  asio::executor_work_guard<asio::io_context::executor_type> work_;
  std::thread thread_;
};

class demo_runner {
 public:
  demo_runner(const demo_opts& o, console& out, asio::io_context& ioc)
      : o_(o), out_(out), ioc_(ioc), policy_(demo::scaled_default_policy(time_divisor)), server_(ioc) {}

  bool start() {
    server_.on_connect([this](const proto::upgrade_request& req) { return on_connect(req); });
    server_.on_open([this](net::session& s) { on_server_open(s); });
    if (const auto ec = server_.listen("127.0.0.1", 0)) {
      std::fprintf(stderr, "closewise demo: cannot listen on 127.0.0.1: %s\n", ec.message().c_str());
      return false;
    }
    silent_ = demo::silent_peer::create(ioc_);
    if (const auto ec = silent_->listen([this](int, const std::string& target) { on_peer_handshake(target); })) {
      std::fprintf(stderr, "closewise demo: cannot listen on 127.0.0.1: %s\n", ec.message().c_str());
      return false;
    }
    return true;
  }

  void stop() {
    registry_.set(nullptr);
    if (silent_) silent_->stop();
  }

  const policy::config& policy() const { return policy_; }
  std::uint16_t port() const { return server_.port(); }
  std::uint16_t silent_port() const { return silent_->port(); }

  result play(const scenario& sc, int index, int total) {
    auto r = std::make_shared<run>();
    r->sc = &sc;
    r->index = index;
    r->clients.resize(static_cast<std::size_t>(sc.clients));
    result res;
    res.sc = &sc;
    res.expect = expected(sc);

    const auto& row = info(sc.code);
    std::string title = sc.kind == action_kind::refuse
                            ? fmt::format("HTTP {} {}", sc.status, status_phrase(sc.status))
                            : fmt::format("{} {}", to_int(sc.code), row.name);
    out_.line("");
    out_.line(fmt::format("{} {}  {}", out_.dim(fmt::format("[{:>2}/{}]", index + 1, total)), out_.bold(title),
                          out_.dim(fmt::format("server will {}", server_action(sc)))));
    out_.line(fmt::format("  {}", out_.dim(fmt::format("the table says: {}", res.expect.rule_text))));

    r->start = clock::now();
    registry_.set(r);
    std::vector<std::unique_ptr<net::reconnecting_client>> clients;
    const std::uint16_t port = sc.kind == action_kind::silent ? silent_port() : server_.port();
    for (int i = 0; i < sc.clients; ++i) {
      clients.push_back(make_client(r, static_cast<std::size_t>(i)));
      (void)clients.back()->connect(fmt::format("ws://127.0.0.1:{}/demo/{}/{}", port, index, i));
    }
    const milliseconds limit = scenario_limit + (sc.kind == action_kind::restart ? milliseconds{2000} : milliseconds{0});
    std::vector<client_obs> snapshot;
    {
      std::unique_lock lock(r->mu);
      r->cv.wait_for(lock, limit, [&] { return r->all_done(); });
      snapshot = r->clients;
    }
    res.elapsed = since(r->start, clock::now());
    // The clients go before the next scenario starts; one still open closes with 1001 in the background.
    clients.clear();
    registry_.set(nullptr);
    {
      std::lock_guard lock(r->mu);
      r->held.clear();
    }

    res.first = snapshot.front();
    judge(res, snapshot);
    if (sc.kind == action_kind::restart) print_spread(res);
    for (const auto& p : res.problems) out_.line(fmt::format("  {} {}", out_.red("✗"), p));
    if (res.agrees) out_.line(fmt::format("  {} {}", out_.green("✓"), "as the table says"));
    return res;
  }

 private:
  demo::expectation expected(const scenario& sc) const {
    if (sc.kind == action_kind::refuse) return demo::expect_refusal(sc.status, sc.retry_after, policy_);
    return demo::expect_close(sc.code, sc.reason, policy_);
  }

  std::unique_ptr<net::reconnecting_client> make_client(const std::shared_ptr<run>& r, std::size_t i) {
    net::reconnecting_client_config cfg;
    cfg.policy = policy_;
    cfg.heartbeat.interval = heartbeat_interval;
    cfg.heartbeat.grace = heartbeat_grace;
    cfg.connection.connect_timeout = std::chrono::seconds(2);
    cfg.connection.handshake_timeout = std::chrono::seconds(2);
    cfg.connection.close_timeout = std::chrono::seconds(1);
    if (o_.seed) cfg.uniform = policy::seeded_uniform(*o_.seed * 100003 + static_cast<std::uint64_t>(r->index) * 1009 + i);
    auto c = std::make_unique<net::reconnecting_client>(ioc_, std::move(cfg));
    run* rp = r.get();  // the run outlives the client: clients are destroyed first
    c->on_open([this, rp, i](const net::open_info&) {
      bool first = false;
      {
        std::lock_guard lock(rp->mu);
        auto& obs = rp->clients[i];
        first = !obs.opened;
        if (first) obs.opened = clock::now();
      }
      timeline(out_, *rp, "client", first ? "open" : "open again");
    });
    c->on_close([this, rp, i](const close_event& ev) {
      bool first = false;
      {
        std::lock_guard lock(rp->mu);
        auto& obs = rp->clients[i];
        first = !obs.close;
        if (first) {
          obs.close = ev;
          obs.closed_at = clock::now();
        }
      }
      if (first) timeline(out_, *rp, "client", fmt::format("saw {}", event_printer::describe_close(ev)));
    });
    c->on_error([this, rp](std::error_code ec) { timeline(out_, *rp, "client", out_.dim(fmt::format("error: {}", ec.message()))); });
    c->on_reconnect_scheduled([this, rp, i](std::uint32_t attempt, milliseconds delay, const std::string& cause) {
      bool first = false;
      {
        std::lock_guard lock(rp->mu);
        auto& obs = rp->clients[i];
        first = obs.decided == verdict::pending;
        if (first) {
          obs.decided = verdict::retry;
          obs.scheduled = delay;
          obs.attempt = attempt;
          obs.cause = cause;
        }
      }
      if (first)
        timeline(out_, *rp, "client",
                 out_.green(fmt::format("reconnecting in {} (attempt {}, cause {})", ms_text(delay), attempt, cause)));
      rp->cv.notify_all();
    });
    c->on_give_up([this, rp, i](const net::give_up_summary& s) {
      bool first = false;
      {
        std::lock_guard lock(rp->mu);
        auto& obs = rp->clients[i];
        first = obs.decided == verdict::pending;
        if (first) {
          obs.decided = verdict::stop;
          obs.stop_reason = s.reason;
        }
      }
      if (first) timeline(out_, *rp, "client", out_.red(fmt::format("stopping: {}", s.reason)));
      rp->cv.notify_all();
    });
    return c;
  }

  net::accept_decision on_connect(const proto::upgrade_request& req) {
    auto [r, i] = registry_.find(req.target);
    if (!r || r->sc->kind != action_kind::refuse) return net::accept_decision::accepted();
    int n = 0;
    {
      std::lock_guard lock(r->mu);
      n = ++r->clients[i].requests;
    }
    if (n > 1) return net::accept_decision::accepted();
    const scenario& sc = *r->sc;
    proto::http_headers h;
    if (sc.retry_after) h.fields.emplace_back("Retry-After", std::to_string(*sc.retry_after));
    timeline(out_, *r, "server", server_action(sc));
    return net::accept_decision::refused(sc.status, std::move(h), fmt::format("closewise demo: {}\n", sc.status));
  }

  // The server accepted a connection: the scenario's first one gets the
  // scenario's treatment, any later one is the client coming back.
  void on_server_open(net::session& s) {
    auto [r, i] = registry_.find(s.request().target);
    if (!r) return;
    const scenario& sc = *r->sc;
    bool comeback = false;
    bool restart_ready = false;
    std::optional<milliseconds> waited;
    {
      std::lock_guard lock(r->mu);
      auto& obs = r->clients[i];
      ++obs.opens;
      comeback = sc.kind == action_kind::refuse || obs.opens > 1;
      if (comeback && !obs.reopened) {
        obs.reopened = clock::now();
        waited = obs.waited();
      }
      if (!comeback && sc.kind == action_kind::restart) {
        r->held.push_back(s.shared());
        restart_ready = r->held.size() == r->clients.size();
      }
    }
    if (comeback) {
      if (waited) timeline(out_, *r, "server", fmt::format("accepted the reconnection, {} after the close", ms_text(*waited)));
      r->cv.notify_all();
      return;
    }
    if (sc.kind == action_kind::restart) {
      if (restart_ready) after_hold(r, [this, r] { restart_all(r); });
      return;
    }
    after_hold(r, [this, r, h = s.shared()] { act(*r, *h); });
  }

  void on_peer_handshake(const std::string& target) {
    auto [r, i] = registry_.find(target);
    if (!r) return;
    bool comeback = false;
    std::optional<milliseconds> waited;
    {
      std::lock_guard lock(r->mu);
      auto& obs = r->clients[i];
      comeback = ++obs.opens > 1;
      if (comeback && !obs.reopened) {
        obs.reopened = clock::now();
        waited = obs.waited();
      }
    }
    if (comeback) {
      if (waited) timeline(out_, *r, "peer", fmt::format("handshake done again, {} after the close", ms_text(*waited)));
      r->cv.notify_all();
    } else {
      timeline(out_, *r, "peer", "handshake done; now silent (no reads, no pongs, TCP kept open)");
    }
  }

  template <class F>
  void after_hold(const std::shared_ptr<run>& r, F f) {
    auto t = std::make_shared<asio::steady_timer>(ioc_, hold);
    t->async_wait([t, r, f = std::move(f)](const boost::system::error_code& ec) {
      if (!ec) f();
    });
  }

  void act(run& r, net::session& s) {
    const scenario& sc = *r.sc;
    timeline(out_, r, "server", server_action(sc));
    if (sc.kind == action_kind::drop) {
      s.abort();
    } else if (const auto ec = s.close_endpoint(sc.code, sc.reason)) {
      timeline(out_, r, "server", out_.red(fmt::format("close_endpoint failed: {}", ec.message())));
    }
  }

  void restart_all(const std::shared_ptr<run>& r) {
    std::vector<std::shared_ptr<net::session>> sessions;
    {
      std::lock_guard lock(r->mu);
      sessions.swap(r->held);
    }
    out_.line(fmt::format("  {}  {} {}", out_.dim(fmt::format("{:>8}", fmt::format("+{:.3f} s", std::chrono::duration<double>(clock::now() - r->start).count()))),
                          out_.yellow(fmt::format("{:<7}", "server")), server_action(*r->sc)));
    for (auto& s : sessions) (void)s->close_endpoint(r->sc->code, r->sc->reason);
  }

  void print_spread(const result& res) {
    if (res.delays.empty()) return;
    auto d = res.delays;
    std::sort(d.begin(), d.end());
    const auto median = d[d.size() / 2];
    out_.line(fmt::format("  {} clients came back: min {}, median {}, max {} (the table says {})", d.size(),
                          ms_text(d.front()), ms_text(median), ms_text(d.back()),
                          range_text(res.expect.lo, res.expect.hi)));
    // Ten equal bins over the policy's range, plus one for anything later.
    const auto lo = res.expect.lo.count();
    const auto width = std::max<milliseconds::rep>(1, (res.expect.hi.count() - lo + 10) / 10);
    std::vector<int> bins(11, 0);
    for (auto v : d) {
      const auto b = std::clamp<milliseconds::rep>((v.count() - lo) / width, 0, 10);
      ++bins[static_cast<std::size_t>(b)];
    }
    const std::string bar = out_.color() ? "█" : "#";
    for (std::size_t b = 0; b < bins.size(); ++b) {
      if (b == 10 && bins[b] == 0) break;
      const auto from = lo + static_cast<milliseconds::rep>(b) * width;
      const std::string label = b == 10 ? fmt::format(">= {} ms", from) : fmt::format("{}–{} ms", from, from + width - 1);
      std::string bars;
      for (int k = 0; k < bins[b]; ++k) bars += bar;
      out_.line(fmt::format("    {:>14} │{} {}", label, out_.cyan(bars), bins[b]));
    }
  }

  const demo_opts& o_;
  console& out_;
  asio::io_context& ioc_;
  policy::config policy_;
  run_registry registry_;
  net::server server_;
  std::shared_ptr<demo::silent_peer> silent_;
};

// ----------------------------------------------------------------- report --

std::string truncate_text(std::string_view s, std::size_t max_chars) {
  // Counts code points so a cut never splits a UTF-8 sequence.
  std::size_t chars = 0;
  for (std::size_t i = 0; i < s.size(); ++i) {
    if ((static_cast<unsigned char>(s[i]) & 0xC0) == 0x80) continue;
    if (++chars > max_chars - 1) {
      std::size_t rest = 0;
      for (std::size_t j = i; j < s.size(); ++j)
        if ((static_cast<unsigned char>(s[j]) & 0xC0) != 0x80) ++rest;
      if (rest <= 1) return std::string(s);
      return std::string(s.substr(0, i)) + "…";
    }
  }
  return std::string(s);
}

std::string row_code(const result& r) {
  return r.sc->kind == action_kind::refuse ? fmt::format("HTTP {}", r.sc->status)
                                           : fmt::format("{}", to_int(r.sc->code));
}

std::string row_name(const result& r) {
  const scenario& sc = *r.sc;
  switch (sc.kind) {
    case action_kind::refuse: return std::string(status_phrase(sc.status));
    case action_kind::drop: return fmt::format("{} (TCP drop)", name(sc.code));
    case action_kind::silent: return fmt::format("{} (heartbeat)", name(sc.code));
    case action_kind::restart: return fmt::format("{} ({} clients)", name(sc.code), sc.clients);
    case action_kind::close:
      if (sc.name == "shed") return fmt::format("{} (retry-after=1)", name(sc.code));
      return std::string(name(sc.code));
  }
  return "";
}

std::string row_meaning(const result& r, const policy::config& cfg) {
  if (r.sc->kind == action_kind::refuse) return std::string(policy::rule_for_status(r.sc->status, cfg).why);
  return std::string(info(r.sc->code).meaning);
}

std::string measured_text(const result& r) {
  if (r.first.decided != verdict::retry) return "-";
  if (r.delays.empty()) return "?";
  if (r.delays.size() == 1) return fmt::format("{} ms", r.delays.front().count());
  auto d = r.delays;
  std::sort(d.begin(), d.end());
  return fmt::format("{}–{} ms", d.front().count(), d.back().count());
}

void print_summary(console& out, const std::vector<result>& results, const policy::config& cfg,
                   milliseconds elapsed) {
  out.line("");
  out.line(out.bold("The close-code table, as closewise just lived it"));
  out.line("");
  const std::string header = fmt::format("{:<9} {:<31} {:<46} {:<7} {:<12} {:<19} {}", "code", "name", "meaning",
                                         "decided", "measured", "expected", "ok");
  out.line(out.bold(header));
  int agreeing = 0;
  for (const auto& r : results) {
    if (r.agrees) ++agreeing;
    const std::string decided = std::string(to_string(r.first.decided));
    const std::string expected =
        r.expect.retry ? fmt::format("retry {}", range_text(r.expect.lo, r.expect.hi)) : std::string("stop");
    std::string decided_col = fmt::format("{:<7}", decided);
    decided_col = r.first.decided == verdict::retry  ? out.green(decided_col)
                  : r.first.decided == verdict::stop ? out.red(decided_col)
                                                     : decided_col;
    out.line(fmt::format("{:<9} {:<31} {:<46} {} {:<12} {:<19} {}", row_code(r), truncate_text(row_name(r), 31),
                         truncate_text(row_meaning(r, cfg), 46), decided_col, measured_text(r), expected,
                         out.check(r.agrees)));
  }
  out.line("");
  const auto n = static_cast<int>(results.size());
  const std::string verdict_line = fmt::format("{} of {} scenarios as the table says, in {}.", agreeing, n, ms_text(elapsed));
  out.line(agreeing == n ? out.green(verdict_line) : out.red(verdict_line));
  out.line(out.dim("decided: what the client's policy chose; measured: from the client's close to the server "
                   "accepting it again (steady clock); expected: the policy table at 1/10 timings."));
}

nlohmann::json report_json(const std::vector<result>& results, const policy::config& cfg, milliseconds elapsed) {
  nlohmann::json scenarios = nlohmann::json::array();
  bool all = true;
  for (const auto& r : results) {
    all = all && r.agrees;
    const scenario& sc = *r.sc;
    nlohmann::json j{{"name", sc.name},
                     {"server_action", server_action(sc)},
                     {"clients", sc.clients},
                     {"decision", to_string(r.first.decided)},
                     {"expected_decision", r.expect.retry ? "retry" : "stop"},
                     {"expected_rule", r.expect.rule_text},
                     {"expected_close_code", to_int(sc.code)},
                     {"agrees", r.agrees},
                     {"problems", r.problems},
                     {"elapsed_ms", r.elapsed.count()}};
    if (sc.kind == action_kind::refuse) j["http_status"] = sc.status;
    if (r.first.close) {
      const auto& ev = *r.first.close;
      j["close"] = {{"code", to_int(ev.code)},
                    {"name", name(ev.code)},
                    {"reason", ev.reason},
                    {"was_clean", ev.was_clean},
                    {"initiator", to_string(ev.initiator)}};
      if (ev.error) j["close"]["error"] = ev.error.message();
    } else {
      j["close"] = nullptr;
    }
    if (r.first.decided == verdict::retry) {
      j["cause"] = r.first.cause;
      j["attempt"] = r.first.attempt;
      j["scheduled_delay_ms"] = r.first.scheduled.count();
    } else if (r.first.decided == verdict::stop) {
      j["stop_reason"] = r.first.stop_reason;
    }
    const auto w = r.first.waited();
    j["delay_ms"] = r.first.decided == verdict::retry && w ? nlohmann::json(w->count()) : nlohmann::json(nullptr);
    j["expected_delay_range_ms"] =
        r.expect.retry ? nlohmann::json::array({r.expect.lo.count(), r.expect.hi.count()}) : nlohmann::json(nullptr);
    if (sc.kind == action_kind::silent) {
      j["detection_ms"] = r.detection ? nlohmann::json(r.detection->count()) : nlohmann::json(nullptr);
      j["expected_detection_range_ms"] = {r.detection_lo.count(), r.detection_hi.count()};
    }
    if (sc.clients > 1) {
      auto d = r.delays;
      std::sort(d.begin(), d.end());
      nlohmann::json all_delays = nlohmann::json::array();
      for (auto v : r.delays) all_delays.push_back(v.count());
      j["delays_ms"] = all_delays;
      if (!d.empty())
        j["delay_stats_ms"] = {{"min", d.front().count()}, {"median", d[d.size() / 2].count()}, {"max", d.back().count()}};
    }
    scenarios.push_back(std::move(j));
  }
  const policy::config real;
  return {{"report", "closewise demo"},
          {"version", 1},
          {"time_scale", fmt::format("1/{}", time_divisor)},
          {"scaling", demo::describe_scaling(time_divisor)},
          {"server_hints_scaled", false},
          {"heartbeat_ms", {{"interval", heartbeat_interval.count()}, {"grace", heartbeat_grace.count()}}},
          {"tolerance_ms", {{"early", early_tolerance.count()}, {"late", late_tolerance.count()}}},
          {"policy", nlohmann::json::parse(policy::to_json(cfg, -1))},
          {"scenarios", std::move(scenarios)},
          {"all_agree", all},
          {"elapsed_ms", elapsed.count()}};
}

int run_demo(const demo_opts& o) {
  const bool tty = isatty(fileno(stdout)) != 0;
  console out(!o.json, tty && !o.no_color && !o.json);
  const auto scenarios = make_scenarios(o.restart_clients);
  const auto started = clock::now();

  std::vector<result> results;
  {
    io_runner io;
    demo_runner demo(o, out, io.ioc);
    if (!demo.start()) return 1;

    out.line(out.bold("closewise demo: the close-code table, made live"));
    out.line(fmt::format("server ws://127.0.0.1:{}/ and a silent peer on 127.0.0.1:{}; {} scenarios, one fresh "
                         "reconnecting client each (attempt 0)",
                         demo.port(), demo.silent_port(), scenarios.size()));
    out.line(out.yellow(fmt::format("timings scaled 1/{} for the demo; real defaults -> demo:", time_divisor)));
    for (const auto& item : demo::describe_scaling(time_divisor)) out.line(out.yellow(fmt::format("  {}", item)));
    out.line(out.dim(fmt::format("server hints are not scaled: Retry-After: 1 and retry-after=1 still mean 1 s "
                                 "(clamped to max_retry_after {}); heartbeat {} + {} grace (real default 15 s + 10 s)",
                                 fmt::format("{} s", std::chrono::duration_cast<std::chrono::seconds>(demo.policy().max_retry_after).count()), ms_text(heartbeat_interval),
                                 ms_text(heartbeat_grace))));

    for (std::size_t i = 0; i < scenarios.size(); ++i)
      results.push_back(demo.play(scenarios[i], static_cast<int>(i), static_cast<int>(scenarios.size())));
    demo.stop();
    const auto elapsed = since(started, clock::now());
    if (o.json) {
      const std::string doc = report_json(results, demo.policy(), elapsed)
                                  .dump(2, ' ', false, nlohmann::json::error_handler_t::replace);
      std::fwrite(doc.data(), 1, doc.size(), stdout);
      std::fputc('\n', stdout);
      std::fflush(stdout);
    } else {
      print_summary(out, results, demo.policy(), elapsed);
    }
  }
  const bool all = std::all_of(results.begin(), results.end(), [](const result& r) { return r.agrees; });
  return all ? 0 : 1;
}

}  // namespace

runner add_demo_command(CLI::App& app) {
  auto o = std::make_shared<demo_opts>();
  auto* cmd = app.add_subcommand(
      "demo", "Walk the close-code table live on loopback: the server closes or misbehaves, the client decides");
  cmd->footer(
      "Runs in about 15 s on 127.0.0.1 only. Colour when stdout is a terminal. Exit status 0 when every "
      "scenario agrees with the policy table, 1 otherwise.");
  cmd->add_flag("--json", o->json, "Print one JSON report (a single document) at the end instead of the timeline");
  cmd->add_flag("--no-color", o->no_color, "No ANSI colour, even on a terminal");
  cmd->add_option("--restart-clients", o->restart_clients, "Clients in the restart scenario")
      ->capture_default_str()
      ->check(CLI::Range(1, 200));
  cmd->add_option("--seed", o->seed, "Seed the clients' jitter (default: random)");
  return [o] { return run_demo(*o); };
}

}  // namespace closewise::cli

// `closewise demo`: the close-code table, made live (ARCHITECTURE §5).
//
// An embedded server on 127.0.0.1 does one thing per scenario to a fresh
// reconnecting client (close with a code, drop TCP, go silent, refuse the
// upgrade), then shows the library's own policies at work: the strike limit
// (the same quick 1002 three times), the credential-refresh hook (after 1008
// and 401), load shedding by a server at max_connections (1013 and 503), and
// a graceful restart through server::shutdown (1012, spread) under many
// clients. The demo prints what the client saw, what its policy decided and
// how long it really waited before the server accepted it again, then
// compares all of it with the policy table.
//
// Threads: one thread runs the io_context (servers, clients, the silent peer);
// the main thread walks the scenarios and waits on what the callbacks record.
//
// `--json` prints nothing until the end, then one JSON document (version 2):
//   {report: "closewise demo", version, time_scale: "1/10", scaling: [text],
//    server_hints_scaled: false, heartbeat_ms {interval, grace},
//    tolerance_ms {early, late}, policy: <policy JSON as docs/reconnect.md>,
//    all_agree, elapsed_ms, scenarios: [{
//      name ("close-1012", "drop", "silent", "http-429", "strikes-1002",
//            "refresh-1008", "refresh-401", "shed-1013", "shed-503", "restart", ...),
//      server_action, clients, http_status (refusals),
//      close {code, name, reason, was_clean, initiator, error?} | null  (the first close),
//      decision "retry"|"stop"|"none" (the client's last decision in the scenario),
//      cause + attempt + scheduled_delay_ms (retry), stop_reason (stop),
//      delay_ms (measured close -> server accept; null unless retry),
//      expected_decision, expected_rule, expected_close_code,
//      expected_delay_range_ms [lo, hi] (inclusive; null for stop),
//      agrees, problems [text], elapsed_ms,
//      detection_ms + expected_detection_range_ms (silent),
//      strike_limit + steps [{close, decision, scheduled_delay_ms, delay_ms,
//        expected_delay_range_ms, stop_reason}] (strikes),
//      credential_refreshes + came_back_with_fresh_credentials (refresh),
//      max_connections + overload "close_1013"|"http_503" (shed),
//      delays_ms [..] + delay_stats_ms {min, median, max} + spread_ms +
//        close_spread_ms + shutdown {total, clean, aborted, failed, refused, elapsed_ms}
//        (restart)}]}
// The exit status is 0 when every scenario agrees with the table, 1 otherwise.
#include <fmt/format.h>
#include <unistd.h>

#include <boost/asio/executor_work_guard.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/steady_timer.hpp>
#include <closewise/close_code.hpp>
#include <closewise/close_event.hpp>
#include <closewise/error.hpp>
#include <closewise/net/client.hpp>
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
#include "demo_resume.hpp"
#include "demo_scenario.hpp"
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

// The strike scenario closes sooner than `hold`: its connections must stay
// well under min_uptime (500 ms at 1/10) to count as strikes.
constexpr milliseconds strike_hold{50};
// The restart scenario's shutdown: closes spread over this window, and what is
// left at the drain deadline is aborted.
constexpr milliseconds restart_spread{200};
constexpr milliseconds restart_drain{2000};
// The load-shedding servers tell clients to come back after this long.
constexpr std::chrono::seconds shed_retry_after{1};

// -------------------------------------------------------------- scenarios --

using demo::action_kind;
using demo::scenario;
using demo::status_phrase;

std::string server_action(const scenario& s) { return demo::server_action(s, restart_spread); }

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
  return lo == hi ? fmt::format("{} ms", lo.count())
                  : fmt::format("{}–{} ms", lo.count(), hi.count());
}

milliseconds since(clock::time_point from, clock::time_point to) {
  return std::chrono::duration_cast<milliseconds>(to - from);
}

// ------------------------------------------------------------ observation --

enum class verdict { pending, retry, stop };

std::string_view to_string(verdict v) {
  switch (v) {
    case verdict::pending:
      return "none";
    case verdict::retry:
      return "retry";
    case verdict::stop:
      return "stop";
  }
  return "none";
}

// What one client saw and decided, and when the server took it back. The
// single fields describe the first close and the first decision; the vectors
// keep every one, in order (the strike scenario needs the whole streak).
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

  std::vector<close_event> closes;             // every on_close
  std::vector<clock::time_point> close_times;  // when each came
  std::vector<verdict> decisions;              // every decision
  std::vector<milliseconds> schedules;         // the delay of each retry decision
  std::vector<clock::time_point> accepts;      // every open the server saw
  int refreshes = 0;                           // credential-hook calls
  bool came_back_fresh = false;                // the reconnection carried fresh credentials

  verdict last_decision() const { return decisions.empty() ? verdict::pending : decisions.back(); }
  bool done(action_kind kind) const {
    // A streak ends with the policy's stop; anything else with the first decision
    // (and, for a retry, the server taking the client back).
    if (kind == action_kind::strikes) return last_decision() == verdict::stop;
    return decided == verdict::stop || (decided == verdict::retry && reopened);
  }
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
  std::vector<std::shared_ptr<net::session>> held;  // restart: first connections, until all opened
  net::client* holder = nullptr;  // shed: the connection that fills max_connections
  bool holder_open = false;
  std::optional<net::shutdown_summary> shutdown;  // restart: the old server's summary
  std::optional<std::string> setup_problem;  // shed, restart: a server or the slot holder failed

  bool verbose() const { return sc->clients == 1; }
  bool all_done() const {
    if (sc->kind == action_kind::restart && !shutdown) return false;
    return std::all_of(clients.begin(), clients.end(),
                       [this](const client_obs& c) { return c.done(sc->kind); });
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
  if (who == "server" || who == "peer")
    actor = out.yellow(actor);
  else
    actor = out.cyan(actor);
  out.line(fmt::format("  {}  {} {}", out.dim(fmt::format("{:>8}", fmt::format("+{:.3f} s", t))),
                       actor, text));
}

// ----------------------------------------------------------------- result --

struct result {
  const scenario* sc = nullptr;
  demo::expectation expect;
  std::vector<demo::expectation> streak;  // strikes: one per close of the streak
  client_obs first;                       // client 0
  std::vector<milliseconds> delays;       // every client's measured wait (retry only)
  std::vector<milliseconds> scheduled;    // every client's scheduled delay (retry only)
  std::optional<milliseconds> detection;
  milliseconds detection_lo{0}, detection_hi{0};
  std::optional<net::shutdown_summary> shutdown;  // restart
  std::optional<milliseconds> close_spread;       // restart: first to last close the clients saw
  bool agrees = false;
  std::vector<std::string> problems;
  milliseconds elapsed{0};
};

// The strike scenario: every close is the scenario's code, the decisions are
// retries until the last, which stops, and each retry's delay is in its range.
void judge_streak(result& res, const client_obs& c) {
  const scenario& sc = *res.sc;
  const auto& want = res.streak;
  if (c.closes.size() != want.size())
    res.problems.push_back(
        fmt::format("{} closes, the table says {}", c.closes.size(), want.size()));
  for (const auto& ev : c.closes) {
    if (ev.code != sc.code)
      res.problems.push_back(fmt::format("saw {} instead of {}", to_int(ev.code), to_int(sc.code)));
  }
  std::size_t retry = 0;
  for (std::size_t i = 0; i < c.decisions.size() && i < want.size(); ++i) {
    const bool retried = c.decisions[i] == verdict::retry;
    if (retried != want[i].retry)
      res.problems.push_back(fmt::format("close {}: decided {}, the table says {}", i + 1,
                                         to_string(c.decisions[i]),
                                         want[i].retry ? "retry" : "stop"));
    if (!retried || retry >= c.schedules.size()) continue;
    const milliseconds d = c.schedules[retry++];
    if (want[i].retry && (d < want[i].lo || d > want[i].hi))
      res.problems.push_back(fmt::format("close {}: scheduled {} ms, outside {}", i + 1, d.count(),
                                         range_text(want[i].lo, want[i].hi)));
    // The server's next accept is the end of this wait.
    if (i + 1 < c.accepts.size() && i < c.close_times.size()) {
      const milliseconds w = since(c.close_times[i], c.accepts[i + 1]);
      res.delays.push_back(w);
      if (want[i].retry && (w < want[i].lo - early_tolerance || w > want[i].hi + late_tolerance))
        res.problems.push_back(fmt::format("close {}: waited {} ms, outside {} (+{} ms tolerance)",
                                           i + 1, w.count(), range_text(want[i].lo, want[i].hi),
                                           late_tolerance.count()));
    }
  }
  if (c.last_decision() != verdict::stop) res.problems.push_back("the client never stopped");
}

void judge(result& res, const std::vector<client_obs>& clients) {
  const auto& e = res.expect;
  const scenario& sc = *res.sc;
  if (sc.kind == action_kind::strikes) {
    judge_streak(res, clients.front());
    res.agrees = res.problems.empty();
    return;
  }
  for (std::size_t i = 0; i < clients.size(); ++i) {
    const auto& c = clients[i];
    const std::string who = clients.size() > 1 ? fmt::format("client {}: ", i) : std::string();
    if (!c.close) {
      res.problems.push_back(who + "no close event");
      continue;
    }
    if (c.close->code != sc.code)
      res.problems.push_back(
          fmt::format("{}saw {} instead of {}", who, to_int(c.close->code), to_int(sc.code)));
    if (c.decided == verdict::pending) {
      res.problems.push_back(who + "no decision within the scenario's time limit");
      continue;
    }
    if ((c.decided == verdict::retry) != e.retry)
      res.problems.push_back(fmt::format("{}decided {}, the table says {}", who,
                                         to_string(c.decided), e.retry ? "retry" : "stop"));
    if (c.decided != verdict::retry) continue;
    res.scheduled.push_back(c.scheduled);
    if (e.retry && (c.scheduled < e.lo || c.scheduled > e.hi))
      res.problems.push_back(fmt::format("{}scheduled {} ms, outside {}", who, c.scheduled.count(),
                                         range_text(e.lo, e.hi)));
    if (const auto w = c.waited()) {
      res.delays.push_back(*w);
      if (e.retry && (*w < e.lo - early_tolerance || *w > e.hi + late_tolerance))
        res.problems.push_back(fmt::format("{}waited {} ms, outside {} (+{} ms tolerance)", who,
                                           w->count(), range_text(e.lo, e.hi),
                                           late_tolerance.count()));
    } else {
      res.problems.push_back(who +
                             "the reconnection did not arrive within the scenario's time limit");
    }
  }
  if (sc.kind == action_kind::silent) {
    const auto& c = clients.front();
    const milliseconds nominal = heartbeat_interval + heartbeat_grace;
    res.detection_lo =
        milliseconds{static_cast<milliseconds::rep>(nominal.count() * (1 - detection_slack))};
    res.detection_hi =
        milliseconds{static_cast<milliseconds::rep>(nominal.count() * (1 + detection_slack))};
    if (c.opened && c.close) {
      res.detection = since(*c.opened, c.closed_at);
      // The same scheduling allowance as for the waits: timers fire late, never early.
      if (*res.detection < res.detection_lo || *res.detection > res.detection_hi + late_tolerance)
        res.problems.push_back(fmt::format("heartbeat took {} ms, outside {}",
                                           res.detection->count(),
                                           range_text(res.detection_lo, res.detection_hi)));
    }
    if (c.close && c.close->error != make_error_code(error::heartbeat_timeout))
      res.problems.push_back(
          fmt::format("the close came from '{}', not the heartbeat", c.close->error.message()));
  }
  if (sc.kind == action_kind::refresh) {
    const auto& c = clients.front();
    if (c.refreshes != 1)
      res.problems.push_back(
          fmt::format("the credential hook ran {} times, not once", c.refreshes));
    if (c.reopened && !c.came_back_fresh)
      res.problems.push_back("the reconnection did not carry the refreshed credentials");
  }
  if (sc.kind == action_kind::restart) {
    if (res.shutdown) {
      const auto& sum = *res.shutdown;
      if (sum.total != clients.size() || sum.clean != clients.size())
        res.problems.push_back(fmt::format("shutdown: {} of {} connections, {} clean", sum.total,
                                           clients.size(), sum.clean));
    } else {
      res.problems.push_back("the old server's shutdown did not finish");
    }
    std::vector<clock::time_point> closes;
    for (const auto& c : clients)
      if (c.close) closes.push_back(c.closed_at);
    if (closes.size() > 1) {
      const auto [lo, hi] = std::minmax_element(closes.begin(), closes.end());
      res.close_spread = since(*lo, *hi);
      if (*res.close_spread > restart_spread + late_tolerance)
        res.problems.push_back(fmt::format("the closes took {} ms, the spread is {} ms",
                                           res.close_spread->count(), restart_spread.count()));
    }
  }
  res.agrees = res.problems.empty();
}

// --------------------------------------------------------------- the demo --

struct demo_opts {
  bool json = false;
  bool no_color = false;
  int restart_clients = 20;
  std::optional<std::uint64_t> seed;
  bool only_resume = false;
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
      : o_(o),
        out_(out),
        ioc_(ioc),
        policy_(demo::scaled_default_policy(time_divisor)),
        server_(ioc) {}

  bool start() {
    server_.on_connect([this](const proto::upgrade_request& req) { return on_connect(req); });
    server_.on_open([this](net::session& s) { on_server_open(s); });
    if (const auto ec = server_.listen("127.0.0.1", 0)) {
      std::fprintf(stderr, "closewise demo: cannot listen on 127.0.0.1: %s\n",
                   ec.message().c_str());
      return false;
    }
    silent_ = demo::silent_peer::create(ioc_);
    if (const auto ec = silent_->listen(
            [this](int, const std::string& target) { on_peer_handshake(target); })) {
      std::fprintf(stderr, "closewise demo: cannot listen on 127.0.0.1: %s\n",
                   ec.message().c_str());
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
    if (sc.kind == action_kind::strikes) {
      res.streak = demo::expect_streak(sc.code, sc.reason, policy_);
      res.expect = res.streak.back();
    } else {
      res.expect = expected(sc);
    }

    const auto& row = info(sc.code);
    std::string title = sc.status != 0
                            ? fmt::format("HTTP {} {}", sc.status, status_phrase(sc.status))
                            : fmt::format("{} {}", to_int(sc.code), row.name);
    out_.line("");
    out_.line(fmt::format("{} {}  {}", out_.dim(fmt::format("[{:>2}/{}]", index + 1, total)),
                          out_.bold(title),
                          out_.dim(fmt::format("server will {}", server_action(sc)))));
    if (sc.kind == action_kind::strikes) {
      for (std::size_t i = 0; i < res.streak.size(); ++i)
        out_.line(fmt::format("  {}", out_.dim(fmt::format("the table says, close {}: {}", i + 1,
                                                           res.streak[i].rule_text))));
    } else {
      out_.line(
          fmt::format("  {}", out_.dim(fmt::format("the table says: {}", res.expect.rule_text))));
    }

    r->start = clock::now();
    registry_.set(r);
    std::uint16_t port = server_.port();
    if (sc.kind == action_kind::silent) port = silent_port();
    if (sc.kind == action_kind::shed) port = start_shed(r);
    if (sc.kind == action_kind::restart) port = start_restart_servers();

    std::vector<std::unique_ptr<net::reconnecting_client>> clients;
    if (port != 0) {
      for (int i = 0; i < sc.clients; ++i) {
        clients.push_back(make_client(r, static_cast<std::size_t>(i)));
        (void)clients.back()->connect(fmt::format("ws://127.0.0.1:{}/demo/{}/{}", port, index, i));
      }
    }
    const milliseconds limit =
        scenario_limit + (sc.kind == action_kind::restart ? milliseconds{2000} : milliseconds{0});
    std::vector<client_obs> snapshot;
    {
      std::unique_lock lock(r->mu);
      r->cv.wait_for(lock, limit, [&] { return r->all_done(); });
      snapshot = r->clients;
      res.shutdown = r->shutdown;
      if (r->setup_problem) res.problems.push_back(*r->setup_problem);
    }
    res.elapsed = since(r->start, clock::now());
    // The clients go before the next scenario starts; one still open closes with 1001 in the
    // background.
    clients.clear();
    registry_.set(nullptr);
    {
      std::lock_guard lock(r->mu);
      r->held.clear();
    }

    res.first = snapshot.front();
    if (sc.kind == action_kind::strikes) res.first.decided = res.first.last_decision();
    judge(res, snapshot);
    if (sc.kind == action_kind::restart) print_restart(res);
    for (const auto& p : res.problems) out_.line(fmt::format("  {} {}", out_.red("✗"), p));
    if (res.agrees) out_.line(fmt::format("  {} {}", out_.green("✓"), "as the table says"));
    return res;
  }

 private:
  demo::expectation expected(const scenario& sc) const {
    const bool hook = sc.kind == action_kind::refresh;
    if (sc.status != 0) return demo::expect_refusal(sc.status, sc.retry_after, policy_, hook);
    return demo::expect_close(sc.code, sc.reason, policy_, hook);
  }

  static bool has_fresh_credentials(const proto::upgrade_request& req) {
    const auto v = req.headers.get(demo::credential_header);
    return v && *v == demo::fresh_credentials;
  }

  // The application's side of credential refresh: hand the client a fresh token.
  void install_refresh_hook(net::reconnecting_client& c, run* rp, std::size_t i) {
    c.on_credentials_refresh(
        [this, rp, i](const policy::outcome&) -> std::optional<proto::http_headers> {
          {
            std::lock_guard lock(rp->mu);
            ++rp->clients[i].refreshes;
          }
          timeline(out_, *rp, "client",
                   fmt::format("credential hook: new {}: {}", demo::credential_header,
                               demo::fresh_credentials));
          proto::http_headers h;
          h.fields.emplace_back(demo::credential_header, demo::fresh_credentials);
          return h;
        });
  }

  std::unique_ptr<net::reconnecting_client> make_client(const std::shared_ptr<run>& r,
                                                        std::size_t i) {
    net::reconnecting_client_config cfg;
    cfg.policy = policy_;
    cfg.heartbeat.interval = heartbeat_interval;
    cfg.heartbeat.grace = heartbeat_grace;
    cfg.connection.connect_timeout = std::chrono::seconds(2);
    cfg.connection.handshake_timeout = std::chrono::seconds(2);
    cfg.connection.close_timeout = std::chrono::seconds(1);
    if (r->sc->kind == action_kind::refresh)
      cfg.connection.extra_headers.fields.emplace_back(demo::credential_header,
                                                       demo::stale_credentials);
    if (o_.seed)
      cfg.uniform = policy::seeded_uniform(*o_.seed * 100003 +
                                           static_cast<std::uint64_t>(r->index) * 1009 + i);
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
      net::client* holder = nullptr;
      {
        std::lock_guard lock(rp->mu);
        auto& obs = rp->clients[i];
        first = !obs.close;
        const auto now = clock::now();
        if (first) {
          obs.close = ev;
          obs.closed_at = now;
        }
        obs.closes.push_back(ev);
        obs.close_times.push_back(now);
        if (first) holder = std::exchange(rp->holder, nullptr);
      }
      if (first || rp->sc->kind == action_kind::strikes)
        timeline(out_, *rp, "client", fmt::format("saw {}", event_printer::describe_close(ev)));
      if (holder) {
        // The client was shed: the connection holding the one slot leaves, so the retry finds room.
        timeline(out_, *rp, "server", "the connection holding the slot closes");
        (void)holder->close(close_code::normal, "demo: make room");
      }
    });
    c->on_error([this, rp](std::error_code ec) {
      timeline(out_, *rp, "client", out_.dim(fmt::format("error: {}", ec.message())));
    });
    // Only the refresh scenarios have a hook: without one, 1008 and 401 stop.
    if (r->sc->kind == action_kind::refresh) install_refresh_hook(*c, rp, i);
    c->on_reconnect_scheduled(
        [this, rp, i](std::uint32_t attempt, milliseconds delay, const std::string& cause) {
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
            obs.decisions.push_back(verdict::retry);
            obs.schedules.push_back(delay);
          }
          if (first || rp->sc->kind == action_kind::strikes)
            timeline(out_, *rp, "client",
                     out_.green(fmt::format("reconnecting in {} (attempt {}, cause {})",
                                            ms_text(delay), attempt, cause)));
          rp->cv.notify_all();
        });
    c->on_give_up([this, rp, i](const net::give_up_summary& s) {
      bool first = false;
      {
        std::lock_guard lock(rp->mu);
        auto& obs = rp->clients[i];
        first = obs.decided == verdict::pending;
        if (first) obs.decided = verdict::stop;
        obs.stop_reason = s.reason;
        obs.decisions.push_back(verdict::stop);
      }
      if (first || rp->sc->kind == action_kind::strikes)
        timeline(out_, *rp, "client", out_.red(fmt::format("stopping: {}", s.reason)));
      rp->cv.notify_all();
    });
    return c;
  }

  net::accept_decision on_connect(const proto::upgrade_request& req) {
    auto [r, i] = registry_.find(req.target);
    if (!r) return net::accept_decision::accepted();
    const scenario& sc = *r->sc;
    const bool refuse_stale =
        sc.kind == action_kind::refresh && sc.status != 0 && !has_fresh_credentials(req);
    if (sc.kind != action_kind::refuse && !refuse_stale) return net::accept_decision::accepted();
    int n = 0;
    {
      std::lock_guard lock(r->mu);
      n = ++r->clients[i].requests;
    }
    if (sc.kind == action_kind::refuse && n > 1) return net::accept_decision::accepted();
    proto::http_headers h;
    if (sc.retry_after) h.fields.emplace_back("Retry-After", std::to_string(*sc.retry_after));
    // RFC 6750 §3: a 401 for a bearer token names the scheme and the error.
    if (sc.status == 401 && sc.kind == action_kind::refresh)
      h.fields.emplace_back("WWW-Authenticate", "Bearer error=\"invalid_token\"");
    timeline(out_, *r, "server",
             sc.kind == action_kind::refresh
                 ? fmt::format("stale token: refuse the upgrade with HTTP {} {}", sc.status,
                               status_phrase(sc.status))
                 : server_action(sc));
    return net::accept_decision::refused(sc.status, std::move(h),
                                         fmt::format("closewise demo: {}\n", sc.status));
  }

  // The server accepted a connection: the scenario's first one gets the
  // scenario's treatment, any later one is the client coming back.
  void on_server_open(net::session& s) {
    auto [r, i] = registry_.find(s.request().target);
    if (!r) return;
    const scenario& sc = *r->sc;
    const bool fresh = has_fresh_credentials(s.request());
    bool comeback = false;
    bool restart_ready = false;
    std::optional<milliseconds> waited, strike_wait;
    {
      std::lock_guard lock(r->mu);
      auto& obs = r->clients[i];
      ++obs.opens;
      obs.accepts.push_back(clock::now());
      if (sc.kind == action_kind::strikes && !obs.close_times.empty())
        strike_wait = since(obs.close_times.back(), obs.accepts.back());
      switch (sc.kind) {
        // A refused or shed connection never reached on_open: any open is the comeback.
        case action_kind::refuse:
        case action_kind::shed:
          comeback = true;
          break;
        case action_kind::refresh:
          comeback = fresh || obs.opens > 1;
          break;
        case action_kind::strikes:
          comeback = false;
          break;  // every connection gets the close
        default:
          comeback = obs.opens > 1;
          break;
      }
      if (comeback && !obs.reopened) {
        obs.reopened = clock::now();
        obs.came_back_fresh = fresh;
        waited = obs.waited();
      }
      if (!comeback && sc.kind == action_kind::restart) {
        r->held.push_back(s.shared());
        restart_ready = r->held.size() == r->clients.size();
      }
    }
    if (comeback) {
      if (waited) {
        timeline(
            out_, *r, "server",
            fmt::format("accepted the reconnection, {} after the close{}", ms_text(*waited),
                        sc.kind == action_kind::refresh && fresh ? ", with the fresh token" : ""));
      }
      r->cv.notify_all();
      return;
    }
    if (sc.kind == action_kind::restart) {
      if (restart_ready) after_hold(r, hold, [this, r] { restart(r); });
      return;
    }
    if (strike_wait)
      timeline(out_, *r, "server",
               fmt::format("accepted the reconnection, {} after the close", ms_text(*strike_wait)));
    after_hold(r, sc.kind == action_kind::strikes ? strike_hold : hold,
               [this, r, h = s.shared()] { act(*r, *h); });
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
      if (waited)
        timeline(out_, *r, "peer",
                 fmt::format("handshake done again, {} after the close", ms_text(*waited)));
      r->cv.notify_all();
    } else {
      timeline(out_, *r, "peer", "handshake done; now silent (no reads, no pongs, TCP kept open)");
    }
  }

  template <class F>
  void after_hold(const std::shared_ptr<run>& r, milliseconds d, F f) {
    auto t = std::make_shared<asio::steady_timer>(ioc_, d);
    t->async_wait([t, r, f = std::move(f)](const boost::system::error_code& ec) {
      if (!ec) f();
    });
  }

  void act(run& r, net::session& s) {
    const scenario& sc = *r.sc;
    const std::string what =
        sc.kind == action_kind::drop
            ? server_action(sc)
            : fmt::format("{}close {} \"{}\"",
                          sc.kind == action_kind::refresh ? "stale token: " : "", to_int(sc.code),
                          sc.reason);
    timeline(out_, r, "server", what);
    if (sc.kind == action_kind::drop) {
      s.abort();
    } else if (const auto ec = s.close_endpoint(sc.code, sc.reason)) {
      timeline(out_, r, "server", out_.red(fmt::format("close_endpoint failed: {}", ec.message())));
    }
  }

  // ----- load shedding: a server whose one slot another client holds --------

  /// Starts the scenario's shedding server and fills its one slot; returns its
  /// port, or 0 (after recording a problem) when the slot could not be filled.
  std::uint16_t start_shed(const std::shared_ptr<run>& r) {
    net::server_config cfg;
    cfg.max_connections = 1;
    cfg.on_overload =
        r->sc->status != 0 ? net::overload_action::http_503 : net::overload_action::close_1013;
    cfg.overload_retry_after = shed_retry_after;
    auto& srv = *extra_servers_.emplace_back(std::make_unique<net::server>(ioc_, cfg));
    srv.on_open([this](net::session& s) { on_server_open(s); });
    if (const auto ec = srv.listen("127.0.0.1", 0)) {
      std::lock_guard lock(r->mu);
      r->setup_problem = fmt::format("cannot listen: {}", ec.message());
      return 0;
    }
    auto& holder = *holders_.emplace_back(std::make_unique<net::client>(ioc_));
    holder.on_open([r](const net::open_info&) {
      std::lock_guard lock(r->mu);
      r->holder_open = true;
      r->cv.notify_all();
    });
    (void)holder.connect(fmt::format("ws://127.0.0.1:{}/demo/{}/holder", srv.port(), r->index));
    std::unique_lock lock(r->mu);
    if (!r->cv.wait_for(lock, std::chrono::seconds(2), [&] { return r->holder_open; })) {
      r->setup_problem = "the connection that fills max_connections did not open";
      return 0;
    }
    r->holder = &holder;
    lock.unlock();
    timeline(out_, *r, "server", "another client holds the one slot (max_connections 1)");
    return srv.port();
  }

  // ----- graceful restart: a new server takes the port, the old one shuts down

  std::uint16_t start_restart_servers() {
    restart_old_ = std::make_unique<net::server>(ioc_);
    restart_new_ = std::make_unique<net::server>(ioc_);
    for (auto* srv : {restart_old_.get(), restart_new_.get()})
      srv->on_open([this](net::session& s) { on_server_open(s); });
    if (const auto ec = restart_old_->listen("127.0.0.1", 0)) {
      std::fprintf(stderr, "closewise demo: cannot listen on 127.0.0.1: %s\n",
                   ec.message().c_str());
      return 0;
    }
    return restart_old_->port();
  }

  void restart(const std::shared_ptr<run>& r) {
    out_.line(fmt::format(
        "  {}  {} {}",
        out_.dim(fmt::format(
            "{:>8}", fmt::format("+{:.3f} s",
                                 std::chrono::duration<double>(clock::now() - r->start).count()))),
        out_.yellow(fmt::format("{:<7}", "server")), server_action(*r->sc)));
    // The old server stops accepting first, so the new one can bind its port
    // (SO_REUSEADDR lets it, with the old connections still open).
    restart_old_->stop_accepting();
    take_port(r, 0);
  }

  void take_port(const std::shared_ptr<run>& r, int tries) {
    // stop_accepting() closes the listener on the io thread, a moment later.
    constexpr int max_tries = 1000;
    const auto ec = restart_new_->listen("127.0.0.1", restart_old_->port());
    if (ec && tries < max_tries) {
      after_hold(r, milliseconds{1}, [this, r, tries] { take_port(r, tries + 1); });
      return;
    }
    if (ec) {
      std::lock_guard lock(r->mu);
      r->setup_problem = fmt::format("the new server could not take port {}: {}",
                                     restart_old_->port(), ec.message());
    }
    net::shutdown_options so;
    so.code = r->sc->code;
    so.reason = r->sc->reason;
    so.spread = restart_spread;
    so.drain_deadline = restart_drain;
    restart_old_->shutdown(so, [r](const net::shutdown_summary& sum) {
      std::lock_guard lock(r->mu);
      r->shutdown = sum;
      r->cv.notify_all();
    });
  }

  void print_restart(const result& res) {
    if (res.shutdown) {
      const auto& s = *res.shutdown;
      out_.line(
          fmt::format("  old server's shutdown: {} connection(s), {} closed cleanly, {} aborted, "
                      "{} failed, in {}",
                      s.total, s.clean, s.aborted, s.failed, ms_text(s.elapsed)));
    }
    if (res.close_spread)
      out_.line(fmt::format("  the clients saw their 1012 over {} (spread {})",
                            ms_text(*res.close_spread), ms_text(restart_spread)));
    print_spread(res);
  }

  void print_spread(const result& res) {
    if (res.delays.empty()) return;
    auto d = res.delays;
    std::sort(d.begin(), d.end());
    const auto median = d[d.size() / 2];
    out_.line(fmt::format("  {} clients came back: min {}, median {}, max {} (the table says {})",
                          d.size(), ms_text(d.front()), ms_text(median), ms_text(d.back()),
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
      const std::string label =
          b == 10 ? fmt::format(">= {} ms", from) : fmt::format("{}–{} ms", from, from + width - 1);
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
  // Servers and clients of single scenarios live until the demo ends, like
  // server_ (destroyed on this thread while the io thread still runs).
  std::vector<std::unique_ptr<net::server>> extra_servers_;
  std::vector<std::unique_ptr<net::client>> holders_;
  std::unique_ptr<net::server> restart_old_, restart_new_;
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
  return r.sc->status != 0 ? fmt::format("HTTP {}", r.sc->status)
                           : fmt::format("{}", to_int(r.sc->code));
}

std::string row_name(const result& r) {
  const scenario& sc = *r.sc;
  const std::string code_name =
      sc.status != 0 ? std::string(status_phrase(sc.status)) : std::string(name(sc.code));
  switch (sc.kind) {
    case action_kind::refuse:
    case action_kind::close:
      return code_name;
    case action_kind::drop:
      return fmt::format("{} (TCP drop)", code_name);
    case action_kind::silent:
      return fmt::format("{} (heartbeat)", code_name);
    case action_kind::strikes:
      return fmt::format("{} ({} in a row)", code_name, r.streak.size());
    case action_kind::refresh:
      return fmt::format("{} (refresh hook)", code_name);
    case action_kind::shed:
      return fmt::format("{} (max_connections)", code_name);
    case action_kind::restart:
      return fmt::format("{} ({} clients, shutdown)", code_name, sc.clients);
  }
  return "";
}

std::string row_meaning(const result& r, const policy::config& cfg) {
  if (r.sc->status != 0) return std::string(policy::rule_for_status(r.sc->status, cfg).why);
  return std::string(info(r.sc->code).meaning);
}

std::string measured_text(const result& r) {
  if (r.sc->kind == action_kind::strikes) {
    // The waits between the closes of the streak, then the stop.
    std::string t;
    for (auto d : r.delays) t += fmt::format("{}{}", t.empty() ? "" : ", ", d.count());
    return t.empty() ? "-" : t + " ms";
  }
  if (r.first.decided != verdict::retry) return "-";
  if (r.delays.empty()) return "?";
  if (r.delays.size() == 1) return fmt::format("{} ms", r.delays.front().count());
  auto d = r.delays;
  std::sort(d.begin(), d.end());
  return fmt::format("{}–{} ms", d.front().count(), d.back().count());
}

std::string expected_text(const result& r) {
  if (r.sc->kind == action_kind::strikes) return fmt::format("stop at strike {}", r.streak.size());
  return r.expect.retry ? fmt::format("retry {}", range_text(r.expect.lo, r.expect.hi))
                        : std::string("stop");
}

void print_summary(console& out, const std::vector<result>& results, const policy::config& cfg,
                   milliseconds elapsed) {
  out.line("");
  out.line(out.bold("The close-code table, as closewise just lived it"));
  out.line("");
  const std::string header =
      fmt::format("{:<9} {:<31} {:<46} {:<7} {:<12} {:<19} {}", "code", "name", "meaning",
                  "decided", "measured", "expected", "ok");
  out.line(out.bold(header));
  int agreeing = 0;
  for (const auto& r : results) {
    if (r.agrees) ++agreeing;
    const std::string decided = std::string(to_string(r.first.decided));
    const std::string expected = expected_text(r);
    std::string decided_col = fmt::format("{:<7}", decided);
    decided_col = r.first.decided == verdict::retry  ? out.green(decided_col)
                  : r.first.decided == verdict::stop ? out.red(decided_col)
                                                     : decided_col;
    out.line(fmt::format("{:<9} {:<31} {:<46} {} {:<12} {:<19} {}", row_code(r),
                         truncate_text(row_name(r), 31), truncate_text(row_meaning(r, cfg), 46),
                         decided_col, measured_text(r), expected, out.check(r.agrees)));
  }
  out.line("");
  const auto n = static_cast<int>(results.size());
  const std::string verdict_line =
      fmt::format("{} of {} scenarios as the table says, in {}.", agreeing, n, ms_text(elapsed));
  out.line(agreeing == n ? out.green(verdict_line) : out.red(verdict_line));
  out.line(out.dim(
      "decided: what the client's policy chose; measured: from the client's close to the server "
      "accepting it again (steady clock); expected: the policy table at 1/10 timings."));
}

nlohmann::json close_report(const close_event& ev) {
  nlohmann::json j{{"code", to_int(ev.code)},
                   {"name", name(ev.code)},
                   {"reason", ev.reason},
                   {"was_clean", ev.was_clean},
                   {"initiator", to_string(ev.initiator)}};
  if (ev.error) j["error"] = ev.error.message();
  return j;
}

nlohmann::json range_report(const demo::expectation& e) {
  return e.retry ? nlohmann::json::array({e.lo.count(), e.hi.count()}) : nlohmann::json(nullptr);
}

// The strike scenario's streak, one entry per close.
nlohmann::json steps_report(const result& r) {
  const auto& c = r.first;
  nlohmann::json steps = nlohmann::json::array();
  std::size_t retry = 0;
  for (std::size_t i = 0; i < c.closes.size(); ++i) {
    const verdict v = i < c.decisions.size() ? c.decisions[i] : verdict::pending;
    nlohmann::json j{{"close", close_report(c.closes[i])}, {"decision", to_string(v)}};
    if (v == verdict::retry && retry < c.schedules.size()) {
      j["scheduled_delay_ms"] = c.schedules[retry].count();
      j["delay_ms"] = retry < r.delays.size() ? nlohmann::json(r.delays[retry].count())
                                              : nlohmann::json(nullptr);
      ++retry;
    } else if (v == verdict::stop) {
      j["stop_reason"] = c.stop_reason;
    }
    j["expected_delay_range_ms"] =
        i < r.streak.size() ? range_report(r.streak[i]) : nlohmann::json(nullptr);
    steps.push_back(std::move(j));
  }
  return steps;
}

nlohmann::json report_json(const std::vector<result>& results, const policy::config& cfg,
                           milliseconds elapsed) {
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
    if (sc.status != 0) j["http_status"] = sc.status;
    j["close"] = r.first.close ? close_report(*r.first.close) : nlohmann::json(nullptr);
    if (r.first.decided == verdict::retry) {
      j["cause"] = r.first.cause;
      j["attempt"] = r.first.attempt;
      j["scheduled_delay_ms"] = r.first.scheduled.count();
    } else if (r.first.decided == verdict::stop) {
      j["stop_reason"] = r.first.stop_reason;
    }
    const auto w = r.first.waited();
    j["delay_ms"] = r.first.decided == verdict::retry && w ? nlohmann::json(w->count())
                                                           : nlohmann::json(nullptr);
    j["expected_delay_range_ms"] = range_report(r.expect);
    if (sc.kind == action_kind::strikes) {
      j["strike_limit"] = cfg.strike_limit;
      j["steps"] = steps_report(r);
    }
    if (sc.kind == action_kind::refresh) {
      j["credential_refreshes"] = r.first.refreshes;
      j["came_back_with_fresh_credentials"] = r.first.came_back_fresh;
    }
    if (sc.kind == action_kind::shed) {
      j["max_connections"] = 1;
      j["overload"] = sc.status != 0 ? "http_503" : "close_1013";
    }
    if (sc.kind == action_kind::restart) {
      j["spread_ms"] = restart_spread.count();
      j["close_spread_ms"] =
          r.close_spread ? nlohmann::json(r.close_spread->count()) : nlohmann::json(nullptr);
      if (r.shutdown) {
        const auto& sum = *r.shutdown;
        j["shutdown"] = {{"total", sum.total},     {"clean", sum.clean},
                         {"aborted", sum.aborted}, {"failed", sum.failed},
                         {"refused", sum.refused}, {"elapsed_ms", sum.elapsed.count()}};
      } else {
        j["shutdown"] = nullptr;
      }
    }
    if (sc.kind == action_kind::silent) {
      j["detection_ms"] =
          r.detection ? nlohmann::json(r.detection->count()) : nlohmann::json(nullptr);
      j["expected_detection_range_ms"] = {r.detection_lo.count(), r.detection_hi.count()};
    }
    if (sc.clients > 1) {
      auto d = r.delays;
      std::sort(d.begin(), d.end());
      nlohmann::json all_delays = nlohmann::json::array();
      for (auto v : r.delays) all_delays.push_back(v.count());
      j["delays_ms"] = all_delays;
      if (!d.empty())
        j["delay_stats_ms"] = {{"min", d.front().count()},
                               {"median", d[d.size() / 2].count()},
                               {"max", d.back().count()}};
    }
    scenarios.push_back(std::move(j));
  }
  const policy::config real;
  return {{"report", "closewise demo"},
          {"version", 2},
          {"time_scale", fmt::format("1/{}", time_divisor)},
          {"scaling", demo::describe_scaling(time_divisor)},
          {"server_hints_scaled", false},
          {"heartbeat_ms",
           {{"interval", heartbeat_interval.count()}, {"grace", heartbeat_grace.count()}}},
          {"tolerance_ms", {{"early", early_tolerance.count()}, {"late", late_tolerance.count()}}},
          {"policy", nlohmann::json::parse(policy::to_json(cfg, -1))},
          {"scenarios", std::move(scenarios)},
          {"all_agree", all},
          {"elapsed_ms", elapsed.count()}};
}

// --only-resume: the resume row alone (issue 13), without the table.
int run_resume_only(const demo_opts& o, console& out) {
  const auto started = clock::now();
  cli::demo::resume_row resumed;
  {
    io_runner io;
    resumed = cli::demo::run_resume_row(io.ioc);
  }
  for (const auto& l : cli::demo::describe(resumed)) out.line(l);
  if (o.json) {
    const nlohmann::json report = {{"report", "closewise demo"},
                                   {"version", 2},
                                   {"resume", cli::demo::resume_report(resumed)},
                                   {"elapsed_ms", since(started, clock::now()).count()}};
    const std::string doc = report.dump(2, ' ', false, nlohmann::json::error_handler_t::replace);
    std::fwrite(doc.data(), 1, doc.size(), stdout);
    std::fputc('\n', stdout);
    std::fflush(stdout);
  }
  return resumed.ok ? 0 : 1;
}

int run_demo(const demo_opts& o) {
  const bool tty = isatty(fileno(stdout)) != 0;
  console out(!o.json, tty && !o.no_color && !o.json);
  if (o.only_resume) return run_resume_only(o, out);
  const auto scenarios = demo::make_scenarios(o.restart_clients);
  const auto started = clock::now();

  std::vector<result> results;
  cli::demo::resume_row resumed;
  {
    io_runner io;
    demo_runner demo(o, out, io.ioc);
    if (!demo.start()) return 1;

    out.line(out.bold("closewise demo: the close-code table, made live"));
    out.line(fmt::format(
        "server ws://127.0.0.1:{}/ and a silent peer on 127.0.0.1:{}; {} scenarios, one fresh "
        "reconnecting client each (attempt 0)",
        demo.port(), demo.silent_port(), scenarios.size()));
    out.line(out.yellow(
        fmt::format("timings scaled 1/{} for the demo; real defaults -> demo:", time_divisor)));
    for (const auto& item : demo::describe_scaling(time_divisor))
      out.line(out.yellow(fmt::format("  {}", item)));
    out.line(out.dim(fmt::format(
        "server hints are not scaled: Retry-After: 1 and retry-after=1 still mean 1 s "
        "(clamped to max_retry_after {}); heartbeat {} + {} grace (real default 15 s + 10 s)",
        fmt::format("{} s",
                    std::chrono::duration_cast<std::chrono::seconds>(demo.policy().max_retry_after)
                        .count()),
        ms_text(heartbeat_interval), ms_text(heartbeat_grace))));

    for (std::size_t i = 0; i < scenarios.size(); ++i)
      results.push_back(
          demo.play(scenarios[i], static_cast<int>(i), static_cast<int>(scenarios.size())));
    demo.stop();
    // --- resume (issue 13): its own row, after the table ---
    resumed = cli::demo::run_resume_row(io.ioc);
    for (const auto& l : cli::demo::describe(resumed)) out.line(l);
    const auto elapsed = since(started, clock::now());
    if (o.json) {
      auto report = report_json(results, demo.policy(), elapsed);
      report["resume"] = cli::demo::resume_report(resumed);
      const std::string doc = report.dump(2, ' ', false, nlohmann::json::error_handler_t::replace);
      std::fwrite(doc.data(), 1, doc.size(), stdout);
      std::fputc('\n', stdout);
      std::fflush(stdout);
    } else {
      print_summary(out, results, demo.policy(), elapsed);
    }
  }
  const bool all =
      std::all_of(results.begin(), results.end(), [](const result& r) { return r.agrees; });
  return all && resumed.ok ? 0 : 1;
}

}  // namespace

runner add_demo_command(CLI::App& app) {
  auto o = std::make_shared<demo_opts>();
  auto* cmd = app.add_subcommand("demo",
                                 "Walk the close-code table live on loopback: the server closes or "
                                 "misbehaves, the client decides");
  cmd->footer(
      "Runs in about 15 s on 127.0.0.1 only. Colour when stdout is a terminal. Exit status 0 when "
      "every "
      "scenario agrees with the policy table, 1 otherwise.");
  cmd->add_flag("--json", o->json,
                "Print one JSON report (a single document) at the end instead of the timeline");
  cmd->add_flag("--no-color", o->no_color, "No ANSI colour, even on a terminal");
  cmd->add_option("--restart-clients", o->restart_clients, "Clients in the restart scenario")
      ->capture_default_str()
      ->check(CLI::Range(1, 200));
  cmd->add_option("--seed", o->seed, "Seed the clients' jitter (default: random)");
  cmd->add_flag("--only-resume", o->only_resume,
                "Run only the resume row: `closewise serve --resume redis://...` killed with "
                "SIGKILL mid-stream and restarted (in-process without redis-server)");
  return [o] { return run_demo(*o); };
}

}  // namespace closewise::cli

// The reconnect storm (ARCHITECTURE §6, issue 5): N reconnecting clients on one
// io_context against a closewise server that closes them all with 1012
// (Service Restart), goes away for a while, and accepts again.
//
// For each policy it reports how long until every client is back, the peak
// number of accepts in any 100 ms window against the mean rate over the
// recovery (server back up to last client back), and how many retries were
// scheduled in all.
// Policies: closewise's default (1012 retries spread over U(0, 5 s) above the
// 500 ms floor; refused attempts back off with full jitter), a no-jitter
// exponential backoff as IXWebSocket does it (100 ms · 2^n capped at 10 s,
// through a fixed table), and immediate reconnect.
//
// Usage: closewise_storm [--clients N] [--down-ms MS] [--window-ms MS] [--out DIR]
//                        [--policy default|exponential|immediate|all]
// Writes DIR/storm-<policy>.dat (window start in ms since the 1012, accepts in
// that window) for bench/storm/plot.gp, and prints a markdown table.
#include <sys/resource.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <condition_variable>
#include <cstdio>
#include <cstdlib>
#include <fstream>
#include <iostream>
#include <memory>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

#include <boost/asio/executor_work_guard.hpp>
#include <boost/asio/io_context.hpp>

#include "closewise/net/reconnecting_client.hpp"
#include "closewise/net/server.hpp"
#include "closewise/policy/presets.hpp"

namespace {

using namespace closewise;
using namespace std::chrono_literals;
using steady = std::chrono::steady_clock;
using std::chrono::milliseconds;

struct options {
  int clients = 1000;
  milliseconds down{1000};
  milliseconds window{100};
  std::string out = ".";
  std::string policy = "all";
};

/// An io_context run by one thread until destroyed.
struct io_thread {
  io_thread() : work(boost::asio::make_work_guard(ioc)), t([this] { ioc.run(); }) {}
  ~io_thread() {
    work.reset();
    ioc.stop();
    t.join();
  }
  boost::asio::io_context ioc;
  boost::asio::executor_work_guard<boost::asio::io_context::executor_type> work;
  std::thread t;
};

/// Counts events and lets the main thread wait for a number, with a deadline.
struct counter {
  std::mutex mu;
  std::condition_variable cv;
  std::size_t n = 0;
  std::vector<steady::time_point> times;
  void hit(bool keep_time) {
    std::lock_guard lock(mu);
    ++n;
    if (keep_time) times.push_back(steady::now());
    cv.notify_all();
  }
  bool wait_for(std::size_t target, std::chrono::seconds limit) {
    std::unique_lock lock(mu);
    return cv.wait_for(lock, limit, [&] { return n >= target; });
  }
  void reset() {
    std::lock_guard lock(mu);
    n = 0;
    times.clear();
  }
};

/// A policy that retries 1012 like any other failure, with `backoff`: the
/// baselines have no notion of a raised floor or a first spread.
policy::config plain(std::string name, policy::backoff b) {
  policy::config c;
  c.name = std::move(name);
  c.backoff = std::move(b);
  policy::rule r;
  r.action = reconnect_action::retry;
  r.why = "baseline: retry with the plain backoff";
  c.codes.push_back({1001, 1014, r});
  return c;
}

policy::config make_policy(const std::string& name) {
  if (name == "default") return *policy::preset("default");
  if (name == "exponential") {
    // IXWebSocket: wait 100 ms * 2^n, at most 10 s, no jitter.
    policy::fixed_delays t;
    t.delays = {100ms, 200ms, 400ms, 800ms, 1600ms, 3200ms, 6400ms, 10000ms};
    t.jitter = 0.0;
    return plain("exponential", t);
  }
  policy::fixed_delays zero;
  zero.delays = {0ms};
  zero.jitter = 0.0;
  return plain("immediate", zero);
}

struct result {
  std::string policy;
  double all_back_ms = 0;  ///< from the 1012 to the last client's open
  double after_up_ms = 0;  ///< from the server accepting again to the last client's open
  std::size_t peak = 0;    ///< most accepts in one window
  /// Accepts per window over the recovery: N / ((last open - server up) / window).
  double mean = 0;
  std::size_t retries = 0;  ///< on_reconnect_scheduled events, all clients
  std::size_t back = 0;     ///< clients that came back
  std::vector<std::size_t> windows;
};

/// Raises the soft open-files limit to the hard one: N clients and N server
/// sessions need 2N descriptors plus some.
void raise_fd_limit(int clients) {
  rlimit rl{};
  if (getrlimit(RLIMIT_NOFILE, &rl) != 0) return;
  rl.rlim_cur = rl.rlim_max;
  setrlimit(RLIMIT_NOFILE, &rl);
  if (rl.rlim_cur < static_cast<rlim_t>(2 * clients + 64))
    std::cerr << "warning: open-files limit " << rl.rlim_cur << " is low for " << clients
              << " clients; run with ulimit -n " << 2 * clients + 64 << "\n";
}

result run(const options& o, const std::string& policy_name) {
  result r;
  r.policy = policy_name;
  io_thread server_io;
  io_thread client_io;  // one io_context drives every client

  counter opens;   // server side: sessions opened (timed)
  counter closes;  // client side: connections closed
  std::atomic<std::size_t> retries{0};

  net::server_config scfg;
  scfg.backlog = 4096;
  auto make_server = [&](std::uint16_t port) {
    auto s = std::make_unique<net::server>(server_io.ioc, scfg);
    s->on_open([&](net::session&) { opens.hit(true); });
    if (auto ec = s->listen("127.0.0.1", port)) {
      std::cerr << "listen: " << ec.message() << "\n";
      std::exit(1);
    }
    return s;
  };
  auto srv = make_server(0);
  const std::uint16_t port = srv->port();
  const std::string url = "ws://127.0.0.1:" + std::to_string(port) + "/";

  std::vector<std::unique_ptr<net::reconnecting_client>> clients;
  clients.reserve(static_cast<std::size_t>(o.clients));
  for (int i = 0; i < o.clients; ++i) {
    net::reconnecting_client_config cfg;
    cfg.policy = make_policy(policy_name);
    cfg.heartbeat.interval = 0ms;
    cfg.uniform = policy::seeded_uniform(static_cast<std::uint64_t>(i) * 7919 + 17);
    cfg.connection.close_linger = 200ms;
    auto c = std::make_unique<net::reconnecting_client>(client_io.ioc, cfg);
    c->on_close([&](const close_event&) { closes.hit(false); });
    c->on_reconnect_scheduled(
        [&](std::uint32_t, milliseconds, const std::string&) { retries.fetch_add(1); });
    clients.push_back(std::move(c));
  }
  for (auto& c : clients) (void)c->connect(url);
  const auto n = static_cast<std::size_t>(o.clients);
  if (!opens.wait_for(n, 120s)) {
    std::cerr << policy_name << ": only " << opens.n << " of " << n << " connected\n";
    std::exit(1);
  }
  opens.reset();
  closes.reset();
  retries = 0;

  // The restart: no new connections, 1012 to everyone, wait for the close
  // handshakes, go away for `down`, come back on the same port.
  const auto t0 = steady::now();
  srv->stop_accepting();
  for (auto& s : srv->sessions()) (void)s->close_endpoint(close_code::service_restart);
  closes.wait_for(n, 60s);
  srv.reset();
  std::this_thread::sleep_for(o.down);  // a benchmark, not a test: the downtime is the scenario
  srv = make_server(port);
  const auto t_up = steady::now();
  const bool all = opens.wait_for(n, 180s);
  const auto t_end = steady::now();

  std::vector<steady::time_point> times;
  {
    std::lock_guard lock(opens.mu);
    times = opens.times;
  }
  r.back = times.size();
  r.retries = retries.load();
  r.all_back_ms =
      std::chrono::duration<double, std::milli>((all && !times.empty() ? times.back() : t_end) - t0)
          .count();
  for (auto t : times) {
    const auto w = static_cast<std::size_t>((t - t0) / o.window);
    if (r.windows.size() <= w) r.windows.resize(w + 1, 0);
    ++r.windows[w];
  }
  if (!times.empty()) {
    r.peak = *std::max_element(r.windows.begin(), r.windows.end());
    const std::chrono::duration<double, std::milli> span = times.back() - t_up;
    r.after_up_ms = span.count();
    // At least one window: a recovery inside one window has peak == mean.
    const double windows = std::max(1.0, span.count() / static_cast<double>(o.window.count()));
    r.mean = static_cast<double>(times.size()) / windows;
  }

  clients.clear();  // each closes with 1001
  srv.reset();
  return r;
}

}  // namespace

int main(int argc, char** argv) {
  options o;
  for (int i = 1; i + 1 < argc; i += 2) {
    const std::string k = argv[i], v = argv[i + 1];
    if (k == "--clients")
      o.clients = std::stoi(v);
    else if (k == "--down-ms")
      o.down = milliseconds{std::stoi(v)};
    else if (k == "--window-ms")
      o.window = milliseconds{std::stoi(v)};
    else if (k == "--out")
      o.out = v;
    else if (k == "--policy")
      o.policy = v;
    else {
      std::cerr << "unknown option " << k << "\n";
      return 2;
    }
  }
  raise_fd_limit(o.clients);
  std::vector<std::string> names;
  if (o.policy == "all")
    names = {"default", "exponential", "immediate"};
  else
    names = {o.policy};

  std::vector<result> results;
  for (const auto& name : names) {
    results.push_back(run(o, name));
    const result& r = results.back();
    std::ofstream dat(o.out + "/storm-" + name + ".dat");
    dat << "# window_start_ms accepts (" << name << ", " << o.clients << " clients, down "
        << o.down.count() << " ms)\n";
    for (std::size_t i = 0; i < r.windows.size(); ++i)
      dat << i * static_cast<std::size_t>(o.window.count()) << " " << r.windows[i] << "\n";
    std::cerr << name << ": done\n";
  }

  std::printf("%d clients, one io_context; server down %lld ms after the 1012; %lld ms windows\n\n",
              o.clients, static_cast<long long>(o.down.count()),
              static_cast<long long>(o.window.count()));
  std::printf(
      "| policy | back | all back, from the 1012 | from the server's return | peak accepts / "
      "window | mean / window | peak / mean | retries scheduled |\n");
  std::printf("|---|---|---|---|---|---|---|---|\n");
  for (const auto& r : results) {
    std::printf("| %s | %zu/%d | %.0f ms | %.0f ms | %zu | %.1f | %.1f | %zu |\n", r.policy.c_str(),
                r.back, o.clients, r.all_back_ms, r.after_up_ms, r.peak, r.mean,
                r.mean > 0 ? static_cast<double>(r.peak) / r.mean : 0.0, r.retries);
  }
  return 0;
}

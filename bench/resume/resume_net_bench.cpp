// Resume over real sockets (issue 13 part B), on loopback, in one process:
//
//   echo  — N connections each echo M messages of S bytes (--window W in
//           flight, 16 by default); prints the server thread's CPU time per message and the
//           message rate. Run it with --store none, memory and redis://H:P side
//           by side: the overhead targets are memory vs none (<= 15% at 32 B,
//           <= 5% at 64 KiB), and redis gives the durable store's msgs/s.
//           --rate R paces the clients to R messages/s in total (same window):
//           the server then sees the same load with and without resume, so its
//           CPU per message does not also move with the load generator's speed.
//           --warmup K: K messages per connection first, not measured (the
//           replay buffers fill, then the measurement starts without a pause).
//   kill  — N reconnecting clients hold resumed sessions; the server object is
//           destroyed (every connection aborted) and a new one takes the port
//           (memory: the same store; redis: a fresh redis_store on the same
//           Redis, as a restarted process would); prints kill -> resumed p50/p99.
//
//   closewise_resume_net_bench echo --store none --conns 100 --size 32 --messages 1000
//   closewise_resume_net_bench kill --store redis://127.0.0.1:6379 --conns 1000
#include <pthread.h>
#include <sys/resource.h>
#include <time.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <condition_variable>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <future>
#include <memory>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

#include <boost/asio/executor_work_guard.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/post.hpp>
#include <boost/asio/steady_timer.hpp>

#include "closewise/net/client.hpp"
#include "closewise/net/reconnecting_client.hpp"
#include "closewise/net/resume.hpp"
#include "closewise/net/server.hpp"
#include "closewise/resume/memory_store.hpp"
#ifdef CLOSEWISE_BENCH_REDIS
#include "closewise/resume/redis_store.hpp"
#endif

namespace cw = closewise;
using namespace std::chrono_literals;
using steady = std::chrono::steady_clock;

namespace {

struct opts {
  std::string mode = "echo", store = "none";
  int conns = 10, size = 32, messages = 100;
  int warmup = 0;   ///< echo: messages per connection exchanged before the measurement
  int window = 16;  ///< echo: messages in flight per connection
  double rate = 0;  ///< echo: total messages/s the clients offer (0: as fast as the window allows)
  long ack_bytes = 0;  ///< echo: both sides ack every this many payload bytes (0: the default)
  /// echo: the clients build a string per message and give it up
  /// (send_binary(std::string&&)), as an application that serializes does
  bool owned = false;
};

/// One message from a client, as a view of the shared payload or as a string
/// of its own that the send may keep (--owned).
void send_one(cw::net::client& c, const std::string& payload, bool owned) {
  (void)(owned ? c.send_binary(std::string(payload)) : c.send_binary(payload));
}

/// Offers `rate` messages/s in total, round-robin over the connections, never
/// more than `window` in flight on one; runs on the clients' thread.
class pacer {
 public:
  pacer(boost::asio::io_context& ioc, std::vector<std::unique_ptr<cw::net::client>>& clients,
        const std::string& payload, const opts& o)
      : timer_(ioc),
        clients_(clients),
        payload_(payload),
        o_(o),
        sent_(clients.size()),
        inflight_(clients.size()) {}
  void start() {
    t0_ = steady::now();
    tick();
  }
  /// A reply arrived on connection i: room for one more there.
  void replied(std::size_t i) {
    --inflight_[i];
    send_due();
  }

 private:
  void tick() {
    send_due();
    if (offered_ == total()) return;
    timer_.expires_after(200us);
    timer_.async_wait([this](const boost::system::error_code& ec) {
      if (!ec) tick();
    });
  }
  int per_conn() const { return o_.warmup + o_.messages; }
  long long total() const { return static_cast<long long>(o_.conns) * per_conn(); }
  void send_due() {
    const double secs = std::chrono::duration<double>(steady::now() - t0_).count();
    const long long due = std::min(total(), static_cast<long long>(secs * o_.rate) + 1);
    for (std::size_t tried = 0; offered_ < due && tried < clients_.size(); ++tried) {
      const std::size_t i = next_;
      next_ = (next_ + 1) % clients_.size();
      if (sent_[i] == per_conn() || inflight_[i] == o_.window) continue;
      send_one(*clients_[i], payload_, o_.owned);
      ++sent_[i];
      ++inflight_[i];
      ++offered_;
      tried = 0;
    }
  }

  boost::asio::steady_timer timer_;
  std::vector<std::unique_ptr<cw::net::client>>& clients_;
  const std::string& payload_;
  const opts& o_;
  std::vector<int> sent_, inflight_;
  std::size_t next_ = 0;
  long long offered_ = 0;
  steady::time_point t0_;
};

struct io_thread {
  /// `name` shows in perf and top (at most 15 characters).
  explicit io_thread(const char* name)
      : t{[this, name] {
          pthread_setname_np(pthread_self(), name);
          ioc.run();
        }} {}
  boost::asio::io_context ioc{1};
  boost::asio::executor_work_guard<boost::asio::io_context::executor_type> work{ioc.get_executor()};
  std::thread t;
  ~io_thread() {
    work.reset();
    ioc.stop();
    t.join();
  }
  /// This thread's user and system time, minor faults and voluntary switches so far.
  struct usage {
    double user = 0, sys = 0;
    long minflt = 0, nvcsw = 0;
  };
  /// Runs `f` on this thread and returns its result.
  template <class F>
  auto on_thread(F f) {
    std::promise<decltype(f())> p;
    auto done = p.get_future();
    boost::asio::post(ioc, [&p, &f] { p.set_value(f()); });
    return done.get();
  }
  usage thread_usage() {
    return on_thread([] {
      rusage ru{};
      getrusage(RUSAGE_THREAD, &ru);
      auto sec = [](const timeval& tv) {
        return static_cast<double>(tv.tv_sec) + static_cast<double>(tv.tv_usec) * 1e-6;
      };
      return usage{sec(ru.ru_utime), sec(ru.ru_stime), ru.ru_minflt, ru.ru_nvcsw};
    });
  }
  /// CPU time this thread has used so far.
  double cpu_seconds() {
    return on_thread([] {
      timespec ts{};
      clock_gettime(CLOCK_THREAD_CPUTIME_ID, &ts);
      return static_cast<double>(ts.tv_sec) + static_cast<double>(ts.tv_nsec) * 1e-9;
    });
  }
};

cw::resume::session_settings session_settings(const opts& o) {
  cw::resume::session_settings s;
  if (o.ack_bytes > 0) s.acks.every_bytes = static_cast<std::size_t>(o.ack_bytes);
  return s;
}

std::shared_ptr<cw::resume::session_store> make_store(const std::string& spec, const opts& o = {}) {
  if (spec == "none") return nullptr;
  if (spec == "memory") {
    cw::resume::memory_store_options mo;
    mo.session = session_settings(o);
    return std::make_shared<cw::resume::memory_store>(mo);
  }
#ifdef CLOSEWISE_BENCH_REDIS
  if (spec.rfind("redis://", 0) == 0) {
    cw::resume::redis_store_options o;
    const auto hp = spec.substr(8);
    o.host = hp.substr(0, hp.rfind(':'));
    o.port = static_cast<std::uint16_t>(std::stoi(hp.substr(hp.rfind(':') + 1)));
    return std::make_shared<cw::resume::redis_store>(o);
  }
#endif
  std::fprintf(stderr, "--store: none, memory or redis://HOST:PORT\n");
  std::exit(2);
}

std::unique_ptr<cw::net::server> echo_server(boost::asio::io_context& ioc,
                                             std::shared_ptr<cw::resume::session_store> store,
                                             std::uint16_t port) {
  cw::net::server_config cfg;
  cfg.use_strand = false;
  cfg.resume_store = std::move(store);
  auto s = std::make_unique<cw::net::server>(ioc, cfg);
  s->on_message([](cw::net::session& ss, cw::proto::message_kind k, std::string_view p) {
    (void)ss.send(k, p);
  });
  // A restart on the same port: the old acceptor closes on its executor, a moment later.
  for (int i = 0; i < 500; ++i) {
    const auto ec = s->listen("127.0.0.1", port);
    if (!ec) return s;
    if (ec != std::errc::address_in_use) break;
    std::this_thread::sleep_for(10ms);
  }
  std::fprintf(stderr, "cannot listen on port %u\n", static_cast<unsigned>(port));
  std::exit(1);
}

int run_echo(const opts& o) {
  io_thread srv_io{"cw-server"}, cli_io{"cw-clients"};
  auto store = make_store(o.store, o);
  auto srv = echo_server(srv_io.ioc, store, 0);
  const std::string url = "ws://127.0.0.1:" + std::to_string(srv->port()) + "/";
  const std::string payload(static_cast<std::size_t>(o.size), 'x');
  std::mutex mu;
  std::condition_variable cv;
  int done = 0, opened = 0, warmed = 0;
  std::atomic<long long> received{0};  ///< replies, all connections
  std::vector<std::unique_ptr<cw::net::client>> clients;
  std::unique_ptr<pacer> pace;
  // Per connection, on the clients' thread: replies received and messages sent.
  struct progress {
    int got = 0, sent = 0;
  };
  std::vector<progress> prog(static_cast<std::size_t>(o.conns));
  int target = 0;  ///< messages per connection in all (clients' thread)
  for (int i = 0; i < o.conns; ++i) {
    cw::net::client_config cc;
    cc.use_strand = false;
    if (store) cc.resume = std::make_shared<cw::net::client_resume>(session_settings(o));
    auto c = std::make_unique<cw::net::client>(cli_io.ioc, cc);
    auto* raw = c.get();
    c->on_open([&](const cw::net::open_info&) {
      std::lock_guard l(mu);
      ++opened;
      cv.notify_all();
    });
    c->on_message([&, raw, i](cw::proto::message_kind, std::string_view) {
      auto& p = prog[static_cast<std::size_t>(i)];
      ++p.got;
      received.fetch_add(1, std::memory_order_relaxed);
      if (pace) {
        pace->replied(static_cast<std::size_t>(i));
      } else if (p.sent < target) {
        send_one(*raw, payload, o.owned);
        ++p.sent;
      }
      if (p.got == o.warmup || p.got == target) {
        std::lock_guard l(mu);
        if (p.got == o.warmup) ++warmed;
        if (p.got == target) ++done;
        cv.notify_all();
      }
    });
    if (c->connect(url)) return 1;
    clients.push_back(std::move(c));
  }
  {
    std::unique_lock l(mu);
    if (!cv.wait_for(l, 60s, [&] { return opened == o.conns; })) return 1;
  }
  // One run of warm-up + messages per connection, `window` in flight (or
  // paced). The measurement starts once every connection is past its warm-up,
  // without a pause: the first messages of a resumable session fill its
  // replay buffer (allocations, page faults), which a long-lived session pays
  // once, and an idle session gives its spare memory back.
  if (o.rate > 0) pace = std::make_unique<pacer>(cli_io.ioc, clients, payload, o);
  boost::asio::post(cli_io.ioc, [&] {
    target = o.warmup + o.messages;
    if (pace) {
      pace->start();
      return;
    }
    for (std::size_t i = 0; i < clients.size(); ++i)
      for (auto& p = prog[i]; p.sent < target && p.sent - p.got < o.window; ++p.sent)
        send_one(*clients[i], payload, o.owned);
  });
  if (o.warmup > 0) {
    std::unique_lock l(mu);
    if (!cv.wait_for(l, 600s, [&] { return warmed == o.conns; })) return 1;
  }
  const long long received0 = received.load();
  const auto u0 = srv_io.thread_usage();
  const double cpu0 = srv_io.cpu_seconds();
  const auto t0 = steady::now();
  {
    std::unique_lock l(mu);
    if (!cv.wait_for(l, 600s, [&] { return done == o.conns; })) {
      std::fprintf(stderr, "timed out: %d of %d connections done\n", done, o.conns);
      return 1;
    }
  }
  const double secs = std::chrono::duration<double>(steady::now() - t0).count();
  const double cpu = srv_io.cpu_seconds() - cpu0;
  const auto u1 = srv_io.thread_usage();
  // Replies counted from the snapshot: about conns x messages.
  const double total = static_cast<double>(received.load() - received0);
  // The split (user/system, from getrusage at tick resolution), the server thread's
  // minor faults and voluntary switches (wakeups from epoll_wait) per message.
  std::printf(
      "{\"mode\":\"echo\",\"store\":\"%s\",\"conns\":%d,\"size\":%d,\"messages\":%d,"
      "\"warmup\":%d,\"window\":%d,\"rate\":%.0f,\"ack_bytes\":%ld,\"owned\":%s,"
      "\"server_cpu_ns_per_msg\":%.0f,\"msgs_per_s\":%.0f,\"server_cpu_share\":%.2f,"
      "\"server_sys_share\":%.2f,\"server_minflt_per_msg\":%.3f,\"server_wakeups_per_msg\":%.3f}"
      "\n",
      o.store.c_str(), o.conns, o.size, o.messages, o.warmup, o.window, o.rate, o.ack_bytes,
      o.owned ? "true" : "false", cpu / total * 1e9, total / secs, cpu / secs,
      (u1.sys - u0.sys) / std::max(1e-9, u1.sys - u0.sys + u1.user - u0.user),
      static_cast<double>(u1.minflt - u0.minflt) / total,
      static_cast<double>(u1.nvcsw - u0.nvcsw) / total);
  // The pacer's timer and the clients live on cli_io: stop them there.
  std::promise<void> stopped;
  boost::asio::post(cli_io.ioc, [&] {
    pace.reset();
    stopped.set_value();
  });
  stopped.get_future().wait();
  for (auto& c : clients) (void)c->close();
  clients.clear();
  return 0;
}

int run_kill(const opts& o) {
  io_thread srv_io{"cw-server"}, cli_io{"cw-clients"};
  auto store = make_store(o.store);
  if (!store) return 2;
  auto srv = echo_server(srv_io.ioc, store, 0);
  const auto port = srv->port();
  std::mutex mu;
  std::condition_variable cv;
  std::vector<double> times;
  int fresh = 0;
  steady::time_point killed{};
  std::vector<std::unique_ptr<cw::net::reconnecting_client>> clients;
  for (int i = 0; i < o.conns; ++i) {
    cw::net::reconnecting_client_config cfg;
    cfg.resume = cw::resume::session_settings{};
    cfg.policy.backoff = cw::policy::full_jitter{10ms, 10ms, 50ms};
    auto c = std::make_unique<cw::net::reconnecting_client>(cli_io.ioc, cfg);
    c->on_resume([&](const cw::resume::client_outcome& r) {
      std::lock_guard l(mu);
      if (r.kind == cw::resume::client_outcome_kind::fresh) {
        ++fresh;
      } else {
        times.push_back(std::chrono::duration<double, std::milli>(steady::now() - killed).count());
      }
      cv.notify_all();
    });
    if (c->connect("ws://127.0.0.1:" + std::to_string(port) + "/")) return 1;
    (void)c->send_text("hello");
    clients.push_back(std::move(c));
  }
  {
    std::unique_lock l(mu);
    if (!cv.wait_for(l, 120s, [&] { return fresh == o.conns; })) return 1;
    killed = steady::now();
  }
  srv.reset();
  if (o.store != "memory") store = make_store(o.store);  // a new process's store
  srv = echo_server(srv_io.ioc, store, port);
  {
    std::unique_lock l(mu);
    if (!cv.wait_for(l, 120s, [&] { return static_cast<int>(times.size()) == o.conns; })) {
      std::fprintf(stderr, "only %zu of %d resumed\n", times.size(), o.conns);
      return 1;
    }
  }
  std::sort(times.begin(), times.end());
  auto pct = [&](double p) { return times[static_cast<std::size_t>(p * (times.size() - 1))]; };
  std::printf(
      "{\"mode\":\"kill\",\"store\":\"%s\",\"sessions\":%d,\"p50_ms\":%.1f,\"p99_ms\":%.1f}\n",
      o.store.c_str(), o.conns, pct(0.5), pct(0.99));
  clients.clear();
  return 0;
}

}  // namespace

int main(int argc, char** argv) {
  opts o;
  if (argc > 1) o.mode = argv[1];
  for (int i = 2; i < argc; i += 2) {
    const std::string k = argv[i];
    if (i + 1 == argc) {
      std::fprintf(stderr, "%s needs a value\n", k.c_str());
      return 2;
    }
    const std::string v = argv[i + 1];
    try {
      if (k == "--store")
        o.store = v;
      else if (k == "--conns")
        o.conns = std::stoi(v);
      else if (k == "--size")
        o.size = std::stoi(v);
      else if (k == "--messages")
        o.messages = std::stoi(v);
      else if (k == "--window")
        o.window = std::stoi(v);
      else if (k == "--warmup")
        o.warmup = std::stoi(v);
      else if (k == "--rate")
        o.rate = std::stod(v);
      else if (k == "--owned") {
        o.owned = v == "1" || v == "true";
        if (!o.owned && v != "0" && v != "false") throw std::invalid_argument(v);
      } else if (k == "--ack-bytes")
        o.ack_bytes = std::stol(v);
      else {
        std::fprintf(stderr, "unknown option %s\n", k.c_str());
        return 2;
      }
    } catch (const std::exception&) {
      std::fprintf(stderr, "%s: not a valid value: %s\n", k.c_str(), v.c_str());
      return 2;
    }
    if (o.conns < 1 || o.size < 0 || o.messages < 1 || o.warmup < 0 || o.window < 1 ||
        !(o.rate >= 0) || o.ack_bytes < 0) {
      std::fprintf(stderr, "%s %s: out of range\n", k.c_str(), v.c_str());
      return 2;
    }
  }
  if (o.mode == "echo") return run_echo(o);
  if (o.mode == "kill") return run_kill(o);
  std::fprintf(stderr,
               "usage: %s echo|kill [--store none|memory|redis://H:P] [--conns N] "
               "[--size BYTES] [--messages M] [--warmup M] [--window W] [--rate MSGS_PER_S] "
               "[--ack-bytes BYTES] [--owned 0|1]\n",
               argv[0]);
  return 2;
}

// closewise_soak: endurance run of issue 17. One process, two io_contexts of
// one thread each (server, clients), for --seconds (default 600):
//   - churn: --churn loops of connect, upgrade, one echo, close 1000, again;
//   - long-lived: --long reconnecting clients with a 1 s heartbeat, half of
//     them sending a message every second, half silent (the server's idle
//     pings, every 2 s, keep those alive);
//   - sheds: max_connections leaves room for only half the churn loops, so the
//     rest are turned away (503, or accepted and closed with 1013 after every
//     other restart) and try again 5 ms later;
//   - a restart every --restart-every seconds (60): shutdown with 1012 and
//     `retry-after=1`, a new server on the same port; the long-lived clients
//     come back through their reconnect policy.
// RSS, open descriptors and threads of the process are sampled every second
// (/proc/self). After --warmup seconds (60), the median of the first window
// (one restart period, or half of what is left) is the baseline; the run fails
// (exit 1) when the median of the last window exceeds it by more than
// --tolerance percent (5) in any of the three, or when nothing churned.
// --wss CERT KEY runs it all over TLS. --csv FILE writes every sample.
#include <boost/asio/io_context.hpp>
#include <boost/asio/post.hpp>
#include <boost/asio/steady_timer.hpp>

#include <dirent.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <fstream>
#include <memory>
#include <string>
#include <thread>
#include <vector>

#include "closewise/net/client.hpp"
#include "closewise/net/reconnecting_client.hpp"
#include "closewise/net/server.hpp"

namespace asio = boost::asio;
namespace net = closewise::net;
using namespace std::chrono_literals;

namespace {

struct options {
  int seconds = 600;
  int warmup = 60;
  int restart_every = 60;
  int churn = 8;
  int longs = 50;
  double tolerance = 5;
  std::string cert, key, csv;
};

struct sample {
  long rss_kib = 0;
  long fds = 0;
  long threads = 0;
};

sample read_sample() {
  sample s;
  std::ifstream f("/proc/self/status");
  std::string line;
  while (std::getline(f, line)) {
    if (line.rfind("VmRSS:", 0) == 0) s.rss_kib = std::atol(line.c_str() + 6);
    if (line.rfind("Threads:", 0) == 0) s.threads = std::atol(line.c_str() + 8);
  }
  if (DIR* d = ::opendir("/proc/self/fd")) {
    while (const dirent* e = ::readdir(d))
      if (e->d_name[0] != '.') ++s.fds;
    ::closedir(d);
  }
  return s;
}

struct stats {
  std::atomic<std::uint64_t> cycles{0}, refused{0}, long_messages{0}, long_opens{0}, restarts{0};
};

/// One churn loop: a fresh client per cycle, on the client io_context only.
class churner : public std::enable_shared_from_this<churner> {
 public:
  churner(asio::io_context& ioc, std::string url, net::client_config cfg, stats& st)
      : ioc_(ioc), url_(std::move(url)), cfg_(std::move(cfg)), st_(st), retry_(ioc) {}

  void start() {
    c_ = std::make_unique<net::client>(ioc_, cfg_);
    auto self = shared_from_this();
    c_->on_open([this, self](const net::open_info&) { (void)c_->send_text("churn"); });
    c_->on_message([this, self](closewise::proto::message_kind, std::string_view) {
      (void)c_->close(closewise::close_code::normal, "");
    });
    c_->on_close([this, self](const closewise::close_event& ev) {
      const bool ok = ev.code == closewise::close_code::normal && ev.was_clean;
      if (ok) {
        ++st_.cycles;
      } else {
        ++st_.refused;  // shed, restarting, or dropped
      }
      // A new client from a turn of its own: this one is still in its callback.
      asio::post(ioc_, [this, self, ok] {
        c_.reset();
        if (stop_) return;
        if (ok) {
          start();
          return;
        }
        retry_.expires_after(5ms);
        retry_.async_wait([this, self](const boost::system::error_code& ec) {
          if (!ec && !stop_) start();
        });
      });
    });
    if (c_->connect(url_)) std::fprintf(stderr, "soak: bad url %s\n", url_.c_str());
  }
  void stop() {
    asio::post(ioc_, [self = shared_from_this()] {
      self->stop_ = true;
      self->retry_.cancel();
      if (self->c_) self->c_->abort();
    });
  }

 private:
  asio::io_context& ioc_;
  std::string url_;
  net::client_config cfg_;
  stats& st_;
  asio::steady_timer retry_;
  std::unique_ptr<net::client> c_;
  bool stop_ = false;
};

std::unique_ptr<net::server> make_server(asio::io_context& ioc, const options& o, int generation,
                                         std::uint16_t port) {
  net::server_config cfg;
  if (!o.cert.empty()) cfg.tls = net::tls_server_options{o.cert, o.key, nullptr};
  cfg.max_connections = static_cast<std::size_t>(o.longs + std::max(1, o.churn / 2));
  cfg.on_overload =
      generation % 2 == 0 ? net::overload_action::http_503 : net::overload_action::close_1013;
  cfg.overload_retry_after = 1s;
  cfg.idle_ping_interval = 2s;
  cfg.idle_timeout = 4s;
  auto srv = std::make_unique<net::server>(ioc, cfg);
  srv->on_message([](net::session& s, closewise::proto::message_kind k, std::string_view p) {
    (void)s.send(k, p);
  });
  if (auto ec = srv->listen("127.0.0.1", port)) {
    std::fprintf(stderr, "soak: listen on %u: %s\n", port, ec.message().c_str());
    return nullptr;
  }
  return srv;
}

long median(std::vector<long> v) {
  if (v.empty()) return 0;
  std::nth_element(v.begin(), v.begin() + static_cast<std::ptrdiff_t>(v.size() / 2), v.end());
  return v[v.size() / 2];
}

bool parse(int argc, char** argv, options& o) {
  for (int i = 1; i < argc; ++i) {
    const std::string k = argv[i];
    auto next = [&]() -> const char* { return i + 1 < argc ? argv[++i] : ""; };
    if (k == "--seconds")
      o.seconds = std::atoi(next());
    else if (k == "--warmup")
      o.warmup = std::atoi(next());
    else if (k == "--restart-every")
      o.restart_every = std::atoi(next());
    else if (k == "--churn")
      o.churn = std::atoi(next());
    else if (k == "--long")
      o.longs = std::atoi(next());
    else if (k == "--tolerance")
      o.tolerance = std::atof(next());
    else if (k == "--csv")
      o.csv = next();
    else if (k == "--wss") {
      o.cert = next();
      o.key = next();
    } else {
      return false;
    }
  }
  return o.seconds > o.warmup + 2 && o.restart_every > 0;
}

}  // namespace

int main(int argc, char** argv) {
  options o;
  if (!parse(argc, argv, o)) {
    std::fprintf(stderr,
                 "usage: closewise_soak [--seconds 600] [--warmup 60] [--restart-every 60] "
                 "[--churn 8] [--long 50] [--tolerance 5] [--wss CERT KEY] [--csv FILE]\n");
    return 2;
  }
  asio::io_context sio(1), cio(1);
  auto sguard = asio::make_work_guard(sio);
  auto cguard = asio::make_work_guard(cio);
  std::thread st([&] { sio.run(); });
  std::thread ct([&] { cio.run(); });

  int generation = 0;
  auto srv = make_server(sio, o, generation, 0);
  if (!srv) return 1;
  const std::uint16_t port = srv->port();
  const std::string url =
      std::string(o.cert.empty() ? "ws" : "wss") + "://127.0.0.1:" + std::to_string(port) + "/";

  stats s;
  net::client_config ccfg;
  ccfg.tls.verify = false;  // a throwaway self-signed certificate
  std::vector<std::shared_ptr<churner>> churners;
  for (int i = 0; i < o.churn; ++i) {
    churners.push_back(std::make_shared<churner>(cio, url, ccfg, s));
    asio::post(cio, [c = churners.back()] { c->start(); });
  }
  std::vector<std::unique_ptr<net::reconnecting_client>> longs;
  for (int i = 0; i < o.longs; ++i) {
    net::reconnecting_client_config rc;
    rc.connection = ccfg;
    rc.heartbeat = net::heartbeat_config{1000ms, 2000ms};
    auto c = std::make_unique<net::reconnecting_client>(cio, rc);
    c->on_open([&s](const net::open_info&) { ++s.long_opens; });
    c->on_message([&s](closewise::proto::message_kind, std::string_view) { ++s.long_messages; });
    (void)c->connect(url);
    longs.push_back(std::move(c));
  }

  std::FILE* csv = o.csv.empty() ? nullptr : std::fopen(o.csv.c_str(), "w");
  if (csv) std::fprintf(csv, "t,rss_kib,fds,threads,cycles,refused,long_opens,long_messages\n");
  std::vector<sample> samples;
  const auto t0 = std::chrono::steady_clock::now();
  for (int t = 1; t <= o.seconds; ++t) {
    std::this_thread::sleep_until(t0 + std::chrono::seconds(t));
    for (std::size_t i = 0; i < longs.size(); i += 2) (void)longs[i]->send_text("tick");
    if (t % o.restart_every == 0) {
      net::shutdown_options so;
      so.code = closewise::close_code::service_restart;
      so.reason = "retry-after=1";
      so.drain_deadline = 2s;
      const auto sum = srv->shutdown_and_wait(so);
      srv.reset();
      srv = make_server(sio, o, ++generation, port);
      if (!srv) return 1;
      ++s.restarts;
      std::fprintf(stderr, "t=%ds restart: %zu open, %zu clean, %zu aborted\n", t, sum.total,
                   sum.clean, sum.aborted);
    }
    const sample x = read_sample();
    samples.push_back(x);
    if (csv) {
      std::fprintf(csv, "%d,%ld,%ld,%ld,%llu,%llu,%llu,%llu\n", t, x.rss_kib, x.fds, x.threads,
                   static_cast<unsigned long long>(s.cycles.load()),
                   static_cast<unsigned long long>(s.refused.load()),
                   static_cast<unsigned long long>(s.long_opens.load()),
                   static_cast<unsigned long long>(s.long_messages.load()));
      std::fflush(csv);
    }
    if (t % 10 == 0)
      std::fprintf(stderr, "t=%ds rss=%ld KiB fds=%ld threads=%ld cycles=%llu refused=%llu\n", t,
                   x.rss_kib, x.fds, x.threads, static_cast<unsigned long long>(s.cycles.load()),
                   static_cast<unsigned long long>(s.refused.load()));
  }

  for (auto& c : churners) c->stop();
  for (auto& c : longs) c.reset();
  srv.reset();
  sguard.reset();
  cguard.reset();
  sio.stop();
  cio.stop();
  st.join();
  ct.join();
  if (csv) std::fclose(csv);

  // Baseline: the first window after warm-up; final: the last window.
  const int left = o.seconds - o.warmup;
  const int window = std::max(1, std::min(o.restart_every, left / 2));
  auto window_median = [&](int from, long sample::*field) {
    std::vector<long> v;
    for (int i = from; i < from + window && i < static_cast<int>(samples.size()); ++i)
      v.push_back(samples[static_cast<std::size_t>(i)].*field);
    return median(v);
  };
  bool failed = s.cycles == 0;
  std::printf(
      "result seconds=%d cycles=%llu refused=%llu long_opens=%llu long_messages=%llu "
      "restarts=%llu",
      o.seconds, static_cast<unsigned long long>(s.cycles.load()),
      static_cast<unsigned long long>(s.refused.load()),
      static_cast<unsigned long long>(s.long_opens.load()),
      static_cast<unsigned long long>(s.long_messages.load()),
      static_cast<unsigned long long>(s.restarts.load()));
  const std::pair<const char*, long sample::*> fields[] = {
      {"rss_kib", &sample::rss_kib}, {"fds", &sample::fds}, {"threads", &sample::threads}};
  for (const auto& [name, field] : fields) {
    const long base = window_median(o.warmup, field);
    const long last = window_median(o.seconds - window, field);
    const double growth = base > 0 ? 100.0 * static_cast<double>(last - base) / base : 0;
    std::printf(" %s=%ld->%ld(%+.1f%%)", name, base, last, growth);
    if (growth > o.tolerance) failed = true;
  }
  std::printf(" verdict=%s\n", failed ? "FAIL" : "ok");
  return failed ? 1 : 0;
}

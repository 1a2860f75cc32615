#include "serve_fleet.hpp"

#include <fmt/format.h>

#include <boost/asio/post.hpp>
#include <closewise/close_code.hpp>

#include <algorithm>
#include <chrono>
#include <cstdint>
#include <thread>

namespace closewise::cli {

void add_fleet_flags(CLI::App& cmd, fleet_opts& o) {
  cmd.add_option("--threads", o.threads,
                 "Threads serving connections (default 0: the number of cores; 1: one thread "
                 "for everything)")
      ->check(CLI::Range(std::size_t{0}, std::size_t{256}));
  cmd.add_option("--health-path", o.health_path,
                 "Answer a plain HTTP GET of this path (e.g. /healthz) with 200, or 503 while "
                 "draining, for a load balancer's health check")
      ->check([](const std::string& p) {
        return !p.empty() && p[0] == '/' ? std::string() : std::string("must start with /");
      });
  cmd.add_flag("--drain-on-term", o.drain_on_term,
               "SIGTERM drains like SIGHUP (1012, spread) instead of 1001 at once");
  cmd.add_option("--drain-delay-ms", o.drain_delay_ms,
                 "On SIGHUP, how long the health path answers 503 before the listener closes and "
                 "the 1012s go out")
      ->capture_default_str()
      ->check(CLI::Range(0u, 3600000u));
  cmd.add_option("--drain-window-ms", o.drain_window_ms,
                 "On SIGHUP, spread the 1012 closes over this window, so clients come back spread")
      ->capture_default_str()
      ->check(CLI::Range(0u, 3600000u));
  cmd.add_option("--drain-rate", o.drain_rate,
                 "On SIGHUP, send at most this many 1012s per second: the window grows to "
                 "clients / rate, so a backend holding more clients does not close them faster "
                 "(0: the window alone)")
      ->capture_default_str()
      ->check(CLI::Range(0u, 1000000u));
  cmd.add_option("--drain-retry-after", o.drain_retry_after,
                 "The retry-after=S sent with 1012 on SIGHUP (seconds)")
      ->capture_default_str()
      ->check(CLI::Range(0u, 3600u));
}

void apply_fleet(const fleet_opts& o, net::server_config& cfg) {
  std::size_t n = o.threads;
  if (n == 0) n = std::max(1u, std::thread::hardware_concurrency());
  // One thread: the listener's io_context serves connections too (no pool).
  cfg.threads = n > 1 ? n : 0;
  cfg.reuse_port = true;
  cfg.health_path = o.health_path;
}

bool fleet_drain::start(std::function<void(const net::shutdown_summary&)> done) {
  if (stage_ != stage::serving) return false;
  stage_ = stage::delaying;
  done_ = std::move(done);
  srv_.mark_draining();
  out_.diag(fmt::format(
      "closewise serve: draining: health 503 now, 1012 to every client in {} ms, spread over {} ms",
      o_.drain_delay_ms, o_.drain_window_ms));
  delay_.expires_after(std::chrono::milliseconds(o_.drain_delay_ms));
  delay_.async_wait([this](const boost::system::error_code& ec) {
    if (!ec && stage_ == stage::delaying) close_all();
  });
  return true;
}

void fleet_drain::cancel() {
  if (stage_ == stage::delaying) stage_ = stage::serving;
  delay_.cancel();
}

void fleet_drain::close_all() {
  stage_ = stage::closing;
  net::shutdown_options so;
  // RFC 6455 §7.4.1 (IANA registry): 1012 "Service Restart"; closewise
  // clients honour the retry-after= hint on top of their spread first delay.
  so.code = close_code::service_restart;
  so.reason = fmt::format("retry-after={}", o_.drain_retry_after);
  so.spread = std::chrono::milliseconds(o_.drain_window_ms);
  if (o_.drain_rate != 0) {
    // Paced: each backend of a rolling restart sends its 1012s at the same
    // rate, however many clients the earlier restarts moved onto it.
    const auto paced = std::chrono::milliseconds(static_cast<std::int64_t>(srv_.session_count()) *
                                                 1000 / o_.drain_rate);
    so.spread = std::max(so.spread, paced);
    out_.diag(fmt::format("closewise serve: {} clients at {} per second: 1012s spread over {} ms",
                          srv_.session_count(), o_.drain_rate, so.spread.count()));
  }
  // Every close is out by the end of the window; the handshakes then get the
  // close timeout's worth of time.
  so.drain_deadline = so.spread + std::chrono::seconds(5);
  srv_.shutdown(so, [this](const net::shutdown_summary& sum) {
    // The summary may come on one of the server's threads.
    boost::asio::post(ioc_, [this, sum] {
      if (done_) done_(sum);
    });
  });
}

}  // namespace closewise::cli

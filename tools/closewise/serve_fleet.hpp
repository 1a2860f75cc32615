// `closewise serve` in a fleet (issue 14): threads, SO_REUSEPORT restarts
// (SIGHUP drain with 1012), and a load balancer's health path.
#pragma once

#include <CLI/CLI.hpp>

#include <boost/asio/io_context.hpp>
#include <boost/asio/steady_timer.hpp>
#include <closewise/net/server.hpp>

#include <cstddef>
#include <functional>
#include <string>

#include "output.hpp"

namespace closewise::cli {

/// The fleet flags of `serve`.
struct fleet_opts {
  /// 0 (the default): the number of cores.
  std::size_t threads = 0;
  bool drain_on_term = false;
  unsigned drain_delay_ms = 0;
  unsigned drain_window_ms = 2000;
  /// Closes per second at most; 0: the window alone sets the pace.
  unsigned drain_rate = 0;
  unsigned drain_retry_after = 1;
  std::string health_path;
};

void add_fleet_flags(CLI::App& cmd, fleet_opts& o);
/// Threads (1: the classic single thread, no pool), SO_REUSEPORT (always on:
/// a new serve may bind the port while this one drains), the health path.
void apply_fleet(const fleet_opts& o, net::server_config& cfg);

/// The restart drain: the health path answers 503 at once; after the drain
/// delay the listener closes (its queued connections accepted first) and
/// every client gets 1012 "retry-after=S", the closes spread over the drain
/// window; then the summary.
class fleet_drain {
 public:
  fleet_drain(boost::asio::io_context& ioc, net::server& srv, const fleet_opts& o,
              const event_printer& out)
      : ioc_(ioc), srv_(srv), o_(o), out_(out), delay_(ioc) {}

  /// Starts the drain; `done` runs on the io_context's thread with the
  /// shutdown's summary. False if a drain or shutdown already started.
  bool start(std::function<void(const net::shutdown_summary&)> done);
  /// True once the 1012 shutdown itself started.
  bool shutdown_started() const noexcept { return stage_ == stage::closing; }
  /// Stops a drain still in its delay (a SIGINT shutdown takes over).
  void cancel();

 private:
  enum class stage { serving, delaying, closing };
  void close_all();

  boost::asio::io_context& ioc_;
  net::server& srv_;
  const fleet_opts& o_;
  const event_printer& out_;
  boost::asio::steady_timer delay_;
  stage stage_ = stage::serving;
  std::function<void(const net::shutdown_summary&)> done_;
};

}  // namespace closewise::cli

// An echo server that restarts gracefully on SIGHUP (1012) and shuts down on SIGTERM (1001).
// Closes are spread over 2 s and carry "retry-after=2", so closewise clients come back
// spread out instead of all at once.
#include <closewise/net/server.hpp>
#include <closewise/net/session.hpp>

#include <boost/asio/io_context.hpp>
#include <boost/asio/signal_set.hpp>

#include <chrono>
#include <cstdio>

using namespace std::chrono_literals;
namespace cw = closewise;

int main() {
  boost::asio::io_context ioc(1);
  cw::net::server_config cfg;
  cfg.use_strand = false;
  cfg.max_connections = 10'000;
  cfg.on_overload = cw::net::overload_action::close_1013;  // shed with 1013 "retry-after=5"
  cw::net::server srv(ioc, cfg);
  srv.on_message([](cw::net::session& s, cw::proto::message_kind kind, std::string_view data) {
    (void)s.send(kind, data);  // a slow consumer is closed with 1008 by the server itself
  });
  if (auto ec = srv.listen("127.0.0.1", 9000)) {
    std::fprintf(stderr, "listen: %s\n", ec.message().c_str());
    return 1;
  }

  boost::asio::signal_set signals(ioc, SIGHUP, SIGTERM, SIGINT);
  signals.async_wait([&](const boost::system::error_code& ec, int sig) {
    if (ec) return;
    cw::net::shutdown_options opts;
    opts.code = sig == SIGHUP ? cw::close_code::service_restart : cw::close_code::going_away;
    opts.reason = sig == SIGHUP ? "retry-after=2" : "shutting down";
    opts.spread = 2s;
    opts.drain_deadline = 5s;
    srv.shutdown(opts, [&](const cw::net::shutdown_summary& s) {
      std::printf("%zu connections: %zu clean, %zu aborted, %zu failed, in %lld ms\n", s.total,
                  s.clean, s.aborted, s.failed, static_cast<long long>(s.elapsed.count()));
      ioc.stop();  // a supervisor starts the new version
    });
  });
  ioc.run();
}

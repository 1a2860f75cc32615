// closewise_echo_closewise: closewise's own echo server for issue 4, built on
// the public closewise::net::server API only.
//
// Configuration: one io_context run by one thread, use_strand = false (the
// documented single-thread mode), keep_request_headers = false (saves the
// request headers per connection), permessage-deflate off (the default),
// every other setting at its default (handshake and close timeouts on, as
// the architecture requires). Text and binary are mirrored.
// Usage: closewise_echo_closewise [PORT]; with PORT 0 the chosen port is printed.
// CLOSEWISE_ECHO_METRICS=1 installs a metrics::registry as the server's
// observer (issue 16), to compare against the default run with none.
#include <boost/asio/io_context.hpp>
#include <boost/asio/signal_set.hpp>

#include <cstdio>
#include <cstdlib>
#include <memory>

#include "closewise/metrics/registry.hpp"
#include "closewise/net/server.hpp"

int main(int argc, char** argv) {
  const auto port = static_cast<std::uint16_t>(argc > 1 ? std::atoi(argv[1]) : 0);
  boost::asio::io_context ioc(1);
  closewise::net::server_config cfg;
  cfg.use_strand = false;
  cfg.keep_request_headers = false;
  cfg.backlog = 4096;
  if (const char* m = std::getenv("CLOSEWISE_ECHO_METRICS"); m && *m == '1')
    cfg.observer = std::make_shared<closewise::metrics::registry>();
  closewise::net::server srv(ioc, cfg);
  srv.on_message([](closewise::net::session& s, closewise::proto::message_kind kind,
                    std::string_view payload) { (void)s.send(kind, payload); });
  if (auto ec = srv.listen("127.0.0.1", port)) {
    std::fprintf(stderr, "listen: %s\n", ec.message().c_str());
    return 1;
  }
  std::printf("%u\n", static_cast<unsigned>(srv.port()));
  std::fflush(stdout);
  boost::asio::signal_set sigs(ioc, SIGINT, SIGTERM);
  sigs.async_wait([&](const boost::system::error_code&, int) { ioc.stop(); });
  ioc.run();
}

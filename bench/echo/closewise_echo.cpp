// closewise_echo_closewise: closewise's own echo server for issue 4, built on
// the public closewise::net::server API only.
//
// Configuration: one io_context run by one thread, use_strand = false (the
// documented single-thread mode), keep_request_headers = false (saves the
// request headers per connection), permessage-deflate off (the default),
// every other setting at its default (handshake and close timeouts on, as
// the architecture requires). Text and binary are mirrored.
// Usage: closewise_echo_closewise [PORT [THREADS [pool|shared]]]; with PORT 0
// the chosen port is printed. THREADS > 1 (issue 14): `pool` (the default)
// sets server_config::threads (an io_context per thread, no strands; the
// listener stays on main's); `shared` runs one io_context on THREADS threads
// with a strand per connection (the alternative the design notes measured).
// CLOSEWISE_ECHO_METRICS=1 installs a metrics::registry as the server's
// observer (issue 16), to compare against the default run with none.
#include <boost/asio/io_context.hpp>
#include <boost/asio/signal_set.hpp>

#include <algorithm>
#include <cstdio>
#include <cstdlib>
#include <memory>
#include <string>
#include <thread>
#include <vector>

#include "closewise/metrics/registry.hpp"
#include "closewise/net/server.hpp"

int main(int argc, char** argv) {
  const auto port = static_cast<std::uint16_t>(argc > 1 ? std::atoi(argv[1]) : 0);
  const int threads = argc > 2 ? std::max(1, std::atoi(argv[2])) : 1;
  const bool shared = argc > 3 && std::string(argv[3]) == "shared";
  boost::asio::io_context ioc(shared ? threads : 1);
  closewise::net::server_config cfg;
  cfg.use_strand = shared && threads > 1;
  if (!shared && threads > 1) cfg.threads = static_cast<std::size_t>(threads);
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
  std::vector<std::thread> more;
  for (int i = 1; shared && i < threads; ++i) more.emplace_back([&ioc] { ioc.run(); });
  ioc.run();
  for (auto& t : more) t.join();
}

// closewise_tls_echo: closewise's wss echo server for the TLS benchmark
// (bench/tls), configured as bench/echo's plain one: one thread, no strand,
// no request headers kept, every timeout at its default.
// Usage: closewise_tls_echo CERT KEY [PORT]; the chosen port is printed.
#include <boost/asio/io_context.hpp>
#include <boost/asio/signal_set.hpp>

#include <cstdio>
#include <cstdlib>

#include "closewise/net/server.hpp"

int main(int argc, char** argv) {
  if (argc < 3) {
    std::fprintf(stderr, "usage: closewise_tls_echo CERT KEY [PORT]\n");
    return 2;
  }
  const auto port = static_cast<std::uint16_t>(argc > 3 ? std::atoi(argv[3]) : 0);
  boost::asio::io_context ioc(1);
  closewise::net::server_config cfg;
  cfg.use_strand = false;
  cfg.keep_request_headers = false;
  cfg.backlog = 4096;
  cfg.tls = closewise::net::tls_server_options{argv[1], argv[2], nullptr};
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

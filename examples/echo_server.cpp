// An echo server on port 9000 (or argv[1]; 0 picks a free port).
#include <closewise/net/server.hpp>
#include <closewise/net/session.hpp>

#include <boost/asio/io_context.hpp>

#include <cstdio>
#include <cstdlib>

int main(int argc, char** argv) {
  boost::asio::io_context ioc(1);
  closewise::net::server_config cfg;
  cfg.use_strand = false;  // exactly one thread runs ioc
  closewise::net::server srv(ioc, cfg);
  srv.on_message(
      [](closewise::net::session& s, closewise::proto::message_kind kind, std::string_view data) {
        // A refusal needs no handling here: a peer that does not read is closed
        // with 1008 by the server itself (close_slow_consumers).
        (void)s.send(kind, data);
      });
  const auto port = static_cast<std::uint16_t>(argc > 1 ? std::atoi(argv[1]) : 9000);
  if (auto ec = srv.listen("127.0.0.1", port)) {
    std::fprintf(stderr, "listen: %s\n", ec.message().c_str());
    return 1;
  }
  std::printf("echo server on ws://127.0.0.1:%u/\n", srv.port());
  ioc.run();
}

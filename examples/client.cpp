// A single WebSocket connection: open, send, print what arrives, close right.
// Usage: example_client ws://127.0.0.1:9000/
#include <closewise/net/client.hpp>

#include <boost/asio/io_context.hpp>

#include <cstdio>
#include <string>

int main(int argc, char** argv) {
  if (argc != 2) {
    std::fprintf(stderr, "usage: %s ws://host:port/path\n", argv[0]);
    return 2;
  }
  boost::asio::io_context ioc;
  closewise::net::client c(ioc);
  c.on_open([&](const closewise::net::open_info&) {
    if (auto ec = c.send_text("hello")) std::fprintf(stderr, "send: %s\n", ec.message().c_str());
  });
  c.on_message([&](closewise::proto::message_kind, std::string_view data) {
    std::printf("received: %.*s\n", static_cast<int>(data.size()), data.data());
    (void)c.close(closewise::close_code::normal, "done");  // only fails once closing already
  });
  int status = 1;
  c.on_close([&](const closewise::close_event& ev) {
    std::printf("closed: %u %s, clean=%d\n", closewise::to_int(ev.code),
                std::string(closewise::name(ev.code)).c_str(), ev.was_clean);
    status = ev.was_clean ? 0 : 1;
  });
  if (auto ec = c.connect(argv[1])) {
    std::fprintf(stderr, "%s\n", ec.message().c_str());
    return 2;
  }
  ioc.run();
  return status;
}

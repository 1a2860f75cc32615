// closewise_echo_beast: the baseline of issue 4, a raw Boost.Beast echo server
// configured at its best.
//
// websocket::stream<tcp_stream>, auto_fragment(false) so a message goes out
// as one frame, no timeouts of any kind, read_message_max 16 MiB, TCP_NODELAY,
// permessage-deflate off (Beast's default), one io_context on one thread.
// Text and binary are mirrored. Usage: closewise_echo_beast [PORT [THREADS]];
// with PORT 0 (the default) the chosen port is printed on stdout. THREADS > 1
// (issue 14): the one io_context is run by that many threads and each
// connection gets a strand, as Beast's own multi-threaded examples do.
#include <boost/asio.hpp>
#include <boost/beast/core.hpp>
#include <boost/beast/websocket.hpp>

#include <algorithm>
#include <cstdio>
#include <cstdlib>
#include <memory>
#include <thread>
#include <vector>

namespace asio = boost::asio;
namespace beast = boost::beast;
namespace websocket = beast::websocket;
using tcp = asio::ip::tcp;

namespace {

class session : public std::enable_shared_from_this<session> {
 public:
  explicit session(tcp::socket s) : ws_(std::move(s)) {}

  void start() {
    websocket::stream_base::timeout t{};
    t.handshake_timeout = websocket::stream_base::none();
    t.idle_timeout = websocket::stream_base::none();
    t.keep_alive_pings = false;
    ws_.set_option(t);
    ws_.auto_fragment(false);
    ws_.read_message_max(16 * 1024 * 1024);
    ws_.async_accept([self = shared_from_this()](beast::error_code ec) {
      if (!ec) self->read();
    });
  }

 private:
  void read() {
    ws_.async_read(buf_, [self = shared_from_this()](beast::error_code ec, std::size_t) {
      if (ec) return;  // closed (Beast already answered the close) or failed
      self->ws_.binary(self->ws_.got_binary());
      self->ws_.async_write(self->buf_.data(), [self](beast::error_code wec, std::size_t) {
        if (wec) return;
        self->buf_.consume(self->buf_.size());
        self->read();
      });
    });
  }

  websocket::stream<beast::tcp_stream> ws_;
  beast::flat_buffer buf_;
};

void accept(tcp::acceptor& acc, asio::io_context& ioc, bool strands) {
  auto on_accept = [&acc, &ioc, strands](beast::error_code ec, tcp::socket s) {
    if (!ec) {
      s.set_option(tcp::no_delay(true), ec);
      std::make_shared<session>(std::move(s))->start();
    }
    accept(acc, ioc, strands);
  };
  if (strands) {
    acc.async_accept(asio::make_strand(ioc), on_accept);
  } else {
    acc.async_accept(on_accept);
  }
}

}  // namespace

int main(int argc, char** argv) {
  const auto port = static_cast<unsigned short>(argc > 1 ? std::atoi(argv[1]) : 0);
  const int threads = argc > 2 ? std::max(1, std::atoi(argv[2])) : 1;
  asio::io_context ioc(threads);
  tcp::acceptor acc(ioc);
  const tcp::endpoint ep(asio::ip::make_address("127.0.0.1"), port);
  acc.open(ep.protocol());
  acc.set_option(asio::socket_base::reuse_address(true));
  acc.bind(ep);
  acc.listen(asio::socket_base::max_listen_connections);
  std::printf("%u\n", static_cast<unsigned>(acc.local_endpoint().port()));
  std::fflush(stdout);
  asio::signal_set sigs(ioc, SIGINT, SIGTERM);
  sigs.async_wait([&](beast::error_code, int) { ioc.stop(); });
  accept(acc, ioc, threads > 1);
  std::vector<std::thread> more;
  for (int i = 1; i < threads; ++i) more.emplace_back([&ioc] { ioc.run(); });
  ioc.run();
  for (auto& t : more) t.join();
}

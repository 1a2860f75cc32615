// beast_tls_echo: the baseline of the TLS benchmark, Boost.Beast over
// beast::ssl_stream<tcp_stream>, configured as bench/echo's plain Beast peer
// (auto_fragment off, no timeouts, 16 MiB messages, TCP_NODELAY, one thread)
// with the same OpenSSL context settings as closewise (TLS 1.2 and later).
// Usage: beast_tls_echo CERT KEY [PORT]; the chosen port is printed.
#include <boost/asio.hpp>
#include <boost/asio/ssl.hpp>
#include <boost/beast/core.hpp>
#include <boost/beast/ssl.hpp>
#include <boost/beast/websocket.hpp>
#include <boost/beast/websocket/ssl.hpp>

#include <cstdio>
#include <cstdlib>
#include <memory>

namespace asio = boost::asio;
namespace ssl = boost::asio::ssl;
namespace beast = boost::beast;
namespace websocket = beast::websocket;
using tcp = asio::ip::tcp;

namespace {

class session : public std::enable_shared_from_this<session> {
 public:
  session(tcp::socket s, ssl::context& ctx) : ws_(std::move(s), ctx) {}

  void start() {
    websocket::stream_base::timeout t{};
    t.handshake_timeout = websocket::stream_base::none();
    t.idle_timeout = websocket::stream_base::none();
    t.keep_alive_pings = false;
    ws_.set_option(t);
    ws_.auto_fragment(false);
    ws_.read_message_max(16 * 1024 * 1024);
    ws_.next_layer().async_handshake(ssl::stream_base::server,
                                     [self = shared_from_this()](beast::error_code ec) {
                                       if (ec) return;
                                       self->ws_.async_accept([self](beast::error_code aec) {
                                         if (!aec) self->read();
                                       });
                                     });
  }

 private:
  void read() {
    ws_.async_read(buf_, [self = shared_from_this()](beast::error_code ec, std::size_t) {
      if (ec) return;
      self->ws_.binary(self->ws_.got_binary());
      self->ws_.async_write(self->buf_.data(), [self](beast::error_code wec, std::size_t) {
        if (wec) return;
        self->buf_.consume(self->buf_.size());
        self->read();
      });
    });
  }

  websocket::stream<beast::ssl_stream<beast::tcp_stream>> ws_;
  beast::flat_buffer buf_;
};

void accept(tcp::acceptor& acc, ssl::context& ctx) {
  acc.async_accept([&acc, &ctx](beast::error_code ec, tcp::socket s) {
    if (!ec) {
      s.set_option(tcp::no_delay(true), ec);
      std::make_shared<session>(std::move(s), ctx)->start();
    }
    accept(acc, ctx);
  });
}

}  // namespace

int main(int argc, char** argv) {
  if (argc < 3) {
    std::fprintf(stderr, "usage: beast_tls_echo CERT KEY [PORT]\n");
    return 2;
  }
  const auto port = static_cast<unsigned short>(argc > 3 ? std::atoi(argv[3]) : 0);
  ssl::context ctx(ssl::context::tls_server);
  ctx.set_options(ssl::context::default_workarounds | ssl::context::no_sslv2 |
                  ssl::context::no_sslv3 | ssl::context::no_tlsv1 | ssl::context::no_tlsv1_1);
  ctx.use_certificate_chain_file(argv[1]);
  ctx.use_private_key_file(argv[2], ssl::context::pem);
  asio::io_context ioc(1);
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
  accept(acc, ctx);
  ioc.run();
}

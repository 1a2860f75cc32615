// closewise_echo_wspp: a websocketpp 0.8 echo server for issue 4 (Debian's
// libwebsocketpp-dev, the asio_no_tls configuration).
//
// Configured for speed within what the library offers: the asio_no_tls
// config with logging compiled out (log::stub), concurrency::none (no
// mutexes), enable_multithreading = false (no strands), a 64 KiB read buffer
// instead of 16 KiB, TCP_NODELAY, permessage-deflate off (the default). The
// echo hands the received message object itself back with send(hdl, msg),
// which saves the copy and allocation of send(hdl, payload, opcode); the
// library still allocates one outgoing message per send (its message
// "pool" allocates every time) and has no option to avoid that. One
// io_context on one thread.
// Usage: closewise_echo_wspp [PORT]; with PORT 0 the chosen port is printed.
#include <websocketpp/concurrency/none.hpp>
#include <websocketpp/config/asio_no_tls.hpp>
#include <websocketpp/logger/stub.hpp>
#include <websocketpp/server.hpp>

#include <cstdio>
#include <cstdlib>

namespace {

struct bench_config : public websocketpp::config::asio {
  typedef bench_config type;
  typedef websocketpp::config::asio base;

  typedef websocketpp::concurrency::none concurrency_type;
  typedef websocketpp::log::stub alog_type;
  typedef websocketpp::log::stub elog_type;

  typedef base::request_type request_type;
  typedef base::response_type response_type;
  typedef base::message_type message_type;
  typedef base::con_msg_manager_type con_msg_manager_type;
  typedef base::endpoint_msg_manager_type endpoint_msg_manager_type;
  typedef base::rng_type rng_type;

  static bool const enable_multithreading = false;
  static const size_t connection_read_buffer_size = 65536;

  struct transport_config : public base::transport_config {
    typedef type::concurrency_type concurrency_type;
    typedef type::alog_type alog_type;
    typedef type::elog_type elog_type;
    typedef type::request_type request_type;
    typedef type::response_type response_type;
    typedef websocketpp::transport::asio::basic_socket::endpoint socket_type;
    static bool const enable_multithreading = false;
  };

  typedef websocketpp::transport::asio::endpoint<transport_config> transport_type;
};

using server = websocketpp::server<bench_config>;

}  // namespace

int main(int argc, char** argv) {
  const auto port = static_cast<std::uint16_t>(argc > 1 ? std::atoi(argv[1]) : 0);
  server s;
  s.clear_access_channels(websocketpp::log::alevel::all);
  s.clear_error_channels(websocketpp::log::elevel::all);
  s.init_asio();
  s.set_reuse_addr(true);
  s.set_listen_backlog(4096);
  s.set_socket_init_handler([](websocketpp::connection_hdl, boost::asio::ip::tcp::socket& sock) {
    boost::system::error_code ec;
    sock.set_option(boost::asio::ip::tcp::no_delay(true), ec);
  });
  s.set_message_handler([&s](websocketpp::connection_hdl hdl, server::message_ptr msg) {
    websocketpp::lib::error_code ec;
    s.send(hdl, msg, ec);
  });
  s.listen(boost::asio::ip::tcp::endpoint(boost::asio::ip::make_address("127.0.0.1"), port));
  boost::system::error_code ec;
  const auto ep = s.get_local_endpoint(ec);
  std::printf("%u\n", static_cast<unsigned>(ep.port()));
  std::fflush(stdout);
  boost::asio::signal_set sigs(s.get_io_service(), SIGINT, SIGTERM);
  sigs.async_wait([&s](const boost::system::error_code&, int) { s.stop(); });
  s.start_accept();
  s.run();
}

// wss:// between closewise client and server, with a CA made at run time.
#include "closewise/net/tls.hpp"

#include <gtest/gtest.h>

#include <chrono>
#include <thread>

#include <boost/asio/connect.hpp>
#include <boost/asio/read.hpp>
#include <boost/asio/read_until.hpp>
#include <boost/asio/ssl/context.hpp>
#include <boost/asio/ssl/error.hpp>
#include <boost/asio/ssl/stream.hpp>
#include <boost/asio/streambuf.hpp>
#include <boost/asio/write.hpp>

#include "closewise/error.hpp"
#include "closewise/proto/handshake.hpp"
#include "net/net_test_support.hpp"

namespace closewise::net {
namespace {

using namespace test;
using ce = client_event;

class tls : public ::testing::Test {
 protected:
  void SetUp() override {
    if (!certs.ok) {
      if (in_ci()) {
        FAIL() << "could not make test certificates with openssl";
      } else {
        GTEST_SKIP() << "openssl command unavailable";
      }
    }
  }
  server_config server_cfg(bool wrong_host = false) {
    server_config cfg;
    cfg.tls = tls_server_options{};
    cfg.tls->cert_file = (wrong_host ? certs.wrong_host_cert : certs.server_cert).string();
    cfg.tls->key_file = (wrong_host ? certs.wrong_host_key : certs.server_key).string();
    return cfg;
  }
  temp_dir dir;
  test_certs certs{dir.path()};
};

void echo_everything(server& s) {
  s.on_message([](session& ss, proto::message_kind k, std::string_view p) { (void)ss.send(k, p); });
}

closewise::close_event wait_close(channel<client_event>& ch) {
  for (;;) {
    auto e = ch.pop();
    if (!e) return {};
    if (e->type == ce::closed) return e->close;
  }
}

TEST_F(tls, wss_echo_and_clean_close_with_a_custom_ca) {
  io_thread io;
  server srv(io.ioc, server_cfg());
  echo_everything(srv);
  ASSERT_FALSE(srv.listen("127.0.0.1", 0));
  for (const std::string host : {"localhost", "127.0.0.1"}) {
    client_config cfg;
    cfg.tls.ca_file = certs.ca.string();
    client c(io.ioc, cfg);
    channel<client_event> ev;
    record(c, ev);
    ASSERT_FALSE(c.connect("wss://" + host + ":" + std::to_string(srv.port()) + "/"));
    auto e = ev.pop();
    ASSERT_TRUE(e);
    ASSERT_EQ(e->type, ce::opened) << host << ": " << e->ec.message();
    const std::string big(1 << 20, 'q');
    ASSERT_FALSE(c.send_binary(big));
    e = ev.pop();
    ASSERT_TRUE(e);
    EXPECT_TRUE(e->data == big);
    ASSERT_FALSE(c.close(close_code::normal, "done"));
    EXPECT_EQ(wait_close(ev), cev(close_code::normal, "", true, initiator::local));
  }
}

// RFC 8446 §6.1: each party sends close_notify before closing its write side.
// A raw TLS client tells the two endings apart: after the server's close
// frame, a close_notify reads as EOF, a bare TCP FIN as stream_truncated.
TEST_F(tls, server_sends_close_notify_after_a_clean_close) {
  namespace asio = boost::asio;
  namespace ssl = boost::asio::ssl;
  io_thread io;
  server srv(io.ioc, server_cfg());
  channel<closewise::close_event> closed;
  srv.on_close([&](session&, const closewise::close_event& ev) { closed.push(ev); });
  ASSERT_FALSE(srv.listen("127.0.0.1", 0));

  asio::io_context cio;
  ssl::context ctx(ssl::context::tls_client);
  ctx.load_verify_file(certs.ca.string());
  ssl::stream<asio::ip::tcp::socket> s(cio, ctx);
  s.set_verify_mode(ssl::verify_peer);
  s.next_layer().connect({asio::ip::make_address("127.0.0.1"), srv.port()});
  s.handshake(ssl::stream_base::client);
  asio::write(s, asio::buffer(std::string(
                     "GET / HTTP/1.1\r\nHost: localhost\r\nUpgrade: websocket\r\n"
                     "Connection: Upgrade\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n"
                     "Sec-WebSocket-Version: 13\r\n\r\n")));
  asio::streambuf in;
  asio::read_until(s, in, "\r\n\r\n");
  const std::string head(asio::buffers_begin(in.data()), asio::buffers_end(in.data()));
  ASSERT_EQ(head.rfind("HTTP/1.1 101", 0), 0u) << head;
  in.consume(head.find("\r\n\r\n") + 4);
  // A masked close 1000 with the key 00 00 00 00: the body is sent as is.
  const unsigned char close_frame[] = {0x88, 0x82, 0, 0, 0, 0, 0x03, 0xE8};
  asio::write(s, asio::buffer(close_frame));
  std::string got(asio::buffers_begin(in.data()), asio::buffers_end(in.data()));
  char buf[64];
  boost::system::error_code ec;
  while (got.size() < 4 && !ec) got.append(buf, s.read_some(asio::buffer(buf), ec));
  ASSERT_GE(got.size(), 4u) << ec.message();
  EXPECT_EQ(got.substr(0, 4), std::string("\x88\x02\x03\xE8", 4)) << "the close echo";
  std::size_t extra = 0;
  while (!ec) extra += s.read_some(asio::buffer(buf), ec);
  EXPECT_EQ(extra, 0u);
  EXPECT_EQ(ec, asio::error::eof) << ec.message() << " (stream_truncated: no close_notify)";
  const auto ev = closed.pop();
  ASSERT_TRUE(ev);
  EXPECT_EQ(*ev, cev(close_code::normal, "", true, initiator::remote));
}

// The other direction: a raw TLS server sends its close_notify after the
// close exchange and waits for the client's (a synchronous SSL shutdown). It
// gets a clean shutdown only if the closewise client answers with its own
// close_notify; a bare FIN reads as stream_truncated. The server then closes
// TCP first (RFC 6455 §7.1.1), which ends the client's wait.
TEST_F(tls, client_answers_close_notify_and_lets_the_server_close_first) {
  namespace asio = boost::asio;
  namespace ssl = boost::asio::ssl;
  asio::io_context sio;
  ssl::context sctx(ssl::context::tls_server);
  sctx.use_certificate_chain_file(certs.server_cert.string());
  sctx.use_private_key_file(certs.server_key.string(), ssl::context::pem);
  asio::ip::tcp::acceptor acc(sio, {asio::ip::make_address("127.0.0.1"), 0});
  const auto port = acc.local_endpoint().port();
  channel<std::string> server_report;
  std::thread raw([&] {
    auto report = [&](std::string what) { server_report.push(std::move(what)); };
    boost::system::error_code ec;
    ssl::stream<asio::ip::tcp::socket> s(sio, sctx);
    acc.accept(s.next_layer(), ec);
    if (!ec) s.handshake(ssl::stream_base::server, ec);
    asio::streambuf in;
    if (!ec) asio::read_until(s, in, "\r\n\r\n", ec);
    if (ec) return report("handshake: " + ec.message());
    const std::string head(asio::buffers_begin(in.data()), asio::buffers_end(in.data()));
    in.consume(head.find("\r\n\r\n") + 4);
    const auto k = head.find("Sec-WebSocket-Key: ");
    if (k == std::string::npos) return report("no key");
    const std::string key = head.substr(k + 19, head.find("\r\n", k) - k - 19);
    asio::write(
        s,
        asio::buffer(
            "HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
            "Sec-WebSocket-Accept: " +
            proto::compute_accept(key) + "\r\n\r\n"),
        ec);
    // The client's close 1000: 2 header bytes, 4 mask bytes, 2 payload bytes.
    if (!ec && in.size() < 8) asio::read(s, in, asio::transfer_at_least(8 - in.size()), ec);
    if (ec) return report("close frame: " + ec.message());
    const unsigned char echo[] = {0x88, 0x02, 0x03, 0xE8};
    asio::write(s, asio::buffer(echo), ec);
    if (ec) return report("close echo: " + ec.message());
    s.shutdown(ec);  // sends ours, then reads until the client's close_notify
    report(!ec || ec == asio::error::eof ? "clean shutdown" : "shutdown: " + ec.message());
    s.next_layer().close(ec);  // TCP closed by the server first
  });

  io_thread io;
  client_config cfg;
  cfg.tls.ca_file = certs.ca.string();
  client c(io.ioc, cfg);
  channel<client_event> ev;
  record(c, ev);
  ASSERT_FALSE(c.connect("wss://localhost:" + std::to_string(port) + "/"));
  auto e = ev.pop();
  ASSERT_TRUE(e);
  ASSERT_EQ(e->type, ce::opened) << e->ec.message();
  ASSERT_FALSE(c.close(close_code::normal, ""));
  const auto t0 = std::chrono::steady_clock::now();
  EXPECT_EQ(wait_close(ev), cev(close_code::normal, "", true, initiator::local));
  // Ended by the server's FIN, not by the client's linger timer.
  EXPECT_LT(std::chrono::steady_clock::now() - t0, cfg.close_linger);
  const auto r = server_report.pop();
  raw.join();
  ASSERT_TRUE(r);
  EXPECT_EQ(*r, "clean shutdown") << "(stream_truncated: the client sent no close_notify)";
}

TEST_F(tls, untrusted_certificate_is_1015_tls_verify_failed) {
  io_thread io;
  server srv(io.ioc, server_cfg());
  ASSERT_FALSE(srv.listen("127.0.0.1", 0));
  client_config cfg;
  cfg.tls.ca_file = certs.other_ca.string();
  client c(io.ioc, cfg);
  channel<client_event> ev;
  record(c, ev);
  ASSERT_FALSE(c.connect("wss://localhost:" + std::to_string(srv.port()) + "/"));
  auto e = ev.pop();
  ASSERT_TRUE(e);
  EXPECT_EQ(e->type, ce::errored);
  EXPECT_EQ(e->ec, error::tls_verify_failed);
  EXPECT_EQ(e->ec, condition::tls_verification);
  EXPECT_EQ(wait_close(ev),
            cev(close_code::tls_handshake, "", false, initiator::none, error::tls_verify_failed));
}

TEST_F(tls, host_name_mismatch_is_1015_tls_verify_failed) {
  io_thread io;
  server srv(io.ioc, server_cfg(true));
  ASSERT_FALSE(srv.listen("127.0.0.1", 0));
  client_config cfg;
  cfg.tls.ca_file = certs.ca.string();
  client c(io.ioc, cfg);
  channel<client_event> ev;
  record(c, ev);
  ASSERT_FALSE(c.connect("wss://localhost:" + std::to_string(srv.port()) + "/"));
  EXPECT_EQ(wait_close(ev),
            cev(close_code::tls_handshake, "", false, initiator::none, error::tls_verify_failed));
}

TEST_F(tls, wss_to_a_plain_server_is_1015_tls_error) {
  io_thread io;
  server srv(io.ioc);
  ASSERT_FALSE(srv.listen("127.0.0.1", 0));
  client_config cfg;
  cfg.tls.ca_file = certs.ca.string();
  client c(io.ioc, cfg);
  channel<client_event> ev;
  record(c, ev);
  ASSERT_FALSE(c.connect("wss://localhost:" + std::to_string(srv.port()) + "/"));
  const auto got = wait_close(ev);
  EXPECT_EQ(got, cev(close_code::tls_handshake, "", false, initiator::none, error::tls_error));
  EXPECT_NE(got.error, condition::tls_verification);
}

TEST_F(tls, verification_can_be_turned_off) {
  io_thread io;
  server srv(io.ioc, server_cfg(true));
  ASSERT_FALSE(srv.listen("127.0.0.1", 0));
  client_config cfg;
  cfg.tls.verify = false;
  client c(io.ioc, cfg);
  channel<client_event> ev;
  record(c, ev);
  ASSERT_FALSE(c.connect("wss://localhost:" + std::to_string(srv.port()) + "/"));
  auto e = ev.pop();
  ASSERT_TRUE(e);
  EXPECT_EQ(e->type, ce::opened);
}

TEST_F(tls, unreadable_ca_file_is_refused_at_connect) {
  io_thread io;
  client_config cfg;
  cfg.tls.ca_file = (dir.path() / "missing.pem").string();
  client c(io.ioc, cfg);
  EXPECT_EQ(c.connect("wss://localhost:1/"), error::invalid_argument);
}

TEST_F(tls, server_with_missing_key_refuses_to_listen) {
  io_thread io;
  server_config cfg = server_cfg();
  cfg.tls->key_file = (dir.path() / "missing.key").string();
  server srv(io.ioc, cfg);
  EXPECT_EQ(srv.listen("127.0.0.1", 0), error::invalid_argument);
}

}  // namespace
}  // namespace closewise::net

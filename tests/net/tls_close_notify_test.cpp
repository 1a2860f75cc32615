// The wss server's TLS ending, seen by a raw OpenSSL client (no Asio on the
// client's side): RFC 8446 §6.1 close_notify after the close handshake, for
// either initiator, and TLS streams that read ahead or pause.
#include "closewise/net/tls.hpp"

#include <gtest/gtest.h>

#include <netinet/in.h>
#include <netinet/tcp.h>
#include <openssl/err.h>
#include <openssl/ssl.h>
#include <sys/socket.h>
#include <unistd.h>

#include <arpa/inet.h>

#include <memory>
#include <string>
#include <thread>

#include "closewise/net/server.hpp"
#include "net/net_test_support.hpp"

namespace closewise::net {
namespace {

using namespace test;

/// A blocking TLS 1.2+ client on a plain socket, straight on OpenSSL.
class raw_tls_client {
 public:
  raw_tls_client(const std::string& ca, std::uint16_t port) {
    ctx_.reset(SSL_CTX_new(TLS_client_method()));
    SSL_CTX_load_verify_locations(ctx_.get(), ca.c_str(), nullptr);
    SSL_CTX_set_verify(ctx_.get(), SSL_VERIFY_PEER, nullptr);
    fd_ = ::socket(AF_INET, SOCK_STREAM, 0);
    sockaddr_in a{};
    a.sin_family = AF_INET;
    a.sin_port = htons(port);
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    // A receive timeout turns a server that never ends the stream into a test failure.
    timeval tv{static_cast<time_t>(wait_limit.count()), 0};
    ::setsockopt(fd_, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
    if (::connect(fd_, reinterpret_cast<sockaddr*>(&a), sizeof a) != 0) return;
    ssl_.reset(SSL_new(ctx_.get()));
    SSL_set_fd(ssl_.get(), fd_);
    SSL_set1_host(ssl_.get(), "localhost");
    ok_ = SSL_connect(ssl_.get()) == 1;
  }
  ~raw_tls_client() {
    ssl_.reset();
    if (fd_ >= 0) ::close(fd_);
  }
  bool ok() const { return ok_; }
  SSL* ssl() { return ssl_.get(); }
  int fd() const { return fd_; }

  bool write(std::string_view bytes) {
    size_t n = 0;
    return SSL_write_ex(ssl_.get(), bytes.data(), bytes.size(), &n) == 1 && n == bytes.size();
  }
  /// Reads until `want` bytes are in `buf_` or the stream ends; returns SSL_get_error's verdict
  /// of the last call (SSL_ERROR_NONE when the bytes arrived).
  int read_until(std::size_t want) {
    char b[4096];
    while (buf_.size() < want) {
      size_t n = 0;
      const int r = SSL_read_ex(ssl_.get(), b, sizeof b, &n);
      if (r != 1) return SSL_get_error(ssl_.get(), r);
      buf_.append(b, n);
    }
    return SSL_ERROR_NONE;
  }
  /// Reads to the end of the TLS stream: the error that ended it, and the bytes before it.
  int read_to_end(std::size_t& extra) {
    extra = 0;
    char b[4096];
    for (;;) {
      size_t n = 0;
      const int r = SSL_read_ex(ssl_.get(), b, sizeof b, &n);
      if (r != 1) return SSL_get_error(ssl_.get(), r);
      extra += n;
    }
  }
  std::string take(std::size_t n) {
    std::string out = buf_.substr(0, n);
    buf_.erase(0, n);
    return out;
  }
  bool upgrade() {
    if (!write("GET / HTTP/1.1\r\nHost: localhost\r\nUpgrade: websocket\r\n"
               "Connection: Upgrade\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n"
               "Sec-WebSocket-Version: 13\r\n\r\n"))
      return false;
    while (buf_.find("\r\n\r\n") == std::string::npos) {
      if (read_until(buf_.size() + 1) != SSL_ERROR_NONE) return false;
    }
    const auto end = buf_.find("\r\n\r\n") + 4;
    const bool ok = buf_.rfind("HTTP/1.1 101", 0) == 0;
    buf_.erase(0, end);
    return ok;
  }

 private:
  struct ctx_free {
    void operator()(SSL_CTX* c) const { SSL_CTX_free(c); }
  };
  struct ssl_free {
    void operator()(SSL* s) const { SSL_free(s); }
  };
  std::unique_ptr<SSL_CTX, ctx_free> ctx_;
  std::unique_ptr<SSL, ssl_free> ssl_;
  int fd_ = -1;
  bool ok_ = false;
  std::string buf_;
};

/// A masked frame with the key 00 00 00 00, so the payload is sent as is.
std::string masked(std::uint8_t opcode, std::string_view payload) {
  std::string f;
  f += static_cast<char>(0x80 | opcode);
  if (payload.size() < 126) {
    f += static_cast<char>(0x80 | payload.size());
  } else {
    f += static_cast<char>(0x80 | 126);
    f += static_cast<char>(payload.size() >> 8);
    f += static_cast<char>(payload.size() & 0xff);
  }
  f.append(4, '\0');
  f.append(payload);
  return f;
}

class tls_ending : public ::testing::Test {
 protected:
  void SetUp() override {
    if (!certs.ok) {
      if (in_ci()) {
        FAIL() << "could not make test certificates with openssl";
      } else {
        GTEST_SKIP() << "openssl command unavailable";
      }
    }
    server_config cfg;
    cfg.tls = tls_server_options{certs.server_cert.string(), certs.server_key.string(), nullptr};
    srv = std::make_unique<server>(io.ioc, cfg);
    srv->on_close([this](session&, const closewise::close_event& ev) { closed.push(ev); });
  }
  void TearDown() override { srv.reset(); }
  temp_dir dir;
  test_certs certs{dir.path()};
  io_thread io;
  std::unique_ptr<server> srv;
  channel<closewise::close_event> closed;
};

// RFC 8446 §6.1 and RFC 6455 §7.1.1: the server ends the close handshake it
// started with close_notify and then closes TCP; the client reads the close
// frame, answers it, and then SSL_read reports SSL_ERROR_ZERO_RETURN (not
// SSL_ERROR_SYSCALL/SSL, which a bare FIN gives).
TEST_F(tls_ending, server_initiated_close_ends_with_close_notify) {
  srv->on_message([](session& s, proto::message_kind, std::string_view) {
    (void)s.close(close_code{4001}, "bye");
  });
  ASSERT_FALSE(srv->listen("127.0.0.1", 0));
  raw_tls_client c(certs.ca.string(), srv->port());
  ASSERT_TRUE(c.ok());
  ASSERT_TRUE(c.upgrade());
  ASSERT_TRUE(c.write(masked(0x1, "hi")));
  ASSERT_EQ(c.read_until(7), SSL_ERROR_NONE);
  EXPECT_EQ(c.take(7), std::string("\x88\x05\x0F\xA1"
                                   "bye",
                                   7));
  ASSERT_TRUE(c.write(masked(0x8, std::string("\x0F\xA1", 2))));
  std::size_t extra = 0;
  EXPECT_EQ(c.read_to_end(extra), SSL_ERROR_ZERO_RETURN) << "no close_notify before the FIN";
  EXPECT_EQ(extra, 0u);
  // Our close_notify answers; the server has closed TCP, so the socket reads EOF.
  EXPECT_GE(SSL_shutdown(c.ssl()), 0);
  char b;
  EXPECT_EQ(::recv(c.fd(), &b, 1, 0), 0);
  const auto ev = closed.pop();
  ASSERT_TRUE(ev);
  // As a CloseEvent: the code and reason of the peer's reply.
  EXPECT_EQ(*ev, cev(close_code{4001}, "", true, initiator::local));
}

TEST_F(tls_ending, client_initiated_close_ends_with_close_notify) {
  ASSERT_FALSE(srv->listen("127.0.0.1", 0));
  raw_tls_client c(certs.ca.string(), srv->port());
  ASSERT_TRUE(c.ok());
  ASSERT_TRUE(c.upgrade());
  ASSERT_TRUE(c.write(masked(0x8, std::string("\x0F\xA0", 2))));  // 4000
  ASSERT_EQ(c.read_until(4), SSL_ERROR_NONE);
  EXPECT_EQ(c.take(4), std::string("\x88\x02\x0F\xA0", 4));
  std::size_t extra = 0;
  EXPECT_EQ(c.read_to_end(extra), SSL_ERROR_ZERO_RETURN);
  EXPECT_EQ(extra, 0u);
  const auto ev = closed.pop();
  ASSERT_TRUE(ev);
  EXPECT_EQ(ev->code, close_code{4000});
  EXPECT_EQ(ev->initiator, initiator::remote);
}

// Many small records in one burst: OpenSSL reads ahead past the socket's
// readiness, and every message must still be delivered without a new byte
// arriving (the driver drains what OpenSSL holds before waiting again).
TEST_F(tls_ending, records_read_ahead_are_all_delivered) {
  channel<std::string> got;
  srv->on_message(
      [&](session&, proto::message_kind, std::string_view p) { got.push(std::string(p)); });
  ASSERT_FALSE(srv->listen("127.0.0.1", 0));
  raw_tls_client c(certs.ca.string(), srv->port());
  ASSERT_TRUE(c.ok());
  ASSERT_TRUE(c.upgrade());
  constexpr int n = 200;
  for (int i = 0; i < n; ++i) ASSERT_TRUE(c.write(masked(0x1, "m" + std::to_string(i))));
  for (int i = 0; i < n; ++i) {
    const auto m = got.pop();
    ASSERT_TRUE(m) << "message " << i << " never delivered";
    EXPECT_EQ(*m, "m" + std::to_string(i));
  }
}

// A paused session keeps records unread, in the socket or inside OpenSSL, and
// delivers all of them in order after the resume.
TEST_F(tls_ending, pause_and_resume_over_tls_keep_every_message) {
  channel<std::string> got;
  std::shared_ptr<session> held;
  srv->on_open([&](session& s) {
    s.pause_reading();
    held = s.shared();
    got.push("open");
  });
  srv->on_message(
      [&](session&, proto::message_kind, std::string_view p) { got.push(std::string(p)); });
  ASSERT_FALSE(srv->listen("127.0.0.1", 0));
  raw_tls_client c(certs.ca.string(), srv->port());
  ASSERT_TRUE(c.ok());
  ASSERT_TRUE(c.upgrade());
  ASSERT_EQ(got.pop(), std::optional<std::string>("open"));
  const std::string big(100000, 'b');
  ASSERT_TRUE(c.write(masked(0x2, std::string(200, 'a')) + masked(0x2, "x")));
  // A 100000-byte binary frame: the 64-bit length form, masked with 00 00 00 00.
  const std::string frame = std::string("\x82\xFF\0\0\0\0\0\x01\x86\xA0\0\0\0\0", 14) + big;
  ASSERT_TRUE(c.write(frame));
  EXPECT_FALSE(got.pop(std::chrono::milliseconds(200))) << "delivered while paused";
  boost::asio::post(io.ioc, [&] { held->resume_reading(); });
  EXPECT_EQ(got.pop(), std::optional<std::string>(std::string(200, 'a')));
  EXPECT_EQ(got.pop(), std::optional<std::string>("x"));
  EXPECT_EQ(got.pop(), std::optional<std::string>(big));
}

// A broadcast's shared frames, interleaved with a session's own message, reach
// every TLS client whole and in order (TLS copies them into each connection's
// write, as each connection encrypts its own).
TEST_F(tls_ending, broadcast_over_tls_keeps_order) {
  channel<int> opened;
  srv->on_open([&](session&) { opened.push(1); });
  srv->on_message(
      [](session& s, proto::message_kind k, std::string_view p) { (void)s.send(k, p); });
  ASSERT_FALSE(srv->listen("127.0.0.1", 0));
  raw_tls_client a(certs.ca.string(), srv->port()), b(certs.ca.string(), srv->port());
  ASSERT_TRUE(a.ok() && b.ok());
  ASSERT_TRUE(a.upgrade() && b.upgrade());
  ASSERT_TRUE(opened.pop() && opened.pop());
  EXPECT_EQ(srv->broadcast(proto::message_kind::text, "b1").queued, 2u);
  ASSERT_TRUE(a.write(masked(0x1, "own")));
  ASSERT_EQ(a.read_until(4), SSL_ERROR_NONE);
  EXPECT_EQ(a.take(4),
            "\x81\x02"
            "b1");
  ASSERT_EQ(a.read_until(5), SSL_ERROR_NONE);
  EXPECT_EQ(a.take(5),
            "\x81\x03"
            "own");
  EXPECT_EQ(srv->broadcast(proto::message_kind::text, "b2").queued, 2u);
  ASSERT_EQ(a.read_until(4), SSL_ERROR_NONE);
  EXPECT_EQ(a.take(4),
            "\x81\x02"
            "b2");
  ASSERT_EQ(b.read_until(8), SSL_ERROR_NONE);
  EXPECT_EQ(b.take(8),
            "\x81\x02"
            "b1"
            "\x81\x02"
            "b2");
}

// The server writes into a TLS connection the peer reset: the send fails
// (EPIPE/ECONNRESET) and the session ends with 1006; the process gets no
// SIGPIPE, which would kill this test binary.
TEST_F(tls_ending, writing_to_a_reset_peer_raises_no_sigpipe) {
  channel<std::shared_ptr<session>> opened;
  srv->on_open([&](session& s) { opened.push(s.shared()); });
  ASSERT_FALSE(srv->listen("127.0.0.1", 0));
  auto c = std::make_unique<raw_tls_client>(certs.ca.string(), srv->port());
  ASSERT_TRUE(c->ok());
  ASSERT_TRUE(c->upgrade());
  const auto s = opened.pop();
  ASSERT_TRUE(s);
  const linger hard{1, 0};  // close() sends RST
  ::setsockopt(c->fd(), SOL_SOCKET, SO_LINGER, &hard, sizeof hard);
  c.reset();
  const std::string chunk(64 * 1024, 'z');
  // Until the server notices: every send either queues or is refused once closed.
  for (int i = 0; i < 200 && closed.size() == 0; ++i) {
    (void)(*s)->send_binary(chunk);
    std::this_thread::sleep_for(std::chrono::milliseconds(5));
  }
  const auto ev = closed.pop();
  ASSERT_TRUE(ev);
  EXPECT_EQ(ev->code, close_code::abnormal);
  EXPECT_FALSE(ev->was_clean);
}

}  // namespace
}  // namespace closewise::net

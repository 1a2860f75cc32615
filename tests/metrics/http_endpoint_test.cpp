#include "closewise/metrics/http_endpoint.hpp"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <gtest/gtest.h>

#include <atomic>
#include <chrono>
#include <optional>
#include <string>
#include <thread>

#include <boost/asio/executor_work_guard.hpp>
#include <boost/asio/io_context.hpp>

#include "closewise/metrics/exposition.hpp"

namespace closewise::metrics {
namespace {

/// A blocking loopback client: sends bytes, reads until a whole answer is in.
class scrape_client {
 public:
  explicit scrape_client(std::uint16_t port) {
    fd_ = ::socket(AF_INET, SOCK_STREAM, 0);
    sockaddr_in a{};
    a.sin_family = AF_INET;
    a.sin_port = htons(port);
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    ok_ = ::connect(fd_, reinterpret_cast<sockaddr*>(&a), sizeof a) == 0;
  }
  ~scrape_client() { ::close(fd_); }
  bool ok() const { return ok_; }
  void send(const std::string& s) { (void)!::send(fd_, s.data(), s.size(), MSG_NOSIGNAL); }
  /// One HTTP answer (headers and a Content-Length body), or what came before EOF/timeout.
  std::string answer() {
    for (;;) {
      const auto end = buf_.find("\r\n\r\n");
      if (end != std::string::npos) {
        std::size_t len = 0;
        const auto cl = buf_.find("Content-Length: ");
        if (cl != std::string::npos && cl < end) len = std::stoul(buf_.substr(cl + 16));
        if (buf_.size() >= end + 4 + len) {
          std::string a = buf_.substr(0, end + 4 + len);
          buf_.erase(0, end + 4 + len);
          return a;
        }
      }
      if (!read_some()) return std::exchange(buf_, {});
    }
  }
  /// True when the server closed the connection (EOF within 10 s).
  bool closed_by_peer() {
    while (read_some()) {
    }
    return eof_;
  }

 private:
  bool read_some() {
    pollfd p{fd_, POLLIN, 0};
    if (::poll(&p, 1, 10000) <= 0) return false;
    char b[4096];
    const auto n = ::recv(fd_, b, sizeof b, 0);
    if (n <= 0) {
      eof_ = n == 0;
      return false;
    }
    buf_.append(b, static_cast<std::size_t>(n));
    return true;
  }
  int fd_ = -1;
  bool ok_ = false, eof_ = false;
  std::string buf_;
};

struct endpoint_fixture : ::testing::Test {
  boost::asio::io_context ioc;
  boost::asio::executor_work_guard<boost::asio::io_context::executor_type> work =
      boost::asio::make_work_guard(ioc);
  std::atomic<int> renders{0};
  http_endpoint ep{ioc, [this] {
                     ++renders;
                     return std::string("# HELP a A\n# TYPE a counter\na 1\n");
                   }};
  std::thread runner;

  void SetUp() override {
    ASSERT_FALSE(ep.listen("127.0.0.1", 0));
    ASSERT_NE(ep.port(), 0);
    runner = std::thread([this] { ioc.run(); });
  }
  void TearDown() override {
    ep.stop();
    work.reset();
    if (runner.joinable()) runner.join();
  }
};

TEST_F(endpoint_fixture, get_metrics_answers_the_text_format_and_keeps_the_connection) {
  scrape_client c(ep.port());
  ASSERT_TRUE(c.ok());
  const std::string req = "GET /metrics HTTP/1.1\r\nHost: x\r\nAccept: text/plain\r\n\r\n";
  c.send(req);
  const std::string a = c.answer();
  EXPECT_EQ(a.substr(0, 17), "HTTP/1.1 200 OK\r\n") << a;
  EXPECT_NE(a.find("Content-Type: " + std::string(text_content_type) + "\r\n"), std::string::npos)
      << a;
  EXPECT_EQ(a.substr(a.find("\r\n\r\n") + 4), "# HELP a A\n# TYPE a counter\na 1\n");
  // HTTP/1.1 keeps the connection: a second scrape on it renders again.
  c.send(req);
  EXPECT_EQ(c.answer().substr(0, 17), "HTTP/1.1 200 OK\r\n");
  EXPECT_EQ(renders.load(), 2);
}

TEST_F(endpoint_fixture, other_paths_are_404_other_methods_405_and_garbage_400) {
  {
    scrape_client c(ep.port());
    c.send("GET /other HTTP/1.1\r\nHost: x\r\n\r\n");
    EXPECT_EQ(c.answer().substr(0, 12), "HTTP/1.1 404");
    c.send("POST /metrics HTTP/1.1\r\nHost: x\r\nContent-Length: 0\r\n\r\n");
    const auto a = c.answer();
    EXPECT_EQ(a.substr(0, 12), "HTTP/1.1 405") << a;
    EXPECT_NE(a.find("Allow: GET, HEAD\r\n"), std::string::npos) << a;
  }
  {
    scrape_client c(ep.port());
    c.send("NOT HTTP AT ALL\r\n\r\n");
    EXPECT_EQ(c.answer().substr(0, 12), "HTTP/1.1 400");
    EXPECT_TRUE(c.closed_by_peer());
  }
  {
    // Connection: close is honoured.
    scrape_client c(ep.port());
    c.send("GET /metrics?x=1 HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n");
    EXPECT_EQ(c.answer().substr(0, 15), "HTTP/1.1 200 OK");
    EXPECT_TRUE(c.closed_by_peer());
  }
  EXPECT_EQ(renders.load(), 1);
}

TEST(http_endpoint, listen_refuses_a_bad_address_and_a_taken_port) {
  boost::asio::io_context ioc;
  http_endpoint a(ioc, [] { return std::string(); });
  EXPECT_TRUE(a.listen("not-an-address", 0));
  ASSERT_FALSE(a.listen("127.0.0.1", 0));
  http_endpoint b(ioc, [] { return std::string(); });
  // SO_REUSEADDR does not let a second listener take a port in LISTEN.
  EXPECT_TRUE(b.listen("127.0.0.1", a.port()));
}

}  // namespace
}  // namespace closewise::metrics

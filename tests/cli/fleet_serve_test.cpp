// End to end (issue 14): `closewise serve` restarts without downtime on one
// machine. A second serve binds the same port (SO_REUSEPORT); SIGHUP makes the
// first close its listener (taking what the kernel queued there), send 1012
// spread over a window, drain and exit 0 with its summary. The health path
// answers 200, then 503 from the SIGHUP on.
#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/socket.h>

#include <gtest/gtest.h>
#include <nlohmann/json.hpp>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <condition_variable>
#include <memory>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

#include "cli/cli_json.hpp"
#include "closewise/error.hpp"
#include "closewise/net/reconnecting_client.hpp"
#include "net/lifecycle_support.hpp"
#include "net/net_test_support.hpp"
#include "net/reconnect_support.hpp"

namespace closewise::test {
namespace {

using namespace std::chrono_literals;
using json = nlohmann::json;

/// Reads a child's stdout on a thread of its own (500 clients' events would
/// fill the pipe), keeping the JSON lines.
class stdout_log {
 public:
  explicit stdout_log(cli_process& p)
      : t_([this, &p] {
          while (auto l = p.read_line(60s)) {
            std::lock_guard lock(mu_);
            lines_.push_back(json::parse(*l, nullptr, false));
            cv_.notify_all();
          }
        }) {}
  ~stdout_log() { t_.join(); }  // the child exits (or is killed) first
  /// The first line whose event is `event`, waiting up to `timeout`.
  json wait_for(const std::string& event, std::chrono::milliseconds timeout = 20s) {
    std::unique_lock lock(mu_);
    json found = {{"event", "<timeout>"}};
    cv_.wait_for(lock, timeout, [&] {
      for (const auto& l : lines_)
        if (l.is_object() && l.value("event", "") == event) {
          found = l;
          return true;
        }
      return false;
    });
    return found;
  }

 private:
  std::mutex mu_;
  std::condition_variable cv_;
  std::vector<json> lines_;
  std::thread t_;
};

/// A port on 127.0.0.1 that was free a moment ago.
int free_port() {
  const int fd = ::socket(AF_INET, SOCK_STREAM, 0);
  sockaddr_in a{};
  a.sin_family = AF_INET;
  a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  ::bind(fd, reinterpret_cast<sockaddr*>(&a), sizeof a);
  socklen_t len = sizeof a;
  ::getsockname(fd, reinterpret_cast<sockaddr*>(&a), &len);
  ::close(fd);
  return ntohs(a.sin_port);
}

/// A plain HTTP/1.0 GET (as HAProxy's httpchk sends it); the whole answer.
std::string http_get(int port, const std::string& path) {
  net::test::raw_tcp s;
  if (!s.connect(static_cast<std::uint16_t>(port))) return {};
  if (!s.send("GET " + path + " HTTP/1.0\r\n\r\n")) return {};
  std::string all;
  while (auto part = s.recv(5s)) {
    if (part->empty()) break;
    all += *part;
  }
  return all;
}

std::vector<std::string> serve_args(int port, std::initializer_list<std::string> more) {
  auto a = cli({"serve", "--json", "--echo", "--port", std::to_string(port), "--threads", "2",
                "--drain-window-ms", "300"});
  a.insert(a.end(), more);
  return a;
}

#if defined(__SANITIZE_THREAD__)
constexpr std::size_t fleet = 200;  // TSan is ~10x slower on 2 shared cores
#else
constexpr std::size_t fleet = 500;
#endif

TEST(cli_fleet, sighup_hands_every_client_to_a_new_serve_on_the_same_port_with_clean_1012s) {
  ASSERT_GE(net::test::raise_nofile(), 4 * fleet);
  const int port = free_port();
  cli_process a(serve_args(port, {}));
  stdout_log a_out(a);
  ASSERT_EQ(a_out.wait_for("listening")["port"], port);

  net::test::io_thread io(2);
  net::test::counter opened;
  std::atomic<std::size_t> refused{0}, other_errors{0}, clean_1012{0}, other_closes{0}, gave_up{0};
  std::vector<std::unique_ptr<net::reconnecting_client>> cs;
  for (std::size_t i = 0; i < fleet; ++i) {
    auto c = std::make_unique<net::reconnecting_client>(io.ioc, net::test::test_config(i + 1));
    c->on_open([&](const net::open_info&) { opened.add(); });
    c->on_error(
        [&](std::error_code ec) { ++(ec == error::connection_refused ? refused : other_errors); });
    c->on_close([&](const close_event& ev) {
      // Failed attempts report 1006 too; on_error counted those.
      if (ev.code == close_code::service_restart && ev.was_clean) {
        ++clean_1012;
      } else if (ev.code != close_code::abnormal) {
        ++other_closes;
      }
    });
    c->on_give_up([&](const net::give_up_summary&) { ++gave_up; });
    ASSERT_FALSE(c->connect("ws://127.0.0.1:" + std::to_string(port) + "/"));
    cs.push_back(std::move(c));
  }
  // 500 upgrades on loopback take well under a second; 30 s covers sanitizers.
  ASSERT_TRUE(opened.wait_for(fleet, 30s)) << opened.get();

  cli_process b(serve_args(port, {}));
  stdout_log b_out(b);
  ASSERT_EQ(b_out.wait_for("listening")["port"], port);

  a.signal(SIGHUP);
  const json sum = a_out.wait_for("summary", 30s);
  ASSERT_EQ(sum["event"], "summary") << sum;
  EXPECT_EQ(a.wait(10s), 0);
  EXPECT_EQ(sum["shutdown"]["open"], fleet) << sum;
  EXPECT_EQ(sum["shutdown"]["clean"], fleet) << sum;
  EXPECT_EQ(sum["shutdown"]["aborted"], 0) << sum;
  EXPECT_EQ(sum["shutdown"]["failed"], 0) << sum;

  // Every client is back, on b: 1012 "retry-after=1" brings each back after 1-1.2 s.
  ASSERT_TRUE(opened.wait_for(2 * fleet, 30s)) << opened.get();
  EXPECT_EQ(refused.load(), 0u);
  EXPECT_EQ(other_errors.load(), 0u);
  EXPECT_EQ(clean_1012.load(), fleet);
  EXPECT_EQ(other_closes.load(), 0u);
  EXPECT_EQ(gave_up.load(), 0u);

  b.signal(SIGTERM);
  const json b_sum = b_out.wait_for("summary", 30s);
  EXPECT_EQ(b_sum.value("/shutdown/open"_json_pointer, json()), fleet) << b_sum;
  const std::optional<int> b_exit = b.wait(10s);
  EXPECT_EQ(b_exit, 0);
  if (b_exit != 0 || !b_sum.contains("shutdown"))
    ADD_FAILURE() << "b's stderr:\n" << b.read_stderr(2s);
  cs.clear();
}

TEST(cli_fleet, drain_rate_paces_the_1012s_by_the_number_of_clients) {
  // --drain-window-ms 0 alone would close all 100 at once; --drain-rate 200
  // stretches the window to 100 / 200 s = 500 ms, stratified over it.
  constexpr std::size_t n = 100;
  const int port = free_port();
  cli_process a(cli({"serve", "--json", "--echo", "--port", std::to_string(port), "--threads", "1",
                     "--drain-window-ms", "0", "--drain-rate", "200"}));
  stdout_log a_out(a);
  ASSERT_EQ(a_out.wait_for("listening")["port"], port);
  net::test::io_thread io(2);
  net::test::counter opened;
  std::mutex mu;
  std::vector<std::chrono::steady_clock::time_point> closed_at;
  std::vector<std::unique_ptr<net::reconnecting_client>> cs;
  for (std::size_t i = 0; i < n; ++i) {
    auto cfg = net::test::test_config(i + 1);
    cfg.policy.max_attempts = 0;  // each client counts one 1012, then stops
    auto c = std::make_unique<net::reconnecting_client>(io.ioc, cfg);
    c->on_open([&](const net::open_info&) { opened.add(); });
    c->on_close([&](const close_event& ev) {
      if (ev.code != close_code::service_restart) return;
      std::lock_guard l(mu);
      closed_at.push_back(std::chrono::steady_clock::now());
    });
    ASSERT_FALSE(c->connect("ws://127.0.0.1:" + std::to_string(port) + "/"));
    cs.push_back(std::move(c));
  }
  ASSERT_TRUE(opened.wait_for(n, 30s)) << opened.get();
  a.signal(SIGHUP);
  const json sum = a_out.wait_for("summary", 30s);
  ASSERT_EQ(sum["event"], "summary") << sum;
  EXPECT_EQ(sum["shutdown"]["clean"], n) << sum;
  EXPECT_EQ(a.wait(10s), 0);
  const std::string err = a.read_stderr(2s);
  EXPECT_NE(err.find("100 clients at 200 per second: 1012s spread over 500 ms"), std::string::npos)
      << err;
  // The clients go first: their callbacks take `mu` under their own lock, so
  // destroying them while holding `mu` would invert the order (TSan).
  cs.clear();
  std::lock_guard l(mu);
  ASSERT_EQ(closed_at.size(), n);
  const auto [lo, hi] = std::minmax_element(closed_at.begin(), closed_at.end());
  // Stratified: the first close lands in [0, 5 ms), the last in [495, 500 ms);
  // 400 ms leaves room for a slow close handshake at either end, and a window
  // of 0 (no pacing) gives a few ms.
  EXPECT_GE(*hi - *lo, 400ms);
  EXPECT_LT(*hi - *lo, 3s);
}

TEST(cli_fleet, the_health_path_answers_200_while_serving_and_503_once_draining) {
  const int port = free_port();
  cli_process s(serve_args(port, {"--health-path", "/healthz", "--drain-delay-ms", "60000"}));
  stdout_log out(s);
  ASSERT_EQ(out.wait_for("listening")["port"], port);

  const std::string ok = http_get(port, "/healthz?from=haproxy");
  EXPECT_EQ(ok.substr(0, ok.find("\r\n")), "HTTP/1.1 200 OK") << ok;
  EXPECT_NE(ok.find("\r\n\r\nok\n"), std::string::npos) << ok;
  // Another path is still no WebSocket upgrade.
  const std::string other = http_get(port, "/elsewhere");
  EXPECT_EQ(other.substr(0, 12), "HTTP/1.1 400") << other;

  s.signal(SIGHUP);
  // The drain starts on the server's thread soon after the signal; poll the
  // health path (as a load balancer does) until it turns, bounded.
  std::string draining;
  for (int i = 0; i < 100; ++i) {
    draining = http_get(port, "/healthz");
    if (draining.rfind("HTTP/1.1 503", 0) == 0) break;
    std::this_thread::sleep_for(50ms);
  }
  EXPECT_EQ(draining.substr(0, draining.find("\r\n")), "HTTP/1.1 503 Service Unavailable")
      << draining;
  EXPECT_NE(draining.find("\r\n\r\ndraining\n"), std::string::npos) << draining;

  // During the drain delay the listener still takes connections; SIGINT ends it at once.
  s.signal(SIGINT);
  EXPECT_EQ(out.wait_for("summary")["event"], "summary");
  EXPECT_EQ(s.wait(10s), 0);
}

}  // namespace
}  // namespace closewise::test

// Resume across process death (docs/resume.md §7, issue 13 part B): a client
// streams 10,000 numbered messages to `closewise serve --echo --resume
// redis://...` (a child process, with its own redis-server) while the server
// is killed with SIGKILL three times and restarted on the same port. The
// echoes prove both directions: a c->s message lost would leave a hole, one
// delivered twice would be echoed twice. Every echo must arrive exactly once,
// in order, and nothing may be handed back.
#include <gtest/gtest.h>

#include <csignal>
#include <cstdlib>
#include <future>
#include <thread>

#include "cli/cli_json.hpp"
#include "closewise/error.hpp"
#include "closewise/net/reconnecting_client.hpp"
#include "net/net_test_support.hpp"
#include "net/reconnect_support.hpp"
#include "net/resume_support.hpp"
#ifdef CLOSEWISE_HAVE_REDIS
#include "resume/redis_process.hpp"
#endif

namespace closewise::test {
namespace {

using namespace std::chrono_literals;
using net::test::resume_ledger;

/// `closewise serve` in a child, its stdout drained by a thread (10,000
/// message lines must never fill the pipe), its port read from the first line.
class serve_child {
 public:
  explicit serve_child(std::vector<std::string> args) : p_(std::move(args)) {
    auto port = port_.get_future();
    reader_ = std::thread([this] {
      bool first = true;
      while (auto line = p_.read_line(120s)) {
        if (!first) continue;
        first = false;
        auto j = nlohmann::json::parse(*line, nullptr, false);
        port_.set_value(!j.is_discarded() && j["event"] == "listening" ? j["port"].get<int>() : 0);
      }
      if (first) port_.set_value(0);
    });
    port_value_ = port.wait_for(20s) == std::future_status::ready ? port.get() : 0;
  }
  ~serve_child() {
    p_.signal(SIGKILL);
    reader_.join();
  }
  serve_child(const serve_child&) = delete;
  serve_child& operator=(const serve_child&) = delete;
  int port() const { return port_value_; }

 private:
  cli_process p_;
  std::promise<int> port_;
  int port_value_ = 0;
  std::thread reader_;
};

#ifndef CLOSEWISE_HAVE_REDIS
TEST(resume_redis_e2e, ten_thousand_messages_survive_three_sigkills_of_the_server) {
  if (std::getenv("CI")) FAIL() << "built without hiredis: the Redis store is required under CI";
  GTEST_SKIP() << "built without hiredis (libhiredis-dev)";
}
#else
TEST(resume_redis_e2e, ten_thousand_messages_survive_three_sigkills_of_the_server) {
  resume::test::redis_process redis;
  if (!redis.start()) {
    if (resume::test::in_ci()) FAIL() << "redis-server is required: " << redis.error();
    GTEST_SKIP() << redis.error();
  }
  const std::string store = "redis://127.0.0.1:" + std::to_string(redis.port());
  auto args = [&](int port) {
    return cli({"serve", "--port", std::to_string(port), "--echo", "--json", "--resume", store});
  };
  auto srv = std::make_unique<serve_child>(args(0));
  const int port = srv->port();
  ASSERT_NE(port, 0) << "closewise serve did not start";

  constexpr int total = 10'000;
  net::test::io_thread io(2);
  resume_ledger l;
  auto cfg = net::test::test_config();
  cfg.resume = resume::session_settings{};
  cfg.queue.max_messages = 20'000;
  cfg.queue.max_bytes = std::size_t{16} << 20;
  net::reconnecting_client c(io.ioc, cfg);
  c.on_message([&l](proto::message_kind, std::string_view p) { l.client_got(p); });
  c.on_undelivered([&l](std::vector<net::queued_message> m, std::error_code ec) { l.back(m, ec); });
  c.on_resume([&l](const resume::client_outcome& o) { l.outcome(o); });
  ASSERT_FALSE(c.connect("ws://127.0.0.1:" + std::to_string(port) + "/"));
  std::thread sender([&c] {
    for (int i = 1; i <= total; ++i)
      while (c.send_text(std::to_string(i))) std::this_thread::yield();
  });
  std::size_t outcomes = 1;
  for (int k : {2'000, 5'000, 8'000}) {
    ASSERT_TRUE(l.wait([k](auto& x) { return static_cast<int>(x.at_client.size()) >= k; }, 60s))
        << "the echoes never reached " << k;
    srv.reset();  // SIGKILL: no close frame, nothing flushed
    srv = std::make_unique<serve_child>(args(port));
    ASSERT_EQ(srv->port(), port) << "the restarted server did not get its port back";
    ++outcomes;
    ASSERT_TRUE(l.wait([&](auto& x) { return x.outcomes.size() >= outcomes; }, 60s))
        << "no resume after the kill at " << k;
  }
  const bool all = l.wait([](auto& x) { return x.at_client.size() >= total; }, 120s);
  sender.join();
  std::lock_guard lock(l.mu);
  EXPECT_TRUE(all) << l.at_client.size() << " echoes";
  EXPECT_TRUE(net::test::exactly_once_in_order(l.at_client, total));
  EXPECT_TRUE(l.handed_back.empty()) << l.handed_back.size() << " handed back";
  ASSERT_EQ(l.outcomes.size(), 4u);
  EXPECT_EQ(l.outcomes[0].kind, resume::client_outcome_kind::fresh);
  for (std::size_t i = 1; i < 4; ++i)
    EXPECT_EQ(l.outcomes[i].kind, resume::client_outcome_kind::resumed)
        << "connection " << i << ": " << to_string(l.outcomes[i].status);
}
#endif

}  // namespace
}  // namespace closewise::test

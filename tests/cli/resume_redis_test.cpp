// Resume across process death (docs/resume.md §7, issue 13 part B): a client
// streams 10,000 numbered messages to `closewise serve --echo --resume
// redis://...` (a child process, with its own redis-server) while the server
// is killed with SIGKILL three times and restarted on the same port. The
// echoes prove both directions: a c->s message lost would leave a hole, one
// delivered twice would be echoed twice. Every echo must arrive exactly once,
// in order, and nothing may be handed back. The same Redis-backed server then
// runs behind the fault relay (tests/net/fault_relay.hpp): TCP resets in both
// directions, and a 10-second blackhole the client's heartbeat finds.
#include <gtest/gtest.h>

#include <csignal>
#include <cstdlib>
#include <future>
#include <thread>

#include "cli/cli_json.hpp"
#include "closewise/error.hpp"
#include "closewise/net/reconnecting_client.hpp"
#include "net/fault_relay.hpp"
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
  // Below the ephemeral range, so that while the server is down no socket on
  // the machine (the client's own retries included) takes its port.
  std::unique_ptr<serve_child> srv;
  for (int tries = 0; tries < 5 && (!srv || srv->port() == 0); ++tries)
    srv = std::make_unique<serve_child>(args(net::test::restart_port()));
  const int port = srv->port();
  ASSERT_NE(port, 0) << "closewise serve did not start";

  constexpr int total = 10'000;
  net::test::io_thread io(2);
  resume_ledger l;
  net::reconnecting_client c(io.ioc, net::test::resumable());
  net::test::wire(c, l);
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
    // A new process that could not listen (a test alongside bound the port
    // explicitly, or the range starts too low for restart_port) is tried
    // again, for up to 5 s.
    const auto until = std::chrono::steady_clock::now() + 5s;
    for (;;) {
      srv = std::make_unique<serve_child>(args(port));
      if (srv->port() != 0 || std::chrono::steady_clock::now() >= until) break;
      std::this_thread::sleep_for(50ms);
    }
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

/// A Redis-backed `closewise serve --echo` behind a fault relay, and a
/// resumable client streaming 1..total through it; `fault(relay, k)` runs
/// once k echoes arrived, for each k in `at`, and must cut the connection.
/// Returns, per fault, the time from the fault to the resumed connection.
/// `late_handshakes`: how many more resumed connections than faults may come
/// (see the blackhole test).
std::vector<std::chrono::milliseconds> stream_through_redis_faults(
    const resume::test::redis_process& redis, int total, const std::vector<int>& at,
    const std::function<void(net::test::fault_relay&, int)>& fault,
    net::reconnecting_client_config cfg, std::size_t late_handshakes = 0) {
  std::vector<std::chrono::milliseconds> took;
  const std::string store = "redis://127.0.0.1:" + std::to_string(redis.port());
  serve_child srv(cli({"serve", "--port", "0", "--echo", "--json", "--resume", store}));
  if (srv.port() == 0) {
    ADD_FAILURE() << "closewise serve did not start";
    return took;
  }
  net::test::fault_relay relay("127.0.0.1", static_cast<std::uint16_t>(srv.port()));
  net::test::io_thread io(2);
  resume_ledger l;
  net::reconnecting_client c(io.ioc, net::test::resumable(std::move(cfg)));
  net::test::wire(c, l);
  EXPECT_FALSE(c.connect(relay.url()));
  // At most 256 ahead of the echoes, so each fault lands mid-stream.
  std::thread sender([&c, &l, total] {
    for (int i = 1; i <= total; ++i) {
      if (!l.wait([i](auto& x) { return static_cast<int>(x.at_client.size()) + 256 >= i; }, 60s))
        return;
      for (;;) {
        const auto ec = c.send_text(std::to_string(i));
        if (!ec) break;
        if (ec != error::queue_full) return;  // the test failed already
        std::this_thread::yield();
      }
    }
  });
  std::size_t outcomes = 1;
  for (int k : at) {
    if (!l.wait([k](auto& x) { return static_cast<int>(x.at_client.size()) >= k; }, 60s)) {
      ADD_FAILURE() << "the echoes never reached " << k;
      break;
    }
    const auto cut = std::chrono::steady_clock::now();
    fault(relay, k);
    ++outcomes;
    if (!l.wait([&](auto& x) { return x.outcomes.size() >= outcomes; }, 60s)) {
      ADD_FAILURE() << "no resume after the fault at " << k;
      break;
    }
    took.push_back(std::chrono::duration_cast<std::chrono::milliseconds>(
        std::chrono::steady_clock::now() - cut));
  }
  const bool all =
      l.wait([total](auto& x) { return static_cast<int>(x.at_client.size()) >= total; }, 120s);
  if (!all) (void)c.close();  // the sender's next send fails and it ends
  sender.join();
  std::lock_guard lock(l.mu);
  EXPECT_TRUE(all) << l.at_client.size() << " echoes";
  EXPECT_TRUE(net::test::exactly_once_in_order(l.at_client, total));
  EXPECT_TRUE(l.handed_back.empty()) << l.handed_back.size() << " handed back";
  EXPECT_GE(l.outcomes.size(), at.size() + 1);
  EXPECT_LE(l.outcomes.size(), at.size() + 1 + late_handshakes) << [&] {
    std::string seen;
    for (const auto& o : l.outcomes)
      seen += std::string(to_string(o.kind)) + "/" + std::string(to_string(o.status)) + " ";
    return seen;
  }();
  resume::seq replayed = 0;
  for (std::size_t i = 0; i < l.outcomes.size(); ++i) {
    EXPECT_EQ(l.outcomes[i].kind,
              i == 0 ? resume::client_outcome_kind::fresh : resume::client_outcome_kind::resumed)
        << "connection " << i << ": " << to_string(l.outcomes[i].status);
    replayed += l.outcomes[i].replay_in + l.outcomes[i].replay_out;
  }
  // 256 in flight at every cut: the replays, not luck, carried what was stranded.
  EXPECT_GT(replayed, 0u);
  return took;
}

/// Starts the test's redis-server, or fails (CI) or skips the test.
#define START_REDIS(redis)                                                              \
  resume::test::redis_process redis;                                                    \
  if (!redis.start()) {                                                                 \
    if (resume::test::in_ci()) FAIL() << "redis-server is required: " << redis.error(); \
    GTEST_SKIP() << redis.error();                                                      \
  }

TEST(resume_redis_e2e, ten_thousand_messages_survive_tcp_resets_both_ways) {
  START_REDIS(redis);
  const auto took = stream_through_redis_faults(
      redis, 10'000, {2'000, 5'000, 8'000},
      [](net::test::fault_relay& r, int k) {
        r.reset_after(
            k == 5'000 ? net::test::direction::downstream : net::test::direction::upstream, 0);
      },
      net::test::test_config());
  EXPECT_EQ(took.size(), 3u);
}

TEST(resume_redis_e2e, ten_thousand_messages_survive_a_ten_second_blackhole) {
  // No RST, no FIN: the client's heartbeat (interval + grace = 300 ms) finds
  // the dead path, and every reconnect during the blackhole stalls in its
  // handshake (2 s timeout) until the path heals after 10 s. The session must
  // wait in Redis through all of it.
  //
  // When the path heals, the relay delivers the handshakes of the attempts the
  // client gave up on (about 4: one per 2 s timeout) together with the live
  // one, in any order. Each carries its attempt number (docs/resume.md §6.1):
  // one that reaches Redis after the live one is refused with 409; one that
  // reaches it first holds the session only until the live attempt supersedes
  // it, unseen by the client. Before attempts were counted, a late one could
  // supersede the live connection and make the client resume again; up to 5
  // extra resumes are still allowed (a reconnect of the live attempt itself may
  // time out as the path heals), and the counts below stay exact.
  auto cfg = net::test::test_config();
  cfg.heartbeat.interval = 150ms;
  cfg.heartbeat.grace = 150ms;
  cfg.connection.handshake_timeout = 2s;
  START_REDIS(redis);
  const auto took = stream_through_redis_faults(
      redis, 10'000, {4'000}, [](net::test::fault_relay& r, int) { r.blackhole(10s); }, cfg, 5);
  ASSERT_EQ(took.size(), 1u);
  // The resume cannot come before the path heals: this proves the blackhole held.
  EXPECT_GE(took[0], 9'900ms);
  EXPECT_LT(took[0], 20s);
}
#endif

}  // namespace
}  // namespace closewise::test

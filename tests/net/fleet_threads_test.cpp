// server_config::threads (issue 14): connections spread over the server's own
// threads, echo on all of them, and one shutdown with 1012 ends every one cleanly.
#include "closewise/net/server.hpp"

#include <gtest/gtest.h>

#include <atomic>
#include <map>
#include <memory>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

#include "closewise/net/client.hpp"
#include "net/lifecycle_support.hpp"
#include "net/net_test_support.hpp"

namespace closewise::net::test {
namespace {

#if defined(__SANITIZE_THREAD__)
// TSan runs everything about 10x slower on 2 shared cores; 1,000 clients then
// take most of a minute. 250 still puts 60+ on each of the 4 threads.
constexpr std::size_t clients = 250;
#else
constexpr std::size_t clients = 1000;
#endif
constexpr std::size_t server_threads = 4;

TEST(fleet_threads, connections_spread_over_the_threads_echo_and_shut_down_cleanly_with_1012) {
  ASSERT_GE(raise_nofile(), 2 * clients + 100);
  io_thread client_io(2);
  io_thread listener_io(1);
  server_config cfg;
  cfg.threads = server_threads;
  auto srv = std::make_unique<server>(listener_io.ioc, cfg);

  std::mutex mu;
  std::map<std::thread::id, std::size_t> per_thread;  // sessions opened on each thread
  srv->on_open([&](session&) {
    std::lock_guard lock(mu);
    ++per_thread[std::this_thread::get_id()];
  });
  srv->on_message(
      [](session& s, proto::message_kind k, std::string_view d) { (void)s.send(k, d); });
  ASSERT_FALSE(srv->listen("127.0.0.1", 0));
  const std::string url = "ws://127.0.0.1:" + std::to_string(srv->port()) + "/";

  counter opened, echoed, closed;
  std::atomic<std::size_t> clean_1012{0};
  std::vector<std::unique_ptr<client>> cs;
  cs.reserve(clients);
  for (std::size_t i = 0; i < clients; ++i) {
    auto c = std::make_unique<client>(client_io.ioc);
    client* raw = c.get();
    const std::string msg = "hello " + std::to_string(i);
    c->on_open([&, raw, msg](const open_info&) {
      opened.add();
      (void)raw->send_text(msg);
    });
    c->on_message([&, msg](proto::message_kind, std::string_view d) {
      if (d == msg) echoed.add();
    });
    c->on_close([&](const close_event& ev) {
      if (ev.code == close_code::service_restart && ev.was_clean &&
          ev.initiator == initiator::remote && ev.reason == "retry-after=1")
        clean_1012.fetch_add(1);
      closed.add();
    });
    ASSERT_FALSE(c->connect(url));
    cs.push_back(std::move(c));
  }
  // Bounds: 1,000 upgrades and echoes on loopback take well under a second
  // normally; 30 s leaves room for a loaded machine under sanitizers.
  ASSERT_TRUE(opened.wait_for(clients, 30s)) << opened.get();
  ASSERT_TRUE(echoed.wait_for(clients, 30s)) << echoed.get();
  EXPECT_EQ(srv->session_count(), clients);

  {
    // Round-robin: every thread got clients / threads sessions, rounded down
    // or up (250 under TSan does not divide by 4), and together all of them.
    std::lock_guard lock(mu);
    ASSERT_EQ(per_thread.size(), server_threads);
    const std::size_t lo = clients / server_threads;
    const std::size_t hi = lo + (clients % server_threads != 0 ? 1 : 0);
    std::size_t sum = 0;
    for (const auto& [id, n] : per_thread) {
      EXPECT_GE(n, lo);
      EXPECT_LE(n, hi);
      sum += n;
    }
    EXPECT_EQ(sum, clients);
  }

  // A broadcast from a thread of none of them reaches every session.
  const auto b = srv->broadcast(proto::message_kind::text, "to all");
  EXPECT_EQ(b.queued, clients);
  EXPECT_EQ(b.refused, 0u);

  shutdown_options so;
  so.code = close_code::service_restart;
  so.reason = "retry-after=1";
  so.spread = 200ms;
  so.drain_deadline = 30s;
  const auto sum = srv->shutdown_and_wait(so);
  EXPECT_FALSE(sum.error);
  EXPECT_EQ(sum.total, clients);
  EXPECT_EQ(sum.clean, clients);
  EXPECT_EQ(sum.aborted + sum.failed, 0u);
  ASSERT_TRUE(closed.wait_for(clients, 30s)) << closed.get();
  EXPECT_EQ(clean_1012.load(), clients);
  EXPECT_EQ(srv->session_count(), 0u);
  srv.reset();  // joins the server's threads
  cs.clear();
}

TEST(fleet_threads, max_connections_counts_across_threads) {
  io_thread client_io(1);
  io_thread listener_io(1);
  server_config cfg;
  cfg.threads = 3;
  cfg.max_connections = 10;
  cfg.on_overload = overload_action::close_1013;
  server srv(listener_io.ioc, cfg);
  ASSERT_FALSE(srv.listen("127.0.0.1", 0));
  const std::string url = "ws://127.0.0.1:" + std::to_string(srv.port()) + "/";

  counter opened, shed;
  std::vector<std::unique_ptr<client>> cs;
  for (int i = 0; i < 10; ++i) {
    auto c = std::make_unique<client>(client_io.ioc);
    c->on_open([&](const open_info&) { opened.add(); });
    ASSERT_FALSE(c->connect(url));
    cs.push_back(std::move(c));
  }
  ASSERT_TRUE(opened.wait_for(10));
  for (int i = 0; i < 6; ++i) {
    auto c = std::make_unique<client>(client_io.ioc);
    c->on_close([&](const close_event& ev) {
      if (ev.code == close_code::try_again_later) shed.add();
    });
    ASSERT_FALSE(c->connect(url));
    cs.push_back(std::move(c));
  }
  ASSERT_TRUE(shed.wait_for(6)) << shed.get();
  EXPECT_EQ(srv.shed_count(), 6u);
  EXPECT_EQ(srv.session_count(), 10u);
  cs.clear();
}

TEST(fleet_threads, destroying_the_server_aborts_and_joins_its_threads) {
  io_thread client_io(1);
  io_thread listener_io(1);
  server_config cfg;
  cfg.threads = 2;
  auto srv = std::make_unique<server>(listener_io.ioc, cfg);
  ASSERT_FALSE(srv->listen("127.0.0.1", 0));
  const std::string url = "ws://127.0.0.1:" + std::to_string(srv->port()) + "/";
  counter opened, closed;
  std::vector<std::unique_ptr<client>> cs;
  for (int i = 0; i < 8; ++i) {
    auto c = std::make_unique<client>(client_io.ioc);
    c->on_open([&](const open_info&) { opened.add(); });
    c->on_close([&](const close_event&) { closed.add(); });
    ASSERT_FALSE(c->connect(url));
    cs.push_back(std::move(c));
  }
  ASSERT_TRUE(opened.wait_for(8));
  std::shared_ptr<session> kept = srv->sessions().front();  // outlives the server
  srv.reset();
  ASSERT_TRUE(closed.wait_for(8));
  // Its immutable accessors stay readable. (Calls that would run on its thread
  // are not made: the joined pool runs nothing, so their handler would keep
  // the session, and the pool with it, alive; a known gap, see server.hpp.)
  EXPECT_GT(kept->id(), 0u);
  kept.reset();
  cs.clear();
}

}  // namespace
}  // namespace closewise::net::test

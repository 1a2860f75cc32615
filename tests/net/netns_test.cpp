// Faults the kernel makes, in two network namespaces joined by a veth pair
// (tests/net/netns.hpp): a partition (`ip link set DEV down`: packets vanish,
// no FIN, no RST) and a bandwidth limit (tbf). The server runs in namespace b,
// the client in namespace a; nothing leaves the pair. When namespaces cannot
// be made, each test fails with one line under CI=true and is skipped elsewhere
// (scripts/test.sh then reports the skip and fails unless ALLOW_SKIP=1).
#include "net/netns.hpp"

#include <gtest/gtest.h>

#include <iostream>

#include "closewise/error.hpp"
#include "closewise/net/client.hpp"
#include "closewise/net/reconnecting_client.hpp"
#include "net/netns_support.hpp"

namespace closewise::net::test {
namespace {

using namespace std::chrono_literals;
using ce = client_event;

TEST(netns, partition_reconnecting_client_finds_it_by_heartbeat_and_returns_after_it) {
  REQUIRE_NETNS();
  ns_path path;
  ASSERT_TRUE(path.nets.ok()) << path.nets.error();
  ASSERT_FALSE(path.listen_error) << path.listen_error.message();
  channel<rc_event> ch;
  reconnecting_client c(path.client_io.ioc, fault_client_config());
  record(c, ch);
  c.on_undelivered(
      [&](std::vector<queued_message> m, std::error_code) { path.book.handed_back(m); });
  ASSERT_FALSE(path.connect(c));
  expect_next(ch, rc_event::open);
  for (int i = 0; i < 5; ++i) {
    const std::string m = "a" + std::to_string(i);
    ASSERT_FALSE(c.send_text(m));
    path.book.sent(m);
    EXPECT_EQ(expect_next(ch, rc_event::message).data, m);
  }
  const auto last = steady::now();
  ASSERT_TRUE(path.nets.link_down(side::b)) << path.nets.error();
  const auto cut = steady::now();

  const auto dead = expect_next(ch, rc_event::close, 5s);
  EXPECT_EQ(dead.close_ev, closed_with(close_code::abnormal, "", false, initiator::none,
                                       error::heartbeat_timeout));
  const auto took = ms_between(last, dead.at);
  EXPECT_GE(took, 1600ms) << "interval + grace = 2 s, -20%";
  EXPECT_LE(took, 2400ms) << "interval + grace = 2 s, +20%";
  std::cout << "[ netns ] partition: heartbeat death " << took.count()
            << " ms after the last frame\n";
  for (int i = 0; i < 5; ++i) {
    const std::string m = "q" + std::to_string(i);
    ASSERT_FALSE(c.send_text(m));
    path.book.sent(m);
  }
  // While partitioned, SYNs vanish: every attempt ends by its connect timeout.
  const auto s1 = expect_next(ch, rc_event::scheduled);
  EXPECT_EQ(s1.attempt, 1u);
  EXPECT_EQ(s1.cause, "1006 Abnormal Closure");
  EXPECT_EQ(expect_next(ch, rc_event::error, 3s).ec, error::connect_timeout);
  EXPECT_EQ(expect_next(ch, rc_event::close).close_ev,
            closed_with(close_code::abnormal, "", false, initiator::none, error::connect_timeout));
  const auto s2 = expect_next(ch, rc_event::scheduled);
  EXPECT_EQ(s2.attempt, 2u);
  EXPECT_GE(s2.delay, 20ms);
  EXPECT_LT(s2.delay, 60ms);
  ASSERT_TRUE(path.nets.link_up(side::b)) << path.nets.error();
  const auto healed = steady::now();
  // The attempt in flight may still be waiting for a lost SYN's retransmit
  // (1 s later); at worst it times out and the next one gets through.
  std::optional<rc_event> back;
  while (!back) {
    auto e = ch.pop(5s);
    ASSERT_TRUE(e) << "no event for 5 s after the link came back";
    if (e->type == rc_event::open) back = *e;
  }
  EXPECT_LE(ms_between(healed, back->at), 2500ms);
  std::cout << "[ netns ] partition of " << ms_between(cut, healed).count() << " ms; back "
            << ms_between(healed, back->at).count() << " ms after the link came up\n";
  for (int i = 0; i < 5; ++i)
    EXPECT_EQ(expect_next(ch, rc_event::message).data, "q" + std::to_string(i));
  ASSERT_FALSE(c.close());
  EXPECT_EQ(expect_next(ch, rc_event::close).close_ev.code, close_code::normal);
  path.book.expect_exact();
}

TEST(netns, partition_plain_client_close_ends_by_its_timeout_and_the_server_by_its_heartbeat) {
  REQUIRE_NETNS();
  server_config scfg;
  scfg.idle_ping_interval = 500ms;
  scfg.idle_timeout = 500ms;
  ns_path path(scfg);
  ASSERT_TRUE(path.nets.ok()) << path.nets.error();
  ASSERT_FALSE(path.listen_error);
  channel<client_event> ev;
  client_config ccfg;
  ccfg.close_timeout = 500ms;
  client c(path.client_io.ioc, ccfg);
  record(c, ev);
  ASSERT_FALSE(path.connect(c));
  next_of(ev, ce::opened);
  ASSERT_FALSE(c.send_text("x"));
  path.book.sent("x");
  EXPECT_EQ(next_of(ev, ce::message).data, "x");
  const auto last = steady::now();
  ASSERT_TRUE(path.nets.link_down(side::a)) << path.nets.error();
  const auto sc = path.es.closes.pop();
  ASSERT_TRUE(sc);
  EXPECT_EQ(sc->ev,
            cev(close_code::abnormal, "", false, initiator::none, error::heartbeat_timeout));
  const auto took = ms_between(last, steady::now());
  EXPECT_GE(took, 800ms) << "500 + 500 ms, -20%";
  EXPECT_LE(took, 1700ms) << "500 + 500 ms, +20%, and scheduling under TSan";
  const auto t0 = steady::now();
  ASSERT_FALSE(c.close());
  EXPECT_EQ(next_of(ev, ce::closed).close,
            cev(close_code::abnormal, "", false, initiator::local, error::close_timeout));
  EXPECT_GE(ms_between(t0, steady::now()), 500ms);
  EXPECT_LT(ms_between(t0, steady::now()), 1500ms);
  path.book.expect_exact();
}

// tbf: a slow link is not a dead one. 256 KiB in 32 messages at 1 Mbit/s
// take about 2 s, longer than interval + grace; each message arriving is life.
// (One 256 KiB message is not: see netns_known_bug_test.cpp.)
TEST(netns, bandwidth_limit_slows_a_stream_of_messages_and_the_heartbeat_keeps_it) {
  REQUIRE_NETNS();
  ns_path path;
  ASSERT_TRUE(path.nets.ok()) << path.nets.error();
  ASSERT_FALSE(path.listen_error);
  channel<rc_event> ch;
  reconnecting_client c(path.client_io.ioc, fault_client_config());
  record(c, ch);
  ASSERT_FALSE(path.connect(c));
  expect_next(ch, rc_event::open);
  ASSERT_TRUE(path.nets.limit_rate(side::b, "1mbit", 16 * 1024)) << path.nets.error();
  constexpr std::size_t size = 8 * 1024, count = 32;
  const auto t0 = steady::now();
  for (std::size_t i = 0; i < count; ++i) {
    const std::string m = "blob:" + std::to_string(size) + ":" + std::to_string(i);
    ASSERT_FALSE(c.send_text(m));
    path.book.sent(m);
  }
  steady::time_point last;
  for (std::size_t i = 0; i < count; ++i) {
    const auto m = expect_next(ch, rc_event::message, 5s);
    ASSERT_EQ(m.data, std::string(size, 'b'));
    last = m.at;
  }
  const auto took = ms_between(t0, last);
  // (256 KiB - the 16 KiB burst) at 125,000 bytes/s is 1.97 s; the bound is
  // 20% under it (the rate is what tbf enforces, not our code).
  EXPECT_GE(took, 1570ms);
  std::cout << "[ netns ] 32 x 8 KiB through a 1 Mbit/s tbf in " << took.count() << " ms\n";
  EXPECT_EQ(c.get_state(), reconnect_state::open);
  ASSERT_FALSE(c.close());
  EXPECT_EQ(expect_next(ch, rc_event::close).close_ev.code, close_code::normal);
  path.book.expect_exact();
}

// With nothing listening on a loopback port inside the client's ephemeral
// range, connect() may be given that very port as its own: SYN to itself,
// simultaneous open (RFC 9293 §3.5), a socket joined to itself. The client
// must see "refused" (nothing listened), not an upgrade that read back its own
// request, and must not hold the port a restarting server needs. A namespace
// with two ephemeral ports makes it certain: connect() tries the port of the
// range's low parity first.
TEST(netns, a_client_given_the_servers_port_as_its_own_reports_refused_and_frees_it) {
  REQUIRE_NETNS();
  netns_pair nets;
  ASSERT_TRUE(nets.ok()) << nets.error();
  ASSERT_TRUE(run_quiet("ip netns exec " + nets.name(side::a) +
                        " sysctl -q -w net.ipv4.ip_local_port_range='40000 40001'"));
  netns_io_thread io(nets.fd(side::a));
  ASSERT_TRUE(io.ok());
  channel<client_event> ev;
  client c(io.ioc);
  record(c, ev);
  std::error_code started;
  io.run_inside([&] { started = c.connect("ws://127.0.0.1:40000/"); });
  ASSERT_FALSE(started) << started.message();
  EXPECT_EQ(next_of(ev, ce::errored).ec, error::connection_refused);
  EXPECT_EQ(next_of(ev, ce::closed).close,
            cev(close_code::abnormal, "", false, initiator::none, error::connection_refused));
  // The port is free for the server, and a client reaches it.
  event_server es(io.ioc);
  std::error_code listened;
  io.run_inside([&] { listened = es.srv.listen("127.0.0.1", 40000); });
  ASSERT_FALSE(listened) << listened.message();
  channel<client_event> ev2;
  client c2(io.ioc);
  record(c2, ev2);
  io.run_inside([&] { started = c2.connect("ws://127.0.0.1:40000/"); });
  ASSERT_FALSE(started);
  next_of(ev2, ce::opened);
  ASSERT_FALSE(c2.close());
  EXPECT_EQ(next_of(ev2, ce::closed).close.code, close_code::normal);
}

}  // namespace
}  // namespace closewise::net::test

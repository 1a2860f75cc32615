// The fault relay itself, with plain sockets on both ends: the fault tests
// trust it, so each fault it offers is checked to do exactly what it says.
#include "net/fault_relay.hpp"

#include <gtest/gtest.h>

#include <cerrno>
#include <thread>

#include "net/net_test_support.hpp"

namespace closewise::net::test {
namespace {

using namespace std::chrono_literals;
using steady = std::chrono::steady_clock;

/// A client connected through the relay to a raw listener, and the accepted end.
struct relayed_pair {
  raw_listener target;
  fault_relay relay{"127.0.0.1", target.port()};
  raw_tcp client;
  raw_tcp server;
  bool connect() {
    if (!client.connect(relay.port())) return false;
    auto s = target.accept();
    if (!s) return false;
    server = std::move(*s);
    return true;
  }
};

/// Reads exactly `n` bytes (or fewer on EOF, error or timeout).
std::string read_n(raw_tcp& t, std::size_t n, std::chrono::milliseconds limit = wait_limit) {
  std::string all;
  const auto end = steady::now() + limit;
  while (all.size() < n && steady::now() < end) {
    auto part = t.recv(std::chrono::duration_cast<std::chrono::milliseconds>(end - steady::now()));
    if (!part || part->empty()) break;
    all += *part;
  }
  return all;
}

TEST(fault_relay, passes_bytes_both_ways_and_the_fin) {
  relayed_pair p;
  ASSERT_TRUE(p.connect());
  ASSERT_TRUE(p.client.send("ping"));
  EXPECT_EQ(read_n(p.server, 4), "ping");
  ASSERT_TRUE(p.server.send("pong"));
  EXPECT_EQ(read_n(p.client, 4), "pong");
  ::shutdown(p.client.fd(), SHUT_WR);
  EXPECT_EQ(p.server.recv(), std::string()) << "the client's FIN reached the server";
  EXPECT_EQ(p.relay.accepted(), 1u);
  EXPECT_EQ(p.relay.forwarded(direction::upstream), 4u);
  EXPECT_EQ(p.relay.forwarded(direction::downstream), 4u);
}

TEST(fault_relay, latency_delays_each_direction) {
  relayed_pair p;
  p.relay.set_faults(direction::upstream, {200ms, 0ms, 0});
  p.relay.set_faults(direction::downstream, {100ms, 0ms, 0});
  ASSERT_TRUE(p.connect());
  const auto t0 = steady::now();
  ASSERT_TRUE(p.client.send("x"));
  EXPECT_EQ(read_n(p.server, 1), "x");
  const auto up = steady::now() - t0;
  ASSERT_TRUE(p.server.send("y"));
  EXPECT_EQ(read_n(p.client, 1), "y");
  const auto down = steady::now() - t0 - up;
  // A timer fires late, never early; the upper bounds only catch a lost delay.
  EXPECT_GE(up, 200ms);
  EXPECT_LT(up, 200ms + 500ms);
  EXPECT_GE(down, 100ms);
  EXPECT_LT(down, 100ms + 500ms);
}

TEST(fault_relay, jitter_never_reorders_bytes) {
  relayed_pair p;
  p.relay.set_faults(direction::upstream, {5ms, 40ms, 0});
  ASSERT_TRUE(p.connect());
  std::string sent;
  for (int i = 0; i < 200; ++i) {
    const std::string piece = std::to_string(i) + ",";
    sent += piece;
    ASSERT_TRUE(p.client.send(piece));
    if (i % 20 == 0) std::this_thread::sleep_for(1ms);  // several chunks, several delays
  }
  EXPECT_EQ(read_n(p.server, sent.size()), sent);
}

TEST(fault_relay, one_byte_segments_are_one_send_per_byte) {
  relayed_pair p;
  p.relay.set_faults(direction::downstream, {0ms, 0ms, 1});
  ASSERT_TRUE(p.connect());
  const std::string msg(64, 'z');
  ASSERT_TRUE(p.server.send(msg));
  std::size_t got = 0;
  while (got < msg.size()) {
    auto part = p.client.recv();
    ASSERT_TRUE(part && !part->empty());
    got += part->size();
  }
  EXPECT_EQ(got, msg.size());
  // One send per byte, Nagle off: one segment each (the receiver may still
  // find several queued when it reads, so count the relay's sends).
  // The last send's completion may run just after the client read its byte.
  const auto until = steady::now() + 2s;
  while (p.relay.sends(direction::downstream) < msg.size() && steady::now() < until)
    std::this_thread::sleep_for(1ms);
  EXPECT_EQ(p.relay.sends(direction::downstream), msg.size());
}

/// Reads until the stream ends; returns the bytes and the errno of the end
/// (ECONNRESET for a reset, 0 for a FIN, ETIMEDOUT when nothing ended it).
std::pair<std::string, int> read_to_end(raw_tcp& t, std::chrono::milliseconds limit = 3000ms) {
  std::string all;
  const auto end = steady::now() + limit;
  for (;;) {
    const auto left = std::chrono::duration_cast<std::chrono::milliseconds>(end - steady::now());
    pollfd pf{t.fd(), POLLIN, 0};
    if (left.count() <= 0 || ::poll(&pf, 1, static_cast<int>(left.count())) != 1)
      return {all, ETIMEDOUT};
    char buf[4096];
    const auto n = ::recv(t.fd(), buf, sizeof buf, 0);
    if (n < 0) return {all, errno};
    if (n == 0) return {all, 0};
    all.append(buf, static_cast<std::size_t>(n));
  }
}

TEST(fault_relay, reset_after_delivers_exactly_k_bytes_then_rst) {
  for (std::size_t k : {std::size_t{0}, std::size_t{1}, std::size_t{1000}}) {
    SCOPED_TRACE(k);
    relayed_pair p;
    ASSERT_TRUE(p.connect());
    ASSERT_TRUE(p.server.send("before"));
    EXPECT_EQ(read_n(p.client, 6), "before");
    p.relay.reset_after(direction::downstream, k);
    ASSERT_TRUE(p.server.send(std::string(5000, 'r')));
    const auto [got, why] = read_to_end(p.client);
    EXPECT_EQ(got, std::string(k, 'r'));
    EXPECT_EQ(why, ECONNRESET);
    EXPECT_EQ(p.relay.resets(), 1u);
    // The sender's side was reset too.
    EXPECT_EQ(read_to_end(p.server).second, ECONNRESET);
  }
}

TEST(fault_relay, blackhole_carries_nothing_until_it_heals) {
  relayed_pair p;
  ASSERT_TRUE(p.connect());
  p.relay.blackhole(600ms);
  const auto t0 = steady::now();
  ASSERT_TRUE(p.client.send("during"));
  ASSERT_TRUE(p.server.send("during"));
  EXPECT_FALSE(p.server.recv(300ms)) << "nothing crosses a blackhole";
  EXPECT_FALSE(p.client.recv(10ms));
  EXPECT_EQ(read_n(p.server, 6, 3000ms), "during");
  EXPECT_GE(steady::now() - t0, 600ms) << "healed by itself, not before";
  EXPECT_EQ(read_n(p.client, 6, 3000ms), "during");
}

TEST(fault_relay, stall_one_direction_and_heal_at_once) {
  relayed_pair p;
  ASSERT_TRUE(p.connect());
  p.relay.stall(direction::upstream);
  ASSERT_TRUE(p.client.send("held"));
  ASSERT_TRUE(p.server.send("free"));
  EXPECT_EQ(read_n(p.client, 4), "free") << "the other direction still flows";
  EXPECT_FALSE(p.server.recv(200ms));
  p.relay.heal();
  EXPECT_EQ(read_n(p.server, 4), "held");
}

}  // namespace
}  // namespace closewise::net::test

#include "closewise/net/heartbeat.hpp"

#include <gtest/gtest.h>

using closewise::net::heartbeat;
using closewise::net::heartbeat_config;
using namespace std::chrono_literals;
using action = heartbeat::action;

namespace {
const heartbeat::clock::time_point t0{};
}

TEST(heartbeat, pings_after_interval_of_silence_then_times_out_at_interval_plus_grace) {
  heartbeat hb({1000ms, 500ms, 0.0});
  hb.start(t0, 0.0);
  EXPECT_EQ(hb.poll(t0 + 999ms), action::none);
  EXPECT_EQ(hb.next_wakeup(), t0 + 1000ms);
  EXPECT_EQ(hb.poll(t0 + 1000ms), action::send_ping);
  EXPECT_EQ(hb.next_wakeup(), t0 + 1500ms);
  EXPECT_EQ(hb.poll(t0 + 1499ms), action::none);
  EXPECT_EQ(hb.poll(t0 + 1500ms), action::timeout);
  EXPECT_EQ(hb.poll(t0 + 5000ms), action::none) << "a timeout is reported once";
}

TEST(heartbeat, inbound_traffic_postpones_everything) {
  heartbeat hb({1000ms, 500ms, 0.0});
  hb.start(t0, 0.0);
  hb.on_inbound(t0 + 900ms);
  EXPECT_EQ(hb.poll(t0 + 1000ms), action::none);
  EXPECT_EQ(hb.next_wakeup(), t0 + 1900ms);
  EXPECT_EQ(hb.poll(t0 + 1900ms), action::send_ping);
  hb.on_inbound(t0 + 1950ms);  // the pong
  EXPECT_EQ(hb.poll(t0 + 2400ms), action::none);
  EXPECT_EQ(hb.poll(t0 + 2950ms), action::send_ping);
}

TEST(heartbeat, first_ping_is_jittered) {
  heartbeat a({1000ms, 500ms, 0.5}), b({1000ms, 500ms, 0.5});
  a.start(t0, 0.0);
  b.start(t0, 0.999);
  EXPECT_EQ(a.next_wakeup(), t0 + 1000ms);
  EXPECT_LT(b.next_wakeup(), t0 + 501ms);
  EXPECT_GE(b.next_wakeup(), t0 + 500ms);
}

TEST(heartbeat, grace_longer_than_interval_pings_again) {
  heartbeat hb({100ms, 250ms, 0.0});
  hb.start(t0, 0.0);
  EXPECT_EQ(hb.poll(t0 + 100ms), action::send_ping);
  EXPECT_EQ(hb.poll(t0 + 200ms), action::send_ping);
  EXPECT_EQ(hb.poll(t0 + 300ms), action::send_ping);
  EXPECT_EQ(hb.poll(t0 + 350ms), action::timeout);
}

TEST(heartbeat, disabled_never_acts) {
  heartbeat hb({0ms, 0ms, 0.0});
  hb.start(t0, 0.5);
  EXPECT_EQ(hb.poll(t0 + 1h), action::none);
}

// pause_reading(): the silence is ours, so it is never a dead-peer verdict;
// pings go on, and the peer's silence counts again from the release.
TEST(heartbeat, held_pings_on_but_never_times_out_until_released) {
  heartbeat hb({1000ms, 500ms, 0.0});
  hb.start(t0, 0.0);
  hb.hold();
  EXPECT_TRUE(hb.held());
  EXPECT_EQ(hb.next_wakeup(), t0 + 1000ms);
  EXPECT_EQ(hb.poll(t0 + 1000ms), action::send_ping);
  EXPECT_EQ(hb.next_wakeup(), t0 + 2000ms) << "no timeout deadline while held";
  EXPECT_EQ(hb.poll(t0 + 1500ms), action::none);
  EXPECT_EQ(hb.poll(t0 + 2000ms), action::send_ping);
  hb.probe(t0 + 2100ms);
  EXPECT_EQ(hb.poll(t0 + 2400ms), action::none) << "a probe waits for the release too";
  hb.release(t0 + 10000ms);
  EXPECT_FALSE(hb.held());
  EXPECT_EQ(hb.poll(t0 + 10999ms), action::none);
  EXPECT_EQ(hb.poll(t0 + 11000ms), action::send_ping);
  EXPECT_EQ(hb.poll(t0 + 11500ms), action::timeout);
}

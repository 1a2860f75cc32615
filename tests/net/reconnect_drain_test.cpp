// The reconnecting client hands its queue to the connection as the connection
// drains (net::client::on_drain), with no polling: a window of one byte makes
// every message wait for the drain of the one before.
#include "closewise/net/reconnecting_client.hpp"

#include <gtest/gtest.h>

#include "closewise/error.hpp"
#include "net/reconnect_support.hpp"

namespace closewise::net::test {
namespace {

TEST(reconnect_drain, a_one_byte_window_sends_every_message_on_the_previous_drain) {
  io_thread server_io;
  scripted_server srv(server_io.ioc, {step{step::stay}});
  ASSERT_FALSE(srv.ec);
  srv.echo = true;
  io_thread io;
  auto cfg = test_config();
  cfg.max_unconfirmed_bytes = 1;  // one message in flight at a time
  reconnecting_client c(io.ioc, cfg);
  channel<rc_event> ch;
  record(c, ch);
  constexpr int n = 300;
  for (int i = 0; i < n; ++i) ASSERT_FALSE(c.send_text(std::to_string(i)));
  ASSERT_FALSE(c.connect(srv.url()));
  expect_next(ch, rc_event::open);
  for (int i = 0; i < n; ++i) EXPECT_EQ(expect_next(ch, rc_event::message).data, std::to_string(i));
  EXPECT_EQ(c.queued(), 0u);
  ASSERT_FALSE(c.close());
  EXPECT_TRUE(expect_next(ch, rc_event::close).close_ev.was_clean);
}

// close() drains the queue through the same window before its close frame.
TEST(reconnect_drain, close_drains_a_one_byte_window_before_the_close_frame) {
  io_thread server_io;
  scripted_server srv(server_io.ioc, {step{step::stay}});
  ASSERT_FALSE(srv.ec);
  io_thread io;
  auto cfg = test_config();
  cfg.max_unconfirmed_bytes = 1;
  reconnecting_client c(io.ioc, cfg);
  channel<rc_event> ch;
  record(c, ch);
  ASSERT_FALSE(c.connect(srv.url()));
  expect_next(ch, rc_event::open);
  constexpr int n = 200;
  for (int i = 0; i < n; ++i) ASSERT_FALSE(c.send_text(std::to_string(i)));
  ASSERT_FALSE(c.close());
  EXPECT_TRUE(expect_next(ch, rc_event::close).close_ev.was_clean);
  const auto got = srv.received();
  ASSERT_EQ(got.size(), static_cast<std::size_t>(n));
  for (int i = 0; i < n; ++i) EXPECT_EQ(got[static_cast<std::size_t>(i)], std::to_string(i));
}

}  // namespace
}  // namespace closewise::net::test

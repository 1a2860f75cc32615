// A peer that is sending one large frame slowly is alive: ARCHITECTURE §4
// says the heartbeat acts on idle *inbound traffic*, and a peer cannot answer
// our ping in the middle of a frame (RFC 6455 §5.4: control frames go between
// fragments, never inside a frame), so only the bytes say it is alive. (Once a
// known bug: the reconnecting client's own heartbeat counted complete frames
// only; since the network redesign the driver's one heartbeat counts bytes.)
#include "closewise/net/reconnecting_client.hpp"

#include <gtest/gtest.h>

#include <thread>

#include "closewise/error.hpp"
#include "closewise/proto/handshake.hpp"
#include "net/netns_support.hpp"

namespace closewise::net::test {
namespace {

using namespace std::chrono_literals;

// The minimal reproduction, no namespaces needed: a peer sends a 16-byte
// binary frame one byte every 250 ms (4 s in all) and never goes silent for
// more than 250 ms. Heartbeat 1 s + 1 s.
TEST(heartbeat_slow_frame, bytes_of_a_slow_frame_are_life) {
  raw_listener listener;
  io_thread io;
  channel<rc_event> ch;
  reconnecting_client c(io.ioc, fault_client_config());
  record(c, ch);
  ASSERT_FALSE(c.connect("ws://127.0.0.1:" + std::to_string(listener.port()) + "/"));
  auto peer = listener.accept();
  ASSERT_TRUE(peer);
  const std::string req = peer->recv_until("\r\n\r\n");
  proto::server_handshake hs;
  std::size_t used = 0;
  ASSERT_EQ(hs.receive(req, used), proto::server_handshake::result::valid);
  ASSERT_TRUE(peer->send(hs.accept()));
  expect_next(ch, rc_event::open);
  ASSERT_TRUE(peer->send(std::string("\x82\x10", 2)));  // binary, FIN, 16 bytes
  for (int i = 0; i < 16; ++i) {
    std::this_thread::sleep_for(250ms);
    if (!peer->send(std::string(1, static_cast<char>('a' + i)))) break;  // the client dropped us
  }
  const auto e = ch.pop(2s);
  ASSERT_TRUE(e);
  EXPECT_EQ(name(e->type), std::string("message"))
      << "the peer was declared dead while its bytes arrived every 250 ms: "
      << to_int(e->close_ev.code) << " " << e->close_ev.error.message();
  EXPECT_EQ(e->data, "abcdefghijklmnop");
  (void)c.close();
}

// The same through the kernel: one 256 KiB message at 1 Mbit/s (tbf) takes
// about 2 s, as long as interval + grace.
TEST(heartbeat_slow_frame, one_large_message_over_a_slow_link_is_not_a_dead_peer) {
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
  constexpr std::size_t size = 256 * 1024;
  ASSERT_FALSE(c.send_text("blob:" + std::to_string(size)));
  const auto e = ch.pop(15s);
  ASSERT_TRUE(e);
  EXPECT_EQ(name(e->type), std::string("message"))
      << "a transfer in progress was taken for a dead peer: " << to_int(e->close_ev.code) << " "
      << e->close_ev.error.message();
  EXPECT_EQ(e->data.size(), size);
  (void)c.close();
}

}  // namespace
}  // namespace closewise::net::test

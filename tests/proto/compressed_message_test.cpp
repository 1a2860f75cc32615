// permessage-deflate as seen by the connection (RFC 7692 §6-§8): RSV1 only on
// the first frame, inflated size bounded by max_message (1009), bad data 1007.
#include "closewise/proto/connection.hpp"

#include <gtest/gtest.h>

#include <string>

#include "closewise/error.hpp"
#include "closewise/proto/deflate.hpp"
#include "proto/peer.hpp"

namespace cw = closewise;
namespace proto = closewise::proto;
using cw::close_code;
using cw::test::frame;
using cw::test::peer;
using cw::test::to_hex;
using proto::opcode;
using proto::role;
using proto::state;

namespace {

proto::config deflate_config(std::size_t max_message = std::size_t{16} << 20) {
  proto::config c = cw::test::fixed_key_config();
  c.deflate = proto::deflate_params{};
  c.max_message = max_message;
  return c;
}

// What a client's codec makes of `message` (default parameters, fresh context).
std::string compressed(std::string_view message) {
  proto::deflate_codec codec(role::client, proto::deflate_params{});
  std::string out;
  EXPECT_FALSE(codec.compress(message, out));
  return out;
}

const std::string long_text =
    "closewise closes right and reconnects right; closewise closes right and reconnects right.";

}  // namespace

TEST(compressed_message, client_sets_rsv1_and_server_inflates) {
  peer c(role::client, deflate_config()), s(role::server, deflate_config());
  ASSERT_FALSE(c.conn.send_text(long_text));
  const std::string wire = cw::test::hop(c, s);
  EXPECT_EQ(static_cast<unsigned char>(wire[0]), 0xC1) << "FIN + RSV1 + text";
  EXPECT_LT(wire.size(), long_text.size());
  ASSERT_EQ(s.rec.messages.size(), 1u);
  EXPECT_EQ(s.rec.messages[0].second, long_text);
  EXPECT_EQ(s.conn.get_state(), state::open);
}

TEST(compressed_message, many_messages_both_ways_share_the_context) {
  peer c(role::client, deflate_config()), s(role::server, deflate_config());
  for (int i = 0; i < 20; ++i) {
    const std::string m = long_text + std::to_string(i);
    ASSERT_FALSE(c.conn.send_text(m));
    ASSERT_FALSE(s.conn.send_binary(m));
    cw::test::hop(c, s);
    cw::test::hop(s, c);
    ASSERT_EQ(s.rec.messages.size(), static_cast<std::size_t>(i + 1));
    EXPECT_EQ(s.rec.messages.back().second, m);
    EXPECT_EQ(c.rec.messages.back().second, m);
  }
}

TEST(compressed_message, short_messages_go_uncompressed) {
  peer s(role::server, deflate_config());
  ASSERT_FALSE(s.conn.send_text("tiny"));
  EXPECT_EQ(to_hex(s.take()), "81 04 74 69 6e 79");
}

TEST(compressed_message, fragmented_with_rsv1_on_the_first_frame_only) {
  peer s(role::server, deflate_config());
  const std::string z = compressed(long_text);
  ASSERT_GT(z.size(), 6u);
  const std::string wire =
      frame(opcode::text, z.substr(0, 3), true, false, 0x41) +  // RSV1, not FIN
      frame(opcode::ping, "x", true) + frame(opcode::continuation, z.substr(3, 3), true, false) +
      frame(opcode::continuation, z.substr(6), true);
  s.feed_bytewise(wire);
  ASSERT_EQ(s.rec.messages.size(), 1u);
  EXPECT_EQ(s.rec.messages[0].second, long_text);
  EXPECT_EQ(s.rec.pings.size(), 1u);
}

TEST(compressed_message, rsv1_on_a_continuation_fails_with_1002) {
  peer s(role::server, deflate_config());
  const std::string z = compressed(long_text);
  s.feed(frame(opcode::text, z.substr(0, 3), true, false, 0x41) +
         frame(opcode::continuation, z.substr(3), true, true, 0xC0));
  EXPECT_EQ(s.rec.closed.at(0),
            cw::test::failed(close_code::protocol_error, "reserved bit set", cw::error::bad_rsv));
}

TEST(compressed_message, rsv1_on_a_control_frame_fails_with_1002) {
  peer s(role::server, deflate_config());
  s.feed(frame(opcode::ping, "x", true, true, 0xC9));
  EXPECT_EQ(s.rec.closed.at(0).error, cw::error::bad_rsv);
}

TEST(compressed_message, data_that_does_not_inflate_fails_with_1007) {
  peer s(role::server, deflate_config());
  s.feed(frame(opcode::binary, "\xFF\xFF\xFF\xFF\xFF", true, true, 0xC2));
  EXPECT_EQ(to_hex(s.take()),
            to_hex(frame(opcode::close, cw::test::close_body(1007, "bad compressed data"), false)));
  EXPECT_EQ(s.rec.closed.at(0), cw::test::failed(close_code::invalid_payload, "bad compressed data",
                                                 cw::error::bad_compression));
}

TEST(compressed_message, inflated_size_is_bounded_by_max_message) {
  const std::string zeros(1 << 20, '\0');
  const std::string bomb = compressed(zeros);
  ASSERT_LT(bomb.size(), 2000u);
  peer s(role::server, deflate_config(4096));
  s.feed(frame(opcode::binary, bomb, true, true, 0xC2));
  EXPECT_EQ(s.rec.closed.at(0), cw::test::failed(close_code::message_too_big, "message too big",
                                                 cw::error::message_too_big));
  EXPECT_TRUE(s.rec.messages.empty());
}

TEST(compressed_message, exactly_max_message_after_inflating_passes) {
  const std::string m(4096, 'a');
  peer s(role::server, deflate_config(4096));
  s.feed(frame(opcode::binary, compressed(m), true, true, 0xC2));
  ASSERT_EQ(s.rec.messages.size(), 1u);
  EXPECT_EQ(s.rec.messages[0].second, m);
  peer t(role::server, deflate_config(4095));
  t.feed(frame(opcode::binary, compressed(m), true, true, 0xC2));
  EXPECT_EQ(t.rec.closed.at(0).code, close_code::message_too_big);
}

TEST(compressed_message, inflated_text_that_is_not_utf8_fails_with_1007) {
  peer s(role::server, deflate_config());
  s.feed(frame(opcode::text, compressed(long_text + "\xC3\x28"), true, true, 0xC1));
  EXPECT_EQ(s.rec.closed.at(0).error, cw::error::invalid_utf8);
  EXPECT_EQ(s.rec.closed.at(0).code, close_code::invalid_payload);
}

TEST(compressed_message, empty_final_fragment_flushes_the_message) {
  peer s(role::server, deflate_config());
  s.feed(frame(opcode::text, compressed(long_text), true, false, 0x41) +
         frame(opcode::continuation, "", true));
  ASSERT_EQ(s.rec.messages.size(), 1u);
  EXPECT_EQ(s.rec.messages[0].second, long_text);
}

TEST(compressed_message, rsv1_without_negotiation_fails_with_1002) {
  peer s(role::server);
  s.feed(frame(opcode::text, compressed(long_text), true, true, 0xC1));
  EXPECT_EQ(s.rec.closed.at(0).error, cw::error::bad_rsv);
}

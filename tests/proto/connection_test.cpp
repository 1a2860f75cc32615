#include "closewise/proto/connection.hpp"

#include <gtest/gtest.h>

#include <string>
#include <vector>

#include "closewise/error.hpp"
#include "proto/peer.hpp"

namespace cw = closewise;
namespace proto = closewise::proto;
using cw::close_code;
using cw::test::close_body;
using cw::test::frame;
using cw::test::hex;
using cw::test::peer;
using cw::test::to_hex;
using proto::message_kind;
using proto::opcode;
using proto::role;
using proto::state;

namespace {

// What the server must send when it fails the connection: an unmasked close.
std::string server_fail_frame(std::uint16_t code, std::string_view reason) {
  return frame(opcode::close, close_body(code, reason), false);
}

// Feeds `bytes` to a fresh open server and expects a failure with `code`/`why`.
void expect_server_fails(const std::string& bytes, std::uint16_t code, cw::error why,
                         std::string_view reason) {
  peer s(role::server);
  s.feed(bytes);
  EXPECT_EQ(s.conn.get_state(), state::closed);
  EXPECT_EQ(to_hex(s.take()), to_hex(server_fail_frame(code, reason)));
  ASSERT_EQ(s.rec.closed.size(), 1u);
  EXPECT_EQ(s.rec.closed[0],
            cw::test::failed(static_cast<close_code>(code), std::string(reason), why));
  EXPECT_TRUE(s.rec.messages.empty());
}

}  // namespace

// ---- state and API ------------------------------------------------------------

TEST(connection, starts_connecting_then_opens) {
  peer c(role::client, cw::test::fixed_key_config(), /*open=*/false);
  EXPECT_EQ(c.conn.get_role(), role::client);
  EXPECT_EQ(c.conn.get_state(), state::connecting);
  EXPECT_FALSE(c.conn.can_send());
  EXPECT_FALSE(c.conn.can_receive());
  c.conn.open();
  EXPECT_EQ(c.conn.get_state(), state::open);
  EXPECT_TRUE(c.conn.can_send());
  EXPECT_TRUE(c.conn.can_receive());
  EXPECT_EQ(proto::to_string(state::closing_remote), "closing_remote");
}

TEST(connection, send_before_open_is_not_open) {
  peer c(role::client, cw::test::fixed_key_config(), false);
  EXPECT_EQ(c.conn.send_text("x"), cw::error::not_open);
  EXPECT_EQ(c.conn.ping(), cw::error::not_open);
  EXPECT_EQ(c.conn.close(close_code::normal), cw::error::not_open);
  EXPECT_EQ(c.conn.output_size(), 0u);
}

TEST(connection, receive_before_open_fails_with_1006_not_open) {
  peer s(role::server, {}, false);
  s.feed(frame(opcode::text, "hi", true));
  EXPECT_EQ(s.conn.get_state(), state::closed);
  ASSERT_EQ(s.rec.closed.size(), 1u);
  EXPECT_EQ(s.rec.closed[0], (cw::close_event{close_code::abnormal, "", false, cw::initiator::none,
                                              cw::error::not_open}));
  EXPECT_TRUE(s.rec.messages.empty());
}

TEST(connection, client_masks_every_frame) {
  peer c(role::client);
  ASSERT_FALSE(c.conn.send_text("hello"));
  EXPECT_EQ(to_hex(c.take()), "81 85 37 fa 21 3d 5f 9f 4d 51 58");
  ASSERT_FALSE(c.conn.ping("p"));
  EXPECT_EQ(to_hex(c.take()), "89 81 37 fa 21 3d 47");
}

TEST(connection, server_never_masks) {
  peer s(role::server);
  ASSERT_FALSE(s.conn.send_binary(std::string("\x00\xff", 2)));
  ASSERT_FALSE(s.conn.send_text("hello"));
  EXPECT_EQ(to_hex(s.take()), "82 02 00 ff 81 05 68 65 6c 6c 6f");
}

TEST(connection, sends_16_and_64_bit_lengths) {
  peer s(role::server);
  ASSERT_FALSE(s.conn.send_binary(std::string(126, 'a')));
  std::string out = s.take();
  EXPECT_EQ(to_hex(out.substr(0, 4)), "82 7e 00 7e");
  EXPECT_EQ(out.size(), 4u + 126u);
  ASSERT_FALSE(s.conn.send_binary(std::string(65536, 'b')));
  out = s.take();
  EXPECT_EQ(to_hex(out.substr(0, 10)), "82 7f 00 00 00 00 00 01 00 00");
  EXPECT_EQ(out.size(), 10u + 65536u);
}

TEST(connection, swap_output_hands_over_and_empties) {
  peer s(role::server);
  ASSERT_FALSE(s.conn.send_text("a"));
  EXPECT_EQ(s.conn.output_size(), 3u);
  std::string buf;
  s.conn.swap_output(buf);
  EXPECT_EQ(to_hex(buf), "81 01 61");
  EXPECT_EQ(s.conn.output_size(), 0u);
}

TEST(connection, refuses_to_send_text_that_is_not_utf8) {
  peer s(role::server);
  EXPECT_EQ(s.conn.send_text("\xC3\x28"), cw::error::invalid_utf8);
  EXPECT_EQ(s.conn.output_size(), 0u);
  EXPECT_FALSE(s.conn.send_binary("\xC3\x28"));

  proto::config relaxed;
  relaxed.check_outgoing_utf8 = false;
  peer r(role::server, relaxed);
  EXPECT_FALSE(r.conn.send_text("\xC3\x28"));
}

TEST(connection, ping_payload_over_125_bytes_is_refused) {
  peer c(role::client);
  EXPECT_EQ(c.conn.ping(std::string(126, 'x')), cw::error::invalid_argument);
  EXPECT_EQ(c.conn.pong(std::string(126, 'x')), cw::error::invalid_argument);
  EXPECT_FALSE(c.conn.ping(std::string(125, 'x')));
}

// ---- framing rules (RFC 6455 §5) ------------------------------------------------

TEST(framing, server_fails_unmasked_client_frame_with_1002) {
  expect_server_fails(frame(opcode::text, "hi", false), 1002, cw::error::bad_masking,
                      "wrong masking");
}

TEST(framing, client_fails_masked_server_frame_with_1002) {
  peer c(role::client);
  c.feed(frame(opcode::text, "hi", true));
  EXPECT_EQ(c.conn.get_state(), state::closed);
  // The client's own failure close is masked with its key: 03 ea -> 34 10.
  EXPECT_EQ(to_hex(c.take()),
            to_hex(frame(opcode::close, close_body(1002, "wrong masking"), true)));
  ASSERT_EQ(c.rec.closed.size(), 1u);
  EXPECT_EQ(c.rec.closed[0],
            cw::test::failed(close_code::protocol_error, "wrong masking", cw::error::bad_masking));
}

TEST(framing, server_failure_close_bytes) {
  peer s(role::server);
  s.feed(frame(opcode::text, "hi", false));
  EXPECT_EQ(to_hex(s.take()), "88 0f 03 ea 77 72 6f 6e 67 20 6d 61 73 6b 69 6e 67");
}

TEST(framing, rsv_bits_without_extension_fail_with_1002) {
  for (int first : {0xC1, 0xA1, 0x91, 0xF1}) {
    SCOPED_TRACE(first);
    expect_server_fails(frame(opcode::text, "x", true, true, first), 1002, cw::error::bad_rsv,
                        "reserved bit set");
  }
}

TEST(framing, reserved_opcodes_fail_with_1002) {
  for (int op : {3, 4, 5, 6, 7, 0xB, 0xC, 0xD, 0xE, 0xF}) {
    SCOPED_TRACE(op);
    expect_server_fails(frame(opcode::text, "x", true, true, 0x80 | op), 1002,
                        cw::error::bad_opcode, "reserved opcode");
  }
}

TEST(framing, control_frame_over_125_bytes_fails_with_1002) {
  expect_server_fails(frame(opcode::ping, std::string(126, 'p'), true), 1002,
                      cw::error::bad_control_frame, "bad control frame");
  expect_server_fails(frame(opcode::close, close_body(1000, std::string(124, 'r')), true), 1002,
                      cw::error::bad_control_frame, "bad control frame");
}

TEST(framing, fragmented_control_frame_fails_with_1002) {
  expect_server_fails(frame(opcode::ping, "p", true, /*fin=*/false), 1002,
                      cw::error::bad_control_frame, "bad control frame");
}

TEST(framing, continuation_without_message_fails_with_1002) {
  expect_server_fails(frame(opcode::continuation, "x", true), 1002, cw::error::bad_continuation,
                      "bad fragmentation");
}

TEST(framing, new_data_frame_inside_message_fails_with_1002) {
  expect_server_fails(frame(opcode::text, "a", true, false) + frame(opcode::binary, "b", true),
                      1002, cw::error::bad_continuation, "bad fragmentation");
  expect_server_fails(frame(opcode::text, "a", true, false) + frame(opcode::text, "b", true, false),
                      1002, cw::error::bad_continuation, "bad fragmentation");
}

TEST(framing, length_with_top_bit_set_fails_with_1002) {
  expect_server_fails(hex("82 ff 80 00 00 00 00 00 00 00 01 02 03 04"), 1002, cw::error::bad_length,
                      "bad frame length");
}

TEST(framing, length_not_in_shortest_form_fails_with_1002) {
  expect_server_fails(hex("82 fe 00 05 01 02 03 04 00 00 00 00 00"), 1002, cw::error::bad_length,
                      "bad frame length");
}

TEST(framing, receives_7_16_and_64_bit_lengths) {
  peer s(role::server);
  const std::string a(125, 'a'), b(126, 'b'), c(70000, 'c');
  s.feed(frame(opcode::binary, a, true) + frame(opcode::binary, b, true) +
         frame(opcode::binary, c, true) + frame(opcode::binary, "", true));
  ASSERT_EQ(s.rec.messages.size(), 4u);
  EXPECT_EQ(s.rec.messages[0].second, a);
  EXPECT_EQ(s.rec.messages[1].second, b);
  EXPECT_EQ(s.rec.messages[2].second, c);
  EXPECT_EQ(s.rec.messages[3].second, "");
  EXPECT_EQ(s.rec.messages[3].first, message_kind::binary);
  EXPECT_EQ(s.conn.get_state(), state::open);
}

TEST(framing, fragmented_message_with_interleaved_control_frames) {
  peer s(role::server);
  s.feed(frame(opcode::text, "Hel", true, false) + frame(opcode::ping, "p1", true) +
         frame(opcode::continuation, "lo, ", true, false) + frame(opcode::pong, "q", true) +
         frame(opcode::continuation, "", true, false) + frame(opcode::continuation, "world", true));
  ASSERT_EQ(s.rec.messages.size(), 1u);
  EXPECT_EQ(s.rec.messages[0].first, message_kind::text);
  EXPECT_EQ(s.rec.messages[0].second, "Hello, world");
  EXPECT_EQ(s.rec.pings, std::vector<std::string>{"p1"});
  EXPECT_EQ(s.rec.pongs, std::vector<std::string>{"q"});
  EXPECT_EQ(to_hex(s.take()), "8a 02 70 31");
  // A second message after the fragmented one starts cleanly.
  s.feed(frame(opcode::binary, "z", true));
  ASSERT_EQ(s.rec.messages.size(), 2u);
  EXPECT_EQ(s.rec.messages[1], std::make_pair(message_kind::binary, std::string("z")));
}

TEST(framing, auto_pong_echoes_the_ping_payload) {
  peer s(role::server);
  s.feed(frame(opcode::ping, "abc", true));
  EXPECT_EQ(to_hex(s.take()), "8a 03 61 62 63");
  peer c(role::client);
  c.feed(frame(opcode::ping, "", false));
  EXPECT_EQ(to_hex(c.take()), "8a 80 37 fa 21 3d");
  EXPECT_EQ(c.rec.pings, std::vector<std::string>{""});
}

TEST(framing, unsolicited_pong_is_reported_and_ignored) {
  peer s(role::server);
  s.feed(frame(opcode::pong, "beat", true));
  EXPECT_EQ(s.rec.pongs, std::vector<std::string>{"beat"});
  EXPECT_EQ(s.conn.output_size(), 0u);
  EXPECT_EQ(s.conn.get_state(), state::open);
}

TEST(framing, auto_pong_can_be_turned_off) {
  proto::config cfg;
  cfg.auto_pong = false;
  peer s(role::server, cfg);
  s.feed(frame(opcode::ping, "abc", true));
  EXPECT_EQ(s.rec.pings, std::vector<std::string>{"abc"});
  EXPECT_EQ(s.conn.output_size(), 0u);
}

TEST(framing, binary_is_not_utf8_checked) {
  peer s(role::server);
  s.feed(frame(opcode::binary, "\xFF\xFE", true));
  ASSERT_EQ(s.rec.messages.size(), 1u);
  EXPECT_EQ(s.rec.messages[0].second, "\xFF\xFE");
}

// ---- UTF-8 (RFC 6455 §8.1) -------------------------------------------------------

TEST(utf8_text, valid_multibyte_text_is_delivered) {
  peer s(role::server);
  const std::string text = "h\xC3\xA9llo \xE2\x82\xAC \xF0\x9F\x98\x80 \xF4\x8F\xBF\xBF";
  s.feed(frame(opcode::text, text, true));
  ASSERT_EQ(s.rec.messages.size(), 1u);
  EXPECT_EQ(s.rec.messages[0].second, text);
}

TEST(utf8_text, invalid_text_fails_with_1007) {
  for (const char* bad : {"\xC0\xAF", "\xED\xA0\x80", "\xF4\x90\x80\x80", "\xFF", "a\x80"}) {
    SCOPED_TRACE(to_hex(bad));
    expect_server_fails(frame(opcode::text, bad, true), 1007, cw::error::invalid_utf8,
                        "invalid UTF-8");
  }
}

TEST(utf8_text, truncated_sequence_at_message_end_fails_with_1007) {
  expect_server_fails(frame(opcode::text, "ok\xE2\x82", true), 1007, cw::error::invalid_utf8,
                      "invalid UTF-8");
  expect_server_fails(
      frame(opcode::text, "ok", true, false) + frame(opcode::continuation, "\xF0\x9F\x98", true),
      1007, cw::error::invalid_utf8, "invalid UTF-8");
}

TEST(utf8_text, code_point_split_across_fragments_is_valid) {
  peer s(role::server);
  // U+1F600 is F0 9F 98 80: split after every byte, across four frames.
  s.feed(frame(opcode::text, "\xF0", true, false) +
         frame(opcode::continuation, "\x9F", true, false) +
         frame(opcode::continuation, "\x98", true, false) +
         frame(opcode::continuation, "\x80!", true));
  ASSERT_EQ(s.rec.messages.size(), 1u);
  EXPECT_EQ(s.rec.messages[0].second, "\xF0\x9F\x98\x80!");
  EXPECT_EQ(s.conn.get_state(), state::open);
}

TEST(utf8_text, fails_as_soon_as_a_fragment_cannot_become_valid) {
  peer s(role::server);
  // ED A0 starts a surrogate: invalid whatever follows, so fail before the final fragment.
  s.feed(frame(opcode::text, "ok\xED\xA0", true, false));
  EXPECT_EQ(s.conn.get_state(), state::closed);
  EXPECT_EQ(to_hex(s.take()), to_hex(server_fail_frame(1007, "invalid UTF-8")));
  EXPECT_TRUE(s.rec.messages.empty());
}

TEST(utf8_text, fails_mid_frame_when_fed_byte_at_a_time) {
  peer s(role::server);
  const std::string bytes = frame(opcode::text, "abc\xC3\x28 and a long tail of text", true);
  std::size_t fed = 0;
  while (fed < bytes.size() && s.conn.get_state() == state::open) s.conn.receive(&bytes[fed++], 1);
  // Header (6 bytes) + "abc" + C3 + 28: the 28 can no longer continue the sequence.
  EXPECT_EQ(fed, 6u + 5u);
  EXPECT_EQ(s.rec.closed.at(0).error, cw::error::invalid_utf8);
}

// ---- limits (RFC 6455 §10.4) -------------------------------------------------------

TEST(limits, message_of_exactly_max_message_passes_one_more_fails_with_1009) {
  proto::config cfg;
  cfg.max_message = 100;
  {
    peer s(role::server, cfg);
    s.feed(frame(opcode::binary, std::string(100, 'x'), true));
    ASSERT_EQ(s.rec.messages.size(), 1u);
    s.feed(frame(opcode::binary, std::string(60, 'x'), true, false) +
           frame(opcode::continuation, std::string(40, 'y'), true));
    ASSERT_EQ(s.rec.messages.size(), 2u);
    EXPECT_EQ(s.rec.messages[1].second.size(), 100u);
  }
  {
    peer s(role::server, cfg);
    s.feed(frame(opcode::binary, std::string(101, 'x'), true));
    EXPECT_EQ(to_hex(s.take()), to_hex(server_fail_frame(1009, "message too big")));
    EXPECT_EQ(s.rec.closed.at(0), cw::test::failed(close_code::message_too_big, "message too big",
                                                   cw::error::message_too_big));
  }
}

TEST(limits, fragments_over_max_message_fail_at_the_fragment_header) {
  proto::config cfg;
  cfg.max_message = 100;
  peer s(role::server, cfg);
  // Only the header of the second fragment is fed: it already announces 101 bytes in total.
  const std::string second = frame(opcode::continuation, std::string(41, 'y'), true);
  s.feed(frame(opcode::binary, std::string(60, 'x'), true, false) + second.substr(0, 6));
  EXPECT_EQ(s.conn.get_state(), state::closed);
  EXPECT_EQ(s.rec.closed.at(0).code, close_code::message_too_big);
  EXPECT_TRUE(s.rec.messages.empty());
}

TEST(limits, frame_over_max_frame_fails_with_1009) {
  proto::config cfg;
  cfg.max_frame = 10;
  peer s(role::server, cfg);
  s.feed(frame(opcode::binary, std::string(10, 'x'), true, false));
  s.feed(frame(opcode::continuation, std::string(11, 'x'), true).substr(0, 6));
  EXPECT_EQ(to_hex(s.take()), to_hex(server_fail_frame(1009, "message too big")));
  EXPECT_EQ(s.rec.closed.at(0).error, cw::error::message_too_big);
}

TEST(limits, huge_announced_length_fails_without_allocating) {
  peer s(role::server);
  s.feed(hex("82 ff 7f ff ff ff ff ff ff ff 01 02 03 04"));
  EXPECT_EQ(s.rec.closed.at(0).code, close_code::message_too_big);
}

// ---- feeding in pieces -------------------------------------------------------------

namespace {

std::string mixed_stream() {
  return frame(opcode::text, "first \xE2\x82\xAC", true) +
         frame(opcode::binary, std::string(300, 'b'), true) +
         frame(opcode::text, "frag\xC3", true, false) + frame(opcode::ping, "pp", true) +
         frame(opcode::continuation, "\xA9 end", true) + frame(opcode::pong, "", true) +
         frame(opcode::binary, std::string(70000, 'z'), true) +
         frame(opcode::close, close_body(4001, "bye"), true);
}

void expect_mixed_stream_events(peer& s) {
  ASSERT_EQ(s.rec.messages.size(), 4u);
  EXPECT_EQ(s.rec.messages[0].second, "first \xE2\x82\xAC");
  EXPECT_EQ(s.rec.messages[1].second, std::string(300, 'b'));
  EXPECT_EQ(s.rec.messages[2].second, "frag\xC3\xA9 end");
  EXPECT_EQ(s.rec.messages[3].second, std::string(70000, 'z'));
  EXPECT_EQ(s.rec.pings, std::vector<std::string>{"pp"});
  EXPECT_EQ(s.rec.pongs, std::vector<std::string>{""});
  EXPECT_EQ(s.conn.get_state(), state::closed);
  ASSERT_EQ(s.rec.closed.size(), 1u);
  EXPECT_EQ(s.rec.closed[0],
            cw::test::clean(static_cast<close_code>(4001), cw::initiator::remote, "bye"));
  EXPECT_EQ(to_hex(s.take()), "8a 02 70 70 88 02 0f a1");
}

}  // namespace

TEST(feeding, whole_stream_at_once) {
  peer s(role::server);
  s.feed(mixed_stream());
  expect_mixed_stream_events(s);
}

TEST(feeding, byte_at_a_time_gives_the_same_events) {
  peer s(role::server);
  s.feed_bytewise(mixed_stream());
  expect_mixed_stream_events(s);
}

TEST(feeding, in_place_byte_at_a_time_gives_the_same_events) {
  peer s(role::server);
  std::string bytes = mixed_stream();
  for (char& ch : bytes) s.conn.receive_in_place(&ch, 1);
  expect_mixed_stream_events(s);
}

TEST(feeding, every_split_point_gives_the_same_events) {
  const std::string bytes = frame(opcode::text, "first \xE2\x82\xAC", true) +
                            frame(opcode::binary, std::string(300, 'b'), true) +
                            frame(opcode::text, "frag\xC3", true, false) +
                            frame(opcode::ping, "pp", true) +
                            frame(opcode::continuation, "\xA9 end", true);
  for (std::size_t cut = 0; cut <= bytes.size(); ++cut) {
    for (bool in_place : {false, true}) {
      peer s(role::server);
      std::string a = bytes.substr(0, cut), b = bytes.substr(cut);
      if (in_place) {
        s.conn.receive_in_place(a.data(), a.size());
        s.conn.receive_in_place(b.data(), b.size());
      } else {
        s.feed(a);
        s.feed(b);
      }
      ASSERT_EQ(s.rec.messages.size(), 3u) << cut;
      EXPECT_EQ(s.rec.messages[0].second, "first \xE2\x82\xAC");
      EXPECT_EQ(s.rec.messages[1].second, std::string(300, 'b'));
      EXPECT_EQ(s.rec.messages[2].second, "frag\xC3\xA9 end");
      EXPECT_EQ(to_hex(s.take()), "8a 02 70 70");
      EXPECT_EQ(s.conn.get_state(), state::open);
    }
  }
}

TEST(feeding, client_reads_server_frames_byte_at_a_time) {
  peer c(role::client);
  c.feed_bytewise(frame(opcode::text, "abc", false) + frame(opcode::ping, "x", false) +
                  frame(opcode::binary, std::string(65536, 'q'), false));
  ASSERT_EQ(c.rec.messages.size(), 2u);
  EXPECT_EQ(c.rec.messages[1].second.size(), 65536u);
  EXPECT_EQ(to_hex(c.take()), "8a 81 37 fa 21 3d 4f");
}

// ---- zero copy -------------------------------------------------------------------------

TEST(zero_copy, client_gets_a_view_of_the_input) {
  peer c(role::client);
  const std::string bytes = frame(opcode::text, "view me", false);
  c.feed(bytes);
  ASSERT_EQ(c.rec.message_data.size(), 1u);
  EXPECT_EQ(c.rec.message_data[0], bytes.data() + 2);
}

TEST(zero_copy, server_unmasks_in_place) {
  peer s(role::server);
  std::string bytes = frame(opcode::binary, "in place", true);
  s.conn.receive_in_place(bytes.data(), bytes.size());
  ASSERT_EQ(s.rec.message_data.size(), 1u);
  EXPECT_EQ(s.rec.message_data[0], bytes.data() + 6);
  EXPECT_EQ(bytes.substr(6), "in place");
}

TEST(zero_copy, read_only_input_is_left_untouched) {
  peer s(role::server);
  const std::string bytes = frame(opcode::binary, "masked", true);
  const std::string copy = bytes;
  s.feed(bytes);
  EXPECT_EQ(bytes, copy);
  EXPECT_EQ(s.rec.messages.at(0).second, "masked");
}

// ---- regressions named after behaviour ---------------------------------------------------

TEST(regression, input_after_a_failure_is_ignored) {
  peer s(role::server);
  s.feed(frame(opcode::text, "x", false));
  ASSERT_EQ(s.conn.get_state(), state::closed);
  s.take();
  s.feed(frame(opcode::text, "after", true) + frame(opcode::ping, "p", true));
  EXPECT_TRUE(s.rec.messages.empty());
  EXPECT_TRUE(s.rec.pings.empty());
  EXPECT_EQ(s.conn.output_size(), 0u);
  EXPECT_EQ(s.rec.closed.size(), 1u);
}

TEST(regression, send_from_on_message_builds_an_echo) {
  peer s(role::server);
  s.rec.on_message_hook = [&](std::string_view p) { EXPECT_FALSE(s.conn.send_text(p)); };
  std::string bytes = frame(opcode::text, "echo", true) + frame(opcode::text, "again", true);
  s.conn.receive_in_place(bytes.data(), bytes.size());
  EXPECT_EQ(to_hex(s.take()), "81 04 65 63 68 6f 81 05 61 67 61 69 6e");
}

TEST(regression, failure_in_the_middle_of_a_batch_stops_delivery) {
  peer s(role::server);
  s.feed(frame(opcode::text, "one", true) + frame(opcode::text, "\xFF", true) +
         frame(opcode::text, "three", true));
  ASSERT_EQ(s.rec.messages.size(), 1u);
  EXPECT_EQ(s.rec.closed.at(0).code, close_code::invalid_payload);
}

TEST(limits, refused_data_type_fails_with_1003_at_the_first_header) {
  proto::config cfg;
  cfg.accept_binary = false;
  peer s(role::server, cfg);
  s.feed(frame(opcode::text, "text is fine", true));
  ASSERT_EQ(s.rec.messages.size(), 1u);
  // Only the header of the binary frame: it is refused before any payload arrives.
  s.feed(frame(opcode::binary, std::string(50, 'b'), true).substr(0, 6));
  EXPECT_EQ(to_hex(s.take()), to_hex(server_fail_frame(1003, "unsupported data type")));
  EXPECT_EQ(s.rec.closed.at(0),
            cw::test::failed(close_code::unsupported_data, "unsupported data type",
                             cw::error::unsupported_data));
}

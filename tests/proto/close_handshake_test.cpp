// The close handshake with two in-memory peers passing bytes (RFC 6455 §5.5.1,
// §7; ARCHITECTURE §2): states after every hop, frames byte for byte.
#include "closewise/proto/connection.hpp"

#include <gtest/gtest.h>

#include <string>

#include "closewise/error.hpp"
#include "proto/peer.hpp"

namespace cw = closewise;
namespace proto = closewise::proto;
using cw::close_code;
using cw::initiator;
using cw::test::clean;
using cw::test::close_body;
using cw::test::frame;
using cw::test::hop;
using cw::test::peer;
using cw::test::to_hex;
using proto::opcode;
using proto::role;
using proto::state;

namespace {

close_code code_of(std::uint16_t v) { return static_cast<close_code>(v); }

// The close frame each role sends for `code`/`reason`: masked from the client.
std::string close_frame(role from, std::uint16_t code, std::string_view reason = {}) {
  return frame(opcode::close, close_body(code, reason), from == role::client);
}

}  // namespace

// ---- each side initiating -------------------------------------------------------

TEST(close_handshake, client_initiates_with_1000) {
  peer c(role::client), s(role::server);
  ASSERT_FALSE(c.conn.close(close_code::normal));
  EXPECT_EQ(c.conn.get_state(), state::closing_local);
  EXPECT_FALSE(c.conn.can_send());
  EXPECT_TRUE(c.conn.can_receive());

  // Hop 1: the client's close, masked with the fixed key: 03 e8 ^ 37 fa = 34 12.
  EXPECT_EQ(to_hex(hop(c, s)), "88 82 37 fa 21 3d 34 12");
  EXPECT_EQ(s.conn.get_state(), state::closed);
  ASSERT_EQ(s.rec.close_frames.size(), 1u);
  EXPECT_EQ(s.rec.close_frames[0], std::make_pair(close_code::normal, std::string()));
  ASSERT_EQ(s.rec.closed.size(), 1u);
  EXPECT_EQ(s.rec.closed[0], clean(close_code::normal, initiator::remote));

  // Hop 2: the server's echo, same code, unmasked.
  EXPECT_EQ(to_hex(hop(s, c)), "88 02 03 e8");
  EXPECT_EQ(c.conn.get_state(), state::closed);
  ASSERT_EQ(c.rec.closed.size(), 1u);
  EXPECT_EQ(c.rec.closed[0], clean(close_code::normal, initiator::local));
  EXPECT_EQ(c.conn.result(), c.rec.closed[0]);

  // Nothing more on either side.
  EXPECT_EQ(c.conn.output_size(), 0u);
  EXPECT_EQ(s.conn.output_size(), 0u);
}

TEST(close_handshake, server_initiates_with_1001_and_reason) {
  peer c(role::client), s(role::server);
  ASSERT_FALSE(s.conn.close_endpoint(close_code::going_away, "bye"));
  EXPECT_EQ(s.conn.get_state(), state::closing_local);

  EXPECT_EQ(to_hex(hop(s, c)), "88 05 03 e9 62 79 65");
  EXPECT_EQ(c.conn.get_state(), state::closed);
  EXPECT_EQ(c.rec.closed.at(0), clean(close_code::going_away, initiator::remote, "bye"));

  // The echo carries the code only: 03 e9 ^ 37 fa = 34 13.
  EXPECT_EQ(to_hex(hop(c, s)), "88 82 37 fa 21 3d 34 13");
  EXPECT_EQ(s.conn.get_state(), state::closed);
  EXPECT_EQ(s.rec.closed.at(0), clean(close_code::going_away, initiator::local));
}

class each_side_initiates : public ::testing::TestWithParam<role> {};

TEST_P(each_side_initiates, with_every_app_code_and_ends_clean_on_both_sides) {
  for (std::uint16_t code : {1000, 3000, 3999, 4000, 4999}) {
    SCOPED_TRACE(code);
    peer c(role::client), s(role::server);
    peer& first = GetParam() == role::client ? c : s;
    peer& second = GetParam() == role::client ? s : c;
    ASSERT_FALSE(first.conn.close(code_of(code), "done"));
    EXPECT_EQ(to_hex(hop(first, second)), to_hex(close_frame(GetParam(), code, "done")));
    EXPECT_EQ(second.conn.get_state(), state::closed);
    EXPECT_EQ(first.conn.get_state(), state::closing_local);
    const role other = GetParam() == role::client ? role::server : role::client;
    EXPECT_EQ(to_hex(hop(second, first)), to_hex(close_frame(other, code)));
    EXPECT_EQ(first.conn.get_state(), state::closed);
    EXPECT_EQ(first.rec.closed.at(0), clean(code_of(code), initiator::local));
    EXPECT_EQ(second.rec.closed.at(0), clean(code_of(code), initiator::remote, "done"));
  }
}

INSTANTIATE_TEST_SUITE_P(roles, each_side_initiates, ::testing::Values(role::client, role::server),
                         [](const ::testing::TestParamInfo<role>& p) {
                           return p.param == role::client ? "client" : "server";
                         });

TEST(close_handshake, simultaneous_close_is_clean_on_both_sides_with_local_initiator) {
  peer c(role::client), s(role::server);
  ASSERT_FALSE(c.conn.close(close_code::normal, "c"));
  ASSERT_FALSE(s.conn.close(static_cast<close_code>(4000), "s"));
  const std::string from_client = c.take();
  const std::string from_server = s.take();
  EXPECT_EQ(to_hex(from_client), to_hex(close_frame(role::client, 1000, "c")));
  EXPECT_EQ(to_hex(from_server), to_hex(close_frame(role::server, 4000, "s")));

  c.feed(from_server);
  s.feed(from_client);
  EXPECT_EQ(c.conn.get_state(), state::closed);
  EXPECT_EQ(s.conn.get_state(), state::closed);
  // Neither echoes: each already sent its close frame.
  EXPECT_EQ(c.conn.output_size(), 0u);
  EXPECT_EQ(s.conn.output_size(), 0u);
  EXPECT_EQ(c.rec.closed.at(0), clean(code_of(4000), initiator::local, "s"));
  EXPECT_EQ(s.rec.closed.at(0), clean(close_code::normal, initiator::local, "c"));
}

// ---- empty close and reasons ------------------------------------------------------

TEST(close_handshake, empty_close_is_reported_as_1005_and_echoed_empty) {
  peer c(role::client), s(role::server);
  s.feed(frame(opcode::close, "", true));
  EXPECT_EQ(s.rec.close_frames.at(0).first, close_code::no_status);
  EXPECT_EQ(s.rec.closed.at(0), clean(close_code::no_status, initiator::remote));
  const std::string echo = s.take();
  EXPECT_EQ(to_hex(echo), "88 00");

  // The client side of the same exchange.
  ASSERT_FALSE(c.conn.close(close_code::normal));
  c.take();
  c.feed(echo);
  EXPECT_EQ(c.rec.closed.at(0), clean(close_code::no_status, initiator::local));

  // A client receiving an empty close echoes an empty, masked close.
  peer c2(role::client);
  c2.feed(frame(opcode::close, "", false));
  EXPECT_EQ(to_hex(c2.take()), "88 80 37 fa 21 3d");
}

TEST(close_handshake, close_with_123_byte_reason_is_sent_and_reported) {
  peer c(role::client), s(role::server);
  const std::string reason(123, 'r');
  ASSERT_FALSE(c.conn.close(close_code::normal, reason));
  const std::string bytes = hop(c, s);
  EXPECT_EQ(to_hex(bytes.substr(0, 2)), "88 fd");  // 125 bytes, the control frame maximum
  EXPECT_EQ(bytes.size(), 2u + 4u + 125u);
  EXPECT_EQ(s.rec.closed.at(0), clean(close_code::normal, initiator::remote, reason));
}

TEST(close_handshake, app_close_refuses_a_124_byte_or_non_utf8_reason) {
  peer c(role::client);
  EXPECT_EQ(c.conn.close(close_code::normal, std::string(124, 'r')),
            cw::error::close_reason_too_long);
  EXPECT_EQ(c.conn.close(close_code::normal, "\xC3"), cw::error::close_reason_not_utf8);
  EXPECT_EQ(c.conn.get_state(), state::open);
  EXPECT_EQ(c.conn.output_size(), 0u);
}

TEST(close_handshake, app_close_refuses_codes_it_may_not_send) {
  peer c(role::client);
  for (std::uint16_t code :
       {0, 999, 1001, 1002, 1004, 1005, 1006, 1011, 1015, 1016, 2999, 5000, 65535})
    EXPECT_EQ(c.conn.close(code_of(code)), cw::error::close_code_not_sendable) << code;
  for (std::uint16_t code : {0, 1004, 1005, 1006, 1015, 1016, 5000})
    EXPECT_EQ(c.conn.close_endpoint(code_of(code)), cw::error::close_code_not_sendable) << code;
  EXPECT_EQ(c.conn.get_state(), state::open);
  EXPECT_EQ(c.conn.output_size(), 0u);
  EXPECT_FALSE(c.conn.close_endpoint(close_code::try_again_later, "retry-after=5"));
  EXPECT_EQ(c.conn.get_state(), state::closing_local);
}

// A relay passing on a peer's empty close sends an empty close (RFC 6455
// §5.5.1), which the other peer reports as 1005; the echo is empty too.
TEST(close_handshake, relay_passes_on_an_empty_close_as_an_empty_close) {
  peer c(role::client), s(role::server);
  ASSERT_FALSE(s.conn.close_relay(close_code::no_status));
  EXPECT_EQ(to_hex(hop(s, c)), "88 00");
  EXPECT_EQ(c.rec.closed.at(0), clean(close_code::no_status, initiator::remote));
  EXPECT_FALSE(hop(c, s).empty());
  EXPECT_EQ(s.rec.closed.at(0).code, close_code::no_status);
}

TEST(close_handshake, relay_close_refuses_what_is_never_on_the_wire) {
  peer c(role::client);
  for (std::uint16_t code : {0, 1004, 1006, 1015, 1016, 2999, 5000})
    EXPECT_EQ(c.conn.close_relay(code_of(code)), cw::error::close_code_not_sendable) << code;
  EXPECT_EQ(c.conn.close_relay(close_code::no_status, "x"), cw::error::close_code_not_sendable);
  EXPECT_EQ(c.conn.output_size(), 0u);
  // A client relaying a server-only code, which close() refuses.
  EXPECT_FALSE(c.conn.close_relay(close_code::internal_error, "boom"));
  EXPECT_EQ(c.conn.get_state(), state::closing_local);
}

// ---- received close payloads --------------------------------------------------------

TEST(received_close, one_byte_payload_fails_with_1002) {
  peer s(role::server);
  s.feed(frame(opcode::close, "\x03", true));
  EXPECT_EQ(to_hex(s.take()), to_hex(close_frame(role::server, 1002, "bad close payload")));
  EXPECT_EQ(s.rec.closed.at(0), cw::test::failed(close_code::protocol_error, "bad close payload",
                                                 cw::error::bad_close_payload));
  EXPECT_TRUE(s.rec.close_frames.empty());
}

TEST(received_close, payload_of_126_bytes_fails_with_1002) {
  peer c(role::client);
  c.feed(frame(opcode::close, close_body(1000, std::string(124, 'x')), false));
  EXPECT_EQ(to_hex(c.take()), to_hex(close_frame(role::client, 1002, "bad control frame")));
  EXPECT_EQ(c.rec.closed.at(0).error, cw::error::bad_control_frame);
  EXPECT_EQ(c.rec.closed.at(0).code, close_code::protocol_error);
}

TEST(received_close, every_code_invalid_on_the_wire_fails_with_1002) {
  for (std::uint16_t code : {0, 999, 1004, 1005, 1006, 1015, 1016, 1100, 2000, 2999, 5000, 65535}) {
    SCOPED_TRACE(code);
    peer s(role::server);
    s.feed(frame(opcode::close, close_body(code, "x"), true));
    EXPECT_EQ(s.conn.get_state(), state::closed);
    EXPECT_EQ(to_hex(s.take()), to_hex(close_frame(role::server, 1002, "bad close code")));
    EXPECT_EQ(s.rec.closed.at(0), cw::test::failed(close_code::protocol_error, "bad close code",
                                                   cw::error::bad_close_code));
  }
}

TEST(received_close, every_code_valid_on_the_wire_is_echoed_with_the_same_code) {
  for (std::uint16_t code : {1000, 1001, 1002, 1003, 1007, 1008, 1009, 1010, 1011, 1012, 1013, 1014,
                             3000, 3999, 4000, 4999}) {
    SCOPED_TRACE(code);
    peer c(role::client), s(role::server);
    c.feed(frame(opcode::close, close_body(code, "why"), false));
    EXPECT_EQ(c.conn.get_state(), state::closed);
    EXPECT_EQ(c.rec.closed.at(0), clean(code_of(code), initiator::remote, "why"));
    EXPECT_EQ(to_hex(c.take()), to_hex(close_frame(role::client, code)));

    s.feed(frame(opcode::close, close_body(code), true));
    EXPECT_EQ(s.rec.closed.at(0), clean(code_of(code), initiator::remote));
    EXPECT_EQ(to_hex(s.take()), to_hex(close_frame(role::server, code)));
  }
}

TEST(received_close, reason_that_is_not_utf8_fails_with_1007) {
  peer s(role::server);
  s.feed(frame(opcode::close, close_body(1000, "ok\xC3\x28"), true));
  EXPECT_EQ(to_hex(s.take()), to_hex(close_frame(role::server, 1007, "invalid UTF-8")));
  EXPECT_EQ(s.rec.closed.at(0), cw::test::failed(close_code::invalid_payload, "invalid UTF-8",
                                                 cw::error::invalid_utf8));
}

TEST(received_close, invalid_reply_while_closing_local_fails_without_a_second_close) {
  peer c(role::client);
  ASSERT_FALSE(c.conn.close(close_code::normal));
  c.take();
  c.feed(frame(opcode::close, close_body(1005), false));
  EXPECT_EQ(c.conn.get_state(), state::closed);
  EXPECT_EQ(c.conn.output_size(), 0u);
  EXPECT_EQ(c.rec.closed.at(0), cw::test::failed(close_code::protocol_error, "bad close code",
                                                 cw::error::bad_close_code));
}

TEST(received_close, close_frame_fed_byte_at_a_time) {
  peer s(role::server);
  s.feed_bytewise(frame(opcode::close, close_body(3001, "slow"), true));
  EXPECT_EQ(s.rec.closed.at(0), clean(code_of(3001), initiator::remote, "slow"));
  EXPECT_EQ(to_hex(s.take()), "88 02 0b b9");
}

// ---- endings without a handshake ------------------------------------------------------

TEST(abnormal_end, eof_with_no_close_is_1006) {
  peer c(role::client);
  c.conn.receive_eof();
  EXPECT_EQ(c.conn.get_state(), state::closed);
  EXPECT_EQ(c.rec.closed.at(0), (cw::close_event{close_code::abnormal, "", false, initiator::none,
                                                 cw::error::eof_without_close}));
  EXPECT_EQ(c.conn.output_size(), 0u);
}

TEST(abnormal_end, eof_mid_frame_is_1006) {
  peer s(role::server);
  const std::string bytes = frame(opcode::text, "partial message", true);
  s.feed(bytes.substr(0, 9));
  EXPECT_EQ(s.conn.get_state(), state::open);
  s.conn.receive_eof();
  EXPECT_EQ(s.rec.closed.at(0), (cw::close_event{close_code::abnormal, "", false, initiator::none,
                                                 cw::error::eof_without_close}));
  EXPECT_TRUE(s.rec.messages.empty());
}

TEST(abnormal_end, eof_mid_header_is_1006) {
  peer s(role::server);
  s.feed(frame(opcode::binary, std::string(200, 'x'), true).substr(0, 3));
  s.conn.receive_eof();
  EXPECT_EQ(s.rec.closed.at(0).error, cw::error::eof_without_close);
}

TEST(abnormal_end, eof_after_our_close_is_1006_with_local_initiator) {
  peer c(role::client);
  ASSERT_FALSE(c.conn.close(close_code::normal));
  c.conn.receive_eof();
  EXPECT_EQ(c.rec.closed.at(0), (cw::close_event{close_code::abnormal, "", false, initiator::local,
                                                 cw::error::eof_without_close}));
}

TEST(abnormal_end, close_timeout_is_1006) {
  peer s(role::server);
  ASSERT_FALSE(s.conn.close(close_code::normal));
  s.conn.on_close_timeout();
  EXPECT_EQ(s.conn.get_state(), state::closed);
  EXPECT_EQ(s.rec.closed.at(0), (cw::close_event{close_code::abnormal, "", false, initiator::local,
                                                 cw::error::close_timeout}));
}

TEST(abnormal_end, abort_reports_the_given_code_and_reason) {
  peer c(role::client);
  c.conn.abort(cw::error::tls_verify_failed, close_code::tls_handshake);
  EXPECT_EQ(c.rec.closed.at(0), (cw::close_event{close_code::tls_handshake, "", false,
                                                 initiator::none, cw::error::tls_verify_failed}));
  peer s(role::server);
  s.conn.abort(cw::error::heartbeat_timeout);
  EXPECT_EQ(s.rec.closed.at(0).code, close_code::abnormal);
  EXPECT_EQ(s.rec.closed.at(0).error, cw::error::heartbeat_timeout);
}

// ---- regressions named after behaviour -----------------------------------------------

TEST(regression, no_send_after_close) {
  peer c(role::client);
  ASSERT_FALSE(c.conn.close(close_code::normal));
  c.take();
  EXPECT_EQ(c.conn.send_text("late"), cw::error::already_closing);
  EXPECT_EQ(c.conn.send_binary("late"), cw::error::already_closing);
  EXPECT_EQ(c.conn.ping(), cw::error::already_closing);
  EXPECT_EQ(c.conn.pong(), cw::error::already_closing);
  EXPECT_EQ(c.conn.close(close_code::normal), cw::error::already_closing);
  EXPECT_EQ(c.conn.output_size(), 0u);
}

TEST(regression, no_send_after_close_handshake_completed) {
  peer c(role::client), s(role::server);
  ASSERT_FALSE(c.conn.close(close_code::normal));
  hop(c, s);
  hop(s, c);
  EXPECT_EQ(s.conn.send_text("late"), cw::error::already_closing);
  EXPECT_EQ(c.conn.send_text("late"), cw::error::already_closing);
  EXPECT_EQ(s.conn.close(close_code::normal), cw::error::already_closing);
}

TEST(regression, no_send_after_eof_is_not_open) {
  peer c(role::client);
  c.conn.receive_eof();
  EXPECT_EQ(c.conn.send_text("late"), cw::error::not_open);
  EXPECT_EQ(c.conn.close(close_code::normal), cw::error::not_open);
}

TEST(regression, no_pong_after_close) {
  peer s(role::server);
  ASSERT_FALSE(s.conn.close(close_code::normal));
  s.take();
  s.feed(frame(opcode::ping, "late", true));
  EXPECT_EQ(s.rec.pings, std::vector<std::string>{"late"});
  EXPECT_EQ(s.conn.output_size(), 0u);
}

TEST(regression, data_received_while_closing_local_is_delivered) {
  peer s(role::server);
  ASSERT_FALSE(s.conn.close(close_code::normal));
  s.take();
  s.feed(frame(opcode::text, "in flight", true) + frame(opcode::close, close_body(1000), true));
  ASSERT_EQ(s.rec.messages.size(), 1u);
  EXPECT_EQ(s.rec.messages[0].second, "in flight");
  EXPECT_EQ(s.rec.closed.at(0), clean(close_code::normal, initiator::local));
}

TEST(regression, on_closed_is_called_exactly_once) {
  peer c(role::client), s(role::server);
  ASSERT_FALSE(c.conn.close(close_code::normal));
  hop(c, s);
  hop(s, c);
  c.conn.receive_eof();
  c.conn.on_close_timeout();
  c.conn.abort(cw::error::aborted);
  s.conn.receive_eof();
  EXPECT_EQ(c.rec.closed.size(), 1u);
  EXPECT_EQ(s.rec.closed.size(), 1u);
  EXPECT_TRUE(c.rec.closed[0].was_clean);
}

TEST(regression, bytes_after_the_peers_close_are_ignored) {
  peer s(role::server);
  s.feed(frame(opcode::close, close_body(1000), true) + frame(opcode::text, "after", true));
  EXPECT_TRUE(s.rec.messages.empty());
  EXPECT_EQ(to_hex(s.take()), "88 02 03 e8");
}

TEST(regression, send_during_on_close_frame_goes_before_the_echo) {
  peer s(role::server);
  s.rec.on_close_frame_hook = [&] {
    EXPECT_EQ(s.conn.get_state(), state::closing_remote);
    EXPECT_TRUE(s.conn.can_send());
    EXPECT_FALSE(s.conn.can_receive());
    EXPECT_FALSE(s.conn.send_text("last"));
    EXPECT_EQ(s.conn.close(close_code::normal), cw::error::already_closing);
  };
  s.feed(frame(opcode::close, close_body(1000), true));
  EXPECT_EQ(to_hex(s.take()), "81 04 6c 61 73 74 88 02 03 e8");
  EXPECT_EQ(s.rec.closed.at(0), clean(close_code::normal, initiator::remote));
}

TEST(regression, abort_inside_on_close_frame_suppresses_the_echo) {
  peer s(role::server);
  s.rec.on_close_frame_hook = [&] { s.conn.abort(cw::error::aborted); };
  s.feed(frame(opcode::close, close_body(1000), true));
  EXPECT_EQ(s.conn.output_size(), 0u);
  ASSERT_EQ(s.rec.closed.size(), 1u);
  EXPECT_EQ(s.rec.closed[0], (cw::close_event{close_code::abnormal, "", false, initiator::remote,
                                              cw::error::aborted}));
}

TEST(regression, close_from_on_message_stops_later_sends_but_keeps_reading) {
  peer s(role::server);
  s.rec.on_message_hook = [&](std::string_view) {
    if (s.conn.get_state() == state::open) {
      EXPECT_FALSE(s.conn.close(close_code::normal, "enough"));
    }
  };
  s.feed(frame(opcode::text, "one", true) + frame(opcode::text, "two", true) +
         frame(opcode::close, close_body(1000), true));
  EXPECT_EQ(s.rec.messages.size(), 2u);
  EXPECT_EQ(to_hex(s.take()), to_hex(close_frame(role::server, 1000, "enough")));
  EXPECT_EQ(s.rec.closed.at(0), clean(close_code::normal, initiator::local));
}

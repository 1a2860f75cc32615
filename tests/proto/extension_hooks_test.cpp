// The two generic hooks another layer (resume) negotiates through: extension
// elements passed through the opening handshake (RFC 6455 §9.1) and reserved
// control opcodes (§5.2 "%xB-F are reserved for further control frames") given
// meaning by a negotiated extension.
#include "closewise/proto/connection.hpp"

#include <gtest/gtest.h>

#include <string>
#include <vector>

#include "closewise/error.hpp"
#include "closewise/proto/handshake.hpp"
#include "proto/peer.hpp"

namespace cw = closewise;
namespace proto = closewise::proto;
using cw::close_code;
using cw::test::frame;
using cw::test::hop;
using cw::test::peer;
using cw::test::to_hex;
using proto::opcode;
using proto::role;
using proto::state;
using namespace std::string_literals;

namespace {

// A handler that also records extension control frames.
struct ext_recorder : cw::test::recorder {
  std::vector<std::pair<int, std::string>> ext;
  void on_extension_control(std::uint8_t op, std::string_view p) override {
    ext.emplace_back(op, std::string(p));
  }
};

struct ext_peer {
  ext_recorder rec;
  proto::connection conn;
  explicit ext_peer(role r, std::uint16_t opcodes)
      : conn(r, rec, [&] {
          auto c = cw::test::fixed_key_config();
          c.extension_control_opcodes = opcodes;
          return c;
        }()) {
    conn.open();
  }
  std::string take() {
    std::string b;
    conn.swap_output(b);
    return b;
  }
};

constexpr std::uint16_t bit_b = 1u << 0xB;

proto::opcode op(int v) { return static_cast<opcode>(v); }

}  // namespace

// ---- reserved control opcodes ------------------------------------------------------

TEST(extension_control, enabled_opcode_reaches_the_handler_both_ways) {
  ext_peer c(role::client, bit_b), s(role::server, bit_b);
  ASSERT_FALSE(c.conn.send_extension_control(0xB, "\x01\x02"s));
  const std::string wire = c.take();
  // FIN + opcode B, masked, 2 bytes: 01 02 ^ 37 fa = 36 f8.
  EXPECT_EQ(to_hex(wire), "8b 82 37 fa 21 3d 36 f8");
  s.conn.receive(wire);
  ASSERT_EQ(s.rec.ext.size(), 1u);
  EXPECT_EQ(s.rec.ext[0], std::make_pair(0xB, "\x01\x02"s));
  EXPECT_EQ(s.conn.get_state(), state::open);

  ASSERT_FALSE(s.conn.send_extension_control(0xB, "xyz"));
  const std::string back = s.take();
  EXPECT_EQ(to_hex(back), "8b 03 78 79 7a");
  c.conn.receive(back);
  ASSERT_EQ(c.rec.ext.size(), 1u);
  EXPECT_EQ(c.rec.ext[0], std::make_pair(0xB, "xyz"s));
}

TEST(extension_control, disabled_opcode_still_fails_with_1002) {
  for (int v : {0xB, 0xC, 0xF}) {
    ext_peer s(role::server, v == 0xB ? std::uint16_t{1u << 0xC} : bit_b);
    s.conn.receive(frame(op(v), "", true));
    EXPECT_EQ(s.conn.get_state(), state::closed) << v;
    ASSERT_TRUE(s.conn.result()) << v;
    EXPECT_EQ(s.conn.result()->code, close_code::protocol_error) << v;
    EXPECT_EQ(s.conn.result()->error, cw::error::bad_opcode) << v;
    EXPECT_TRUE(s.rec.ext.empty());
  }
}

TEST(extension_control, bits_outside_b_to_f_are_ignored) {
  // Bits 3-7 would be reserved *data* opcodes: never let through by this hook.
  ext_peer s(role::server, 0x00F8);
  s.conn.receive(frame(op(0x3), "", true));
  EXPECT_EQ(s.conn.result()->error, cw::error::bad_opcode);
  ext_peer c(role::client, 0x00F8);
  EXPECT_EQ(c.conn.send_extension_control(0x3, ""), cw::error::invalid_argument);
}

TEST(extension_control, control_frame_rules_still_apply) {
  {  // RFC 6455 §5.5: not fragmented.
    ext_peer s(role::server, bit_b);
    s.conn.receive(frame(op(0xB), "ab", true, /*fin=*/false));
    EXPECT_EQ(s.conn.result()->error, cw::error::bad_control_frame);
  }
  {  // RFC 6455 §5.5: at most 125 bytes.
    ext_peer s(role::server, bit_b);
    s.conn.receive(frame(op(0xB), std::string(126, 'x'), true));
    EXPECT_EQ(s.conn.result()->error, cw::error::bad_control_frame);
  }
  {  // RFC 6455 §5.1: a server frame must not be masked.
    ext_peer c(role::client, bit_b);
    c.conn.receive(frame(op(0xB), "", true));
    EXPECT_EQ(c.conn.result()->error, cw::error::bad_masking);
  }
  ext_peer c(role::client, bit_b);
  EXPECT_EQ(c.conn.send_extension_control(0xB, std::string(126, 'x')), cw::error::invalid_argument);
  EXPECT_EQ(c.conn.send_extension_control(0xC, ""), cw::error::invalid_argument);
  EXPECT_EQ(c.conn.send_extension_control(0x10 | 0xB, ""), cw::error::invalid_argument);
}

TEST(extension_control, interleaved_in_a_fragmented_message_and_split_across_reads) {
  ext_peer s(role::server, bit_b);
  // RFC 6455 §5.4: control frames may be injected in the middle of a fragmented message.
  const std::string bytes = frame(opcode::text, "hel", true, false) +
                            frame(op(0xB), "12345678", true) +
                            frame(opcode::continuation, "lo", true, true);
  for (char ch : bytes) s.conn.receive(&ch, 1);
  ASSERT_EQ(s.rec.ext.size(), 1u);
  EXPECT_EQ(s.rec.ext[0].second, "12345678");
  ASSERT_EQ(s.rec.messages.size(), 1u);
  EXPECT_EQ(s.rec.messages[0].second, "hello");
}

TEST(extension_control, not_sent_after_our_close_frame) {
  ext_peer c(role::client, bit_b);
  ASSERT_FALSE(c.conn.close(close_code::normal));
  EXPECT_EQ(c.conn.send_extension_control(0xB, ""), cw::error::already_closing);
  ext_peer fresh(role::client, bit_b);
  proto::connection unopened(role::client, fresh.rec, {});
  EXPECT_EQ(unopened.send_extension_control(0xB, ""), cw::error::invalid_argument);
}

TEST(extension_control, received_while_closing_local_is_still_reported) {
  ext_peer c(role::client, bit_b), s(role::server, bit_b);
  ASSERT_FALSE(s.conn.send_extension_control(0xB, "a"));
  ASSERT_FALSE(c.conn.close(close_code::normal));
  c.conn.receive(s.take());
  EXPECT_EQ(c.rec.ext.size(), 1u);
  EXPECT_EQ(c.conn.get_state(), state::closing_local);
}

// ---- extension elements through the opening handshake ---------------------------

namespace {

constexpr std::string_view sample_key = "dGhlIHNhbXBsZSBub25jZQ==";

proto::client_request_options opts_with(std::vector<std::string> ext, bool deflate = false) {
  proto::client_request_options o;
  o.host = "h:1";
  o.target = "/";
  o.key = std::string(sample_key);
  o.extensions = std::move(ext);
  o.deflate.enabled = deflate;
  return o;
}

std::string response_with(std::string_view ext_header) {
  std::string r =
      "HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
      "Sec-WebSocket-Accept: s3pPLMBiTxaQ9kYGzzhZRbK+xOo=\r\n";
  if (!ext_header.empty()) r += "Sec-WebSocket-Extensions: " + std::string(ext_header) + "\r\n";
  return r + "\r\n";
}

proto::client_handshake::result feed(proto::client_handshake& h, const std::string& bytes) {
  std::size_t used = 0;
  return h.receive(bytes, used);
}

}  // namespace

TEST(extension_negotiation, offers_follow_deflate_in_one_header) {
  proto::client_handshake h(opts_with({"closewise-resume; session=ab", "other-ext"}, true));
  EXPECT_NE(h.request().find("\r\nSec-WebSocket-Extensions: permessage-deflate; "
                             "client_max_window_bits, closewise-resume; session=ab, other-ext\r\n"),
            std::string::npos)
      << h.request();
  proto::client_handshake only(opts_with({"closewise-resume"}));
  EXPECT_NE(only.request().find("\r\nSec-WebSocket-Extensions: closewise-resume\r\n"),
            std::string::npos);
}

TEST(extension_negotiation, bad_offers_are_refused) {
  for (const auto& bad : std::vector<std::vector<std::string>>{{""},
                                                               {"a b"},
                                                               {"x\r\nEvil: 1"},
                                                               {"a, b"},
                                                               {"a", "A; p=1"},
                                                               {"permessage-deflate"},
                                                               {"a;"}}) {
    proto::client_handshake h(opts_with(bad));
    EXPECT_TRUE(h.request().empty()) << bad.front();
    EXPECT_EQ(h.error(), cw::error::invalid_argument) << bad.front();
  }
}

TEST(extension_negotiation, answer_is_returned_and_deflate_still_checked) {
  proto::client_handshake h(opts_with({"closewise-resume"}, true));
  ASSERT_EQ(feed(h, response_with("permessage-deflate, closewise-resume; session=ab; status=new")),
            proto::client_handshake::result::accepted)
      << h.error().message();
  ASSERT_EQ(h.extensions().size(), 1u);
  EXPECT_EQ(h.extensions()[0], "closewise-resume; session=ab; status=new");
  EXPECT_TRUE(h.deflate());

  // Either order, and in separate header fields (RFC 7230 §3.2.2).
  proto::client_handshake h2(opts_with({"closewise-resume"}, true));
  std::string r = response_with("closewise-resume");
  r.insert(r.size() - 2, "Sec-WebSocket-Extensions: permessage-deflate\r\n");
  ASSERT_EQ(feed(h2, r), proto::client_handshake::result::accepted);
  EXPECT_EQ(h2.extensions(), std::vector<std::string>{"closewise-resume"});
  EXPECT_TRUE(h2.deflate());

  // Not answered: accepted, nothing returned.
  proto::client_handshake h3(opts_with({"closewise-resume"}));
  ASSERT_EQ(feed(h3, response_with("")), proto::client_handshake::result::accepted);
  EXPECT_TRUE(h3.extensions().empty());
}

TEST(extension_negotiation, unoffered_or_duplicated_answers_fail) {
  // RFC 6455 §4.1: an extension "that was not present in the client's handshake".
  proto::client_handshake a(opts_with({}));
  EXPECT_EQ(feed(a, response_with("closewise-resume")), proto::client_handshake::result::failed);
  EXPECT_EQ(a.error(), cw::error::bad_extension);
  proto::client_handshake b(opts_with({"closewise-resume"}));
  EXPECT_EQ(feed(b, response_with("closewise-resume, closewise-resume")),
            proto::client_handshake::result::failed);
  EXPECT_EQ(b.error(), cw::error::bad_extension);
  EXPECT_TRUE(b.extensions().empty());
  proto::client_handshake c(opts_with({"closewise-resume"}));
  EXPECT_EQ(feed(c, response_with("closewise-resume, something-else")),
            proto::client_handshake::result::failed);
  EXPECT_EQ(c.error(), cw::error::bad_extension);
  // permessage-deflate answered without being offered still fails.
  proto::client_handshake d(opts_with({"closewise-resume"}));
  EXPECT_EQ(feed(d, response_with("closewise-resume, permessage-deflate")),
            proto::client_handshake::result::failed);
}

TEST(extension_negotiation, server_appends_the_answer_after_deflate) {
  proto::server_handshake s;
  const std::string req =
      "GET / HTTP/1.1\r\nHost: h\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
      "Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n"
      "Sec-WebSocket-Extensions: permessage-deflate, closewise-resume\r\n\r\n";
  std::size_t used = 0;
  ASSERT_EQ(s.receive(req, used), proto::server_handshake::result::valid);
  EXPECT_EQ(s.request().extensions, "permessage-deflate, closewise-resume");
  proto::deflate_options d;
  d.enabled = true;
  const std::string out = s.accept({}, d, "closewise-resume; session=ab; status=new");
  EXPECT_NE(out.find("\r\nSec-WebSocket-Extensions: permessage-deflate, closewise-resume; "
                     "session=ab; status=new\r\n"),
            std::string::npos)
      << out;
  proto::server_handshake s2;
  ASSERT_EQ(s2.receive(req, used), proto::server_handshake::result::valid);
  const std::string plain = s2.accept({}, {}, "closewise-resume; status=new");
  EXPECT_NE(plain.find("\r\nSec-WebSocket-Extensions: closewise-resume; status=new\r\n"),
            std::string::npos);
  proto::server_handshake s3;
  ASSERT_EQ(s3.receive(req, used), proto::server_handshake::result::valid);
  EXPECT_EQ(s3.accept({}, {}, "x\r\nEvil: 1").find("Evil"), std::string::npos);
  EXPECT_EQ(s3.accept({}, {}, "").find("Sec-WebSocket-Extensions"), std::string::npos);
}

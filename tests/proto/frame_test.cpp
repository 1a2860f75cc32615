#include "closewise/proto/frame.hpp"

#include <gtest/gtest.h>

#include <cstdint>
#include <string>
#include <vector>

#include "closewise/error.hpp"
#include "proto/peer.hpp"

namespace cw = closewise;
namespace proto = closewise::proto;
using cw::test::hex;
using cw::test::to_hex;

namespace {

std::string encode(const proto::frame_header& h) {
  std::uint8_t buf[proto::max_header_size];
  const auto n = proto::encode_header(h, buf);
  return std::string(reinterpret_cast<const char*>(buf), n);
}

std::size_t decode(const std::string& bytes, proto::frame_header& h, std::error_code& ec) {
  return proto::decode_header(reinterpret_cast<const std::uint8_t*>(bytes.data()), bytes.size(), h,
                              ec);
}

}  // namespace

TEST(frame_header, encodes_7_bit_length) {
  proto::frame_header h;
  h.op = proto::opcode::text;
  h.length = 5;
  EXPECT_EQ(to_hex(encode(h)), "81 05");
  h.length = 125;
  EXPECT_EQ(to_hex(encode(h)), "81 7d");
}

TEST(frame_header, encodes_16_bit_length) {
  proto::frame_header h;
  h.op = proto::opcode::binary;
  h.fin = false;
  h.length = 126;
  EXPECT_EQ(to_hex(encode(h)), "02 7e 00 7e");
  h.length = 65535;
  EXPECT_EQ(to_hex(encode(h)), "02 7e ff ff");
}

TEST(frame_header, encodes_64_bit_length) {
  proto::frame_header h;
  h.op = proto::opcode::binary;
  h.length = 65536;
  EXPECT_EQ(to_hex(encode(h)), "82 7f 00 00 00 00 00 01 00 00");
  h.length = 0x0102030405060708ull;
  EXPECT_EQ(to_hex(encode(h)), "82 7f 01 02 03 04 05 06 07 08");
}

TEST(frame_header, encodes_mask_key_and_flags) {
  proto::frame_header h;
  h.op = proto::opcode::close;
  h.rsv1 = true;
  h.rsv3 = true;
  h.masked = true;
  h.mask_key = cw::test::test_key();
  h.length = 2;
  EXPECT_EQ(to_hex(encode(h)), "d8 82 37 fa 21 3d");
}

TEST(frame_header, decodes_what_it_encodes) {
  for (std::uint64_t len : {0ull, 1ull, 125ull, 126ull, 127ull, 65535ull, 65536ull, 1ull << 40}) {
    for (bool masked : {false, true}) {
      proto::frame_header h;
      h.fin = (len & 1) == 0;
      h.rsv2 = true;
      h.op = proto::opcode::pong;
      h.masked = masked;
      h.mask_key = masked ? 0xA1B2C3D4u : 0;
      h.length = len;
      const std::string bytes = encode(h);
      proto::frame_header got;
      std::error_code ec;
      EXPECT_EQ(decode(bytes, got, ec), bytes.size());
      EXPECT_FALSE(ec);
      EXPECT_EQ(got, h) << len;
      // Every strict prefix asks for more bytes without an error.
      for (std::size_t i = 0; i < bytes.size(); ++i) {
        EXPECT_EQ(decode(bytes.substr(0, i), got, ec), 0u);
        EXPECT_FALSE(ec);
      }
    }
  }
}

TEST(frame_header, rejects_64_bit_length_with_top_bit_set) {
  proto::frame_header h;
  std::error_code ec;
  EXPECT_EQ(decode(hex("82 7f 80 00 00 00 00 00 00 00"), h, ec), 0u);
  EXPECT_EQ(ec, cw::error::bad_length);
  EXPECT_EQ(decode(hex("82 ff ff ff ff ff ff ff ff ff 01 02 03 04"), h, ec), 0u);
  EXPECT_EQ(ec, cw::error::bad_length);
}

TEST(frame_header, rejects_lengths_not_in_shortest_form) {
  proto::frame_header h;
  std::error_code ec;
  EXPECT_EQ(decode(hex("82 7e 00 7d"), h, ec), 0u);
  EXPECT_EQ(ec, cw::error::bad_length);
  EXPECT_EQ(decode(hex("82 7f 00 00 00 00 00 00 ff ff"), h, ec), 0u);
  EXPECT_EQ(ec, cw::error::bad_length);
  EXPECT_EQ(decode(hex("82 7e 00 7e"), h, ec), 4u);
  EXPECT_FALSE(ec);
}

TEST(masking, matches_the_rfc_definition_for_every_size_offset_and_alignment) {
  // RFC 6455 §5.3: transformed-octet-i = original-octet-i XOR masking-key-octet-(i MOD 4).
  const std::uint32_t key = cw::test::test_key();
  std::vector<std::uint8_t> buf(5000 + 64);
  for (std::size_t size :
       {0u,   1u,   3u,   4u,   7u,   8u,   15u,  16u,  17u,  31u,   32u,   33u,   63u,  64u,
        127u, 128u, 129u, 200u, 255u, 256u, 300u, 511u, 600u, 2047u, 2048u, 2100u, 5000u}) {
    for (std::size_t align = 0; align < 33; align += 1) {
      for (std::size_t offset = 0; offset < 6; ++offset) {
        std::uint8_t* p = buf.data() + align;
        for (std::size_t i = 0; i < size; ++i) p[i] = static_cast<std::uint8_t>(i * 7 + align);
        proto::apply_mask(p, size, key, offset);
        for (std::size_t i = 0; i < size; ++i) {
          const auto want = static_cast<std::uint8_t>((i * 7 + align) ^
                                                      cw::test::test_key_bytes[(i + offset) % 4]);
          ASSERT_EQ(p[i], want) << "size " << size << " align " << align << " offset " << offset
                                << " byte " << i;
        }
      }
    }
  }
}

TEST(masking, twice_restores_and_pieces_compose_with_offsets) {
  std::string data(1000, '\0');
  for (std::size_t i = 0; i < data.size(); ++i) data[i] = static_cast<char>(i);
  std::string whole = data;
  auto* w = reinterpret_cast<std::uint8_t*>(whole.data());
  proto::apply_mask(w, whole.size(), 0x12345678u);
  std::string pieces = data;
  auto* q = reinterpret_cast<std::uint8_t*>(pieces.data());
  // Masking in pieces with the running offset gives the same bytes as at once.
  std::size_t at = 0;
  for (std::size_t step : {1u, 2u, 5u, 130u, 3u, 400u, 459u}) {
    proto::apply_mask(q + at, step, 0x12345678u, at);
    at += step;
  }
  ASSERT_EQ(at, data.size());
  EXPECT_EQ(pieces, whole);
  proto::apply_mask(w, whole.size(), 0x12345678u);
  EXPECT_EQ(whole, data);
}

TEST(close_payload, builds_code_then_reason) {
  EXPECT_EQ(to_hex(proto::make_close_payload(cw::close_code::normal, "ok")), "03 e8 6f 6b");
  EXPECT_EQ(to_hex(proto::make_close_payload(static_cast<cw::close_code>(4999), "")), "13 87");
  EXPECT_EQ(proto::make_close_payload(cw::close_code::no_status, "ignored"), "");
}

TEST(close_payload, empty_is_reported_as_1005) {
  proto::close_payload out;
  out.code = cw::close_code::normal;
  EXPECT_FALSE(proto::parse_close_payload("", out));
  EXPECT_EQ(out.code, cw::close_code::no_status);
  EXPECT_EQ(out.reason, "");
}

TEST(close_payload, rejects_one_byte_and_over_125_bytes) {
  proto::close_payload out;
  EXPECT_EQ(proto::parse_close_payload(hex("03"), out), cw::error::bad_close_payload);
  EXPECT_EQ(proto::parse_close_payload(cw::test::close_body(1000, std::string(124, 'a')), out),
            cw::error::bad_close_payload);
  EXPECT_FALSE(proto::parse_close_payload(cw::test::close_body(1000, std::string(123, 'a')), out));
  EXPECT_EQ(out.reason.size(), 123u);
}

TEST(close_payload, rejects_every_code_not_valid_on_the_wire) {
  for (std::uint16_t code : {0, 999, 1004, 1005, 1006, 1015, 1016, 1100, 2000, 2999, 5000, 65535}) {
    proto::close_payload out;
    EXPECT_EQ(proto::parse_close_payload(cw::test::close_body(code), out),
              cw::error::bad_close_code)
        << code;
  }
}

TEST(close_payload, accepts_every_code_valid_on_the_wire) {
  for (std::uint16_t code : {1000, 1001, 1002, 1003, 1007, 1008, 1009, 1010, 1011, 1012, 1013, 1014,
                             3000, 3999, 4000, 4999}) {
    proto::close_payload out;
    const std::string body = cw::test::close_body(code, "why");  // out.reason views it
    EXPECT_FALSE(proto::parse_close_payload(body, out)) << code;
    EXPECT_EQ(cw::to_int(out.code), code);
    EXPECT_EQ(out.reason, "why");
  }
}

TEST(close_payload, rejects_reason_that_is_not_utf8) {
  proto::close_payload out;
  EXPECT_EQ(proto::parse_close_payload(cw::test::close_body(1000, "\xC3\x28"), out),
            cw::error::invalid_utf8);
  EXPECT_EQ(proto::parse_close_payload(cw::test::close_body(1000, "ab\xE2\x82"), out),
            cw::error::invalid_utf8);
  EXPECT_FALSE(proto::parse_close_payload(cw::test::close_body(1000, "\xE2\x82\xAC"), out));
}

TEST(opcodes, reserved_and_control_classification) {
  for (int op = 0; op < 16; ++op) {
    const bool reserved = (op >= 3 && op <= 7) || op >= 11;
    EXPECT_EQ(proto::is_reserved(static_cast<proto::opcode>(op)), reserved) << op;
  }
  EXPECT_TRUE(proto::is_control(proto::opcode::close));
  EXPECT_TRUE(proto::is_control(proto::opcode::ping));
  EXPECT_TRUE(proto::is_control(proto::opcode::pong));
  EXPECT_FALSE(proto::is_control(proto::opcode::text));
  EXPECT_FALSE(proto::is_control(proto::opcode::continuation));
  EXPECT_FALSE(proto::is_control(proto::opcode::binary));
  EXPECT_TRUE(proto::begins_message(proto::opcode::text));
  EXPECT_TRUE(proto::begins_message(proto::opcode::binary));
  EXPECT_FALSE(proto::begins_message(proto::opcode::continuation));
  EXPECT_FALSE(proto::begins_message(proto::opcode::ping));
}

TEST(opcodes, names_follow_the_rfc_registry) {
  EXPECT_EQ(proto::to_string(proto::opcode::continuation), "continuation");
  EXPECT_EQ(proto::to_string(proto::opcode::text), "text");
  EXPECT_EQ(proto::to_string(proto::opcode::binary), "binary");
  EXPECT_EQ(proto::to_string(proto::opcode::close), "close");
  EXPECT_EQ(proto::to_string(proto::opcode::ping), "ping");
  EXPECT_EQ(proto::to_string(proto::opcode::pong), "pong");
  EXPECT_EQ(proto::to_string(static_cast<proto::opcode>(0x3)), "reserved");
  EXPECT_EQ(proto::to_string(static_cast<proto::opcode>(0xB)), "reserved");
}

#include "closewise/close_event.hpp"

#include <gtest/gtest.h>

#include "closewise/error.hpp"

namespace cw = closewise;

TEST(close_reason, accepts_up_to_123_bytes_of_utf8) {
  EXPECT_FALSE(cw::validate_close_reason(""));
  EXPECT_FALSE(cw::validate_close_reason(std::string(123, 'a')));
  EXPECT_EQ(cw::validate_close_reason(std::string(124, 'a')), cw::error::close_reason_too_long);
  EXPECT_FALSE(cw::validate_close_reason("h\xC3\xA9llo \xE2\x82\xAC \xF0\x9F\x98\x80"));
  EXPECT_EQ(cw::validate_close_reason("\xC3"), cw::error::close_reason_not_utf8);
  EXPECT_EQ(cw::validate_close_reason("\xED\xA0\x80"), cw::error::close_reason_not_utf8);
}

TEST(close_reason, app_close_refuses_codes_it_may_not_send) {
  EXPECT_FALSE(cw::validate_app_close(cw::close_code::normal, "bye"));
  EXPECT_FALSE(cw::validate_app_close(static_cast<cw::close_code>(4001), "bye"));
  for (unsigned v : {0u, 999u, 1001u, 1005u, 1006u, 1012u, 1015u, 2999u, 5000u})
    EXPECT_EQ(cw::validate_app_close(static_cast<cw::close_code>(v), ""),
              cw::error::close_code_not_sendable)
        << v;
  EXPECT_EQ(cw::validate_app_close(cw::close_code::normal, std::string(200, 'x')),
            cw::error::close_reason_too_long);
}

TEST(close_reason, endpoint_close_may_also_send_protocol_codes) {
  for (unsigned v : {1001u, 1002u, 1003u, 1007u, 1008u, 1011u, 1012u, 1013u, 1014u})
    EXPECT_FALSE(cw::validate_endpoint_close(static_cast<cw::close_code>(v), "")) << v;
  for (unsigned v : {1004u, 1005u, 1006u, 1015u, 1016u})
    EXPECT_EQ(cw::validate_endpoint_close(static_cast<cw::close_code>(v), ""),
              cw::error::close_code_not_sendable)
        << v;
}

// A relay passes on exactly the codes valid on the wire, and 1005 with no
// reason for a close frame without a body (docs/proxy.md); over all 65,536.
TEST(close_reason, relay_close_passes_every_wire_valid_code_and_an_empty_close) {
  for (unsigned v = 0; v < 65536; ++v) {
    const auto c = static_cast<cw::close_code>(v);
    const bool wire = cw::is_endpoint_sendable(c);
    if (v == 1005u) {
      EXPECT_FALSE(cw::validate_relay_close(c, ""));
      EXPECT_EQ(cw::validate_relay_close(c, "x"), cw::error::close_code_not_sendable);
    } else if (wire) {
      EXPECT_FALSE(cw::validate_relay_close(c, "r")) << v;
    } else {
      EXPECT_EQ(cw::validate_relay_close(c, ""), cw::error::close_code_not_sendable) << v;
    }
  }
  EXPECT_EQ(cw::validate_relay_close(cw::close_code::going_away, std::string(124, 'x')),
            cw::error::close_reason_too_long);
  EXPECT_EQ(cw::validate_relay_close(cw::close_code::going_away, "\xFF"),
            cw::error::close_reason_not_utf8);
}

TEST(close_reason, truncate_cuts_on_a_code_point_boundary) {
  // 61 two-byte characters = 122 bytes, then a 3-byte euro sign: 125 bytes.
  std::string s;
  for (int i = 0; i < 61; ++i) s += "\xC3\xA9";
  s += "\xE2\x82\xAC";
  EXPECT_EQ(cw::truncate_close_reason(s).size(), 122u);
  EXPECT_EQ(cw::truncate_close_reason("abc", 2), "ab");
  EXPECT_EQ(cw::truncate_close_reason("a\xC3\xA9", 2), "a");
  EXPECT_EQ(cw::truncate_close_reason("ok\xFFtail"), "ok");
  EXPECT_EQ(cw::truncate_close_reason(std::string(123, 'z')).size(), 123u);
}

TEST(close_event, initiator_names) {
  EXPECT_EQ(cw::to_string(cw::initiator::local), "local");
  EXPECT_EQ(cw::to_string(cw::initiator::remote), "remote");
  EXPECT_EQ(cw::to_string(cw::initiator::none), "none");
}

#include "closewise/error.hpp"

#include <gtest/gtest.h>

namespace cw = closewise;

TEST(error, codes_compare_against_conditions) {
  std::error_code ec = cw::error::tls_verify_failed;
  EXPECT_EQ(ec, cw::condition::tls_verification);
  EXPECT_EQ(ec, cw::condition::tls) << "a verification failure is a TLS failure";
  EXPECT_NE(std::error_code(cw::error::tls_error), cw::condition::tls_verification);
  EXPECT_EQ(std::error_code(cw::error::heartbeat_timeout), cw::condition::timeout);
  EXPECT_EQ(std::error_code(cw::error::invalid_utf8), cw::condition::protocol_violation);
  EXPECT_EQ(std::error_code(cw::error::bad_accept), cw::condition::handshake_failed);
  EXPECT_EQ(std::error_code(cw::error::queue_full), cw::condition::backpressure);
  EXPECT_EQ(std::error_code(cw::error::not_open), cw::condition::closed);
  EXPECT_EQ(std::error_code(cw::error::connection_reset), cw::condition::transport);
  EXPECT_EQ(std::error_code(cw::error::close_reason_too_long), cw::condition::api_misuse);
}

TEST(error, messages_are_readable) {
  EXPECT_EQ(std::error_code(cw::error::close_reason_too_long).message(),
            "close reason is longer than 123 bytes");
  EXPECT_STREQ(std::error_code(cw::error::bad_frame).category().name(), "closewise");
}

#include "closewise/policy/outcome.hpp"

#include <gtest/gtest.h>

#include "closewise/error.hpp"
#include "policy/support.hpp"

namespace cw = closewise::policy;
using closewise::error;
using namespace closewise::policy::test;

TEST(outcome, describes_the_cause_as_a_person_reads_it) {
  EXPECT_EQ(cw::describe(remote_close(1012)), "1012 Service Restart");
  EXPECT_EQ(cw::describe(remote_close(4321)), "4321 Private use");
  EXPECT_EQ(cw::describe(refused(503)), "HTTP 503");
  EXPECT_EQ(cw::describe(cw::outcome{cw::transport_failure::refused}), "connection refused");
}

TEST(outcome, only_a_local_close_without_error_is_the_application_closing) {
  EXPECT_TRUE(cw::is_application_close(app_close()));
  EXPECT_FALSE(cw::is_application_close(remote_close(1000)));
  EXPECT_FALSE(cw::is_application_close(dropped(1006, error::heartbeat_timeout)));
  EXPECT_FALSE(cw::is_application_close(refused(404)));
}

TEST(outcome, transport_failure_names_round_trip) {
  for (auto f : cw::all_transport_failures) {
    EXPECT_EQ(cw::parse_transport_failure(cw::to_string(f)), f);
    EXPECT_FALSE(cw::describe(f).empty());
  }
  EXPECT_FALSE(cw::parse_transport_failure("DNS").has_value());
}

TEST(outcome, closewise_errors_map_to_transport_failures) {
  using F = cw::transport_failure;
  EXPECT_EQ(cw::transport_failure_from(error::dns_failure), F::dns);
  EXPECT_EQ(cw::transport_failure_from(error::connection_refused), F::refused);
  EXPECT_EQ(cw::transport_failure_from(error::connection_reset), F::reset);
  EXPECT_EQ(cw::transport_failure_from(error::eof_without_close), F::reset);
  EXPECT_EQ(cw::transport_failure_from(error::connect_timeout), F::timeout);
  EXPECT_EQ(cw::transport_failure_from(error::handshake_timeout), F::timeout);
  EXPECT_EQ(cw::transport_failure_from(error::tls_verify_failed), F::tls_verify);
  EXPECT_EQ(cw::transport_failure_from(error::tls_error), F::tls_other);
  EXPECT_EQ(cw::transport_failure_from(error::transport_error), F::other);
  EXPECT_EQ(cw::transport_failure_from(std::make_error_code(std::errc::connection_refused)),
            F::refused);
  EXPECT_FALSE(cw::transport_failure_from(error::bad_opcode).has_value());
  EXPECT_FALSE(cw::transport_failure_from(std::error_code{}).has_value());
}

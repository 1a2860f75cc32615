// Which closes keep a session (docs/resume.md §6), restated as independent
// rules and checked over every close code.
#include "closewise/resume/fate.hpp"

#include <gtest/gtest.h>

#include "closewise/error.hpp"

namespace closewise::resume {
namespace {

/// docs/resume.md §6, written out by hand: the codes after which a client comes back.
bool kept_by_rule(std::uint32_t c) {
  if (c == 1001 || c == 1005 || c == 1006) return true;
  if (c >= 1011 && c <= 1016 - 1) return true;  // 1011 internal .. 1015 TLS (retried unless verify)
  if (c >= 1016 && c <= 2999) return true;      // unknown meaning: retried
  if (c >= 3000 && c <= 3499) return true;
  if (c >= 4000 && c <= 4499) return true;
  return false;  // 0-999, 1000, 1002-1004, 1007-1010, 3500-3999, 4500-4999, >= 5000
}

close_event ev(close_code code, initiator who, bool clean = true) {
  return close_event{code, {}, clean, who, clean ? std::error_code() : error::connection_reset};
}

}  // namespace

TEST(close_fate, every_code_follows_the_rule) {
  for (std::uint32_t c = 0; c <= 0xFFFF; ++c) {
    const auto code = static_cast<close_code>(c);
    ASSERT_EQ(fate_of_code(code), kept_by_rule(c) ? close_fate::keep : close_fate::end) << c;
  }
}

TEST(close_fate, server_rules) {
  // No close frame at all: a drop, a reset, a heartbeat death.
  EXPECT_EQ(server_fate(ev(close_code::abnormal, initiator::none, false)), close_fate::keep);
  // The server's own close: by the code it sent.
  EXPECT_EQ(server_fate(ev(close_code::service_restart, initiator::local)), close_fate::keep);
  EXPECT_EQ(server_fate(ev(close_code::going_away, initiator::local)), close_fate::keep);
  EXPECT_EQ(server_fate(ev(close_code::try_again_later, initiator::local)), close_fate::keep);
  EXPECT_EQ(server_fate(ev(close_code::policy_violation, initiator::local)), close_fate::end);
  EXPECT_EQ(server_fate(ev(close_code::normal, initiator::local)), close_fate::end);
  EXPECT_EQ(server_fate(ev(static_cast<close_code>(4000), initiator::local)), close_fate::keep);
  EXPECT_EQ(server_fate(ev(static_cast<close_code>(4500), initiator::local)), close_fate::end);
  // The server failed the connection: a broken peer.
  EXPECT_EQ(server_fate(ev(close_code::protocol_error, initiator::local, false)), close_fate::end);
  EXPECT_EQ(server_fate(ev(close_code::invalid_payload, initiator::local, false)), close_fate::end);
  // The server sent 1012 but the echo never came: proto reports 1006.
  EXPECT_EQ(
      server_fate(ev(close_code::abnormal, initiator::local, false), close_code::service_restart),
      close_fate::keep);
  EXPECT_EQ(
      server_fate(ev(close_code::abnormal, initiator::local, false), close_code::policy_violation),
      close_fate::end);
  // Any close frame from the client ends it, whatever its code.
  for (auto c : {close_code::normal, close_code::going_away, close_code::service_restart,
                 static_cast<close_code>(4000)})
    EXPECT_EQ(server_fate(ev(c, initiator::remote)), close_fate::end) << to_int(c);
  EXPECT_EQ(server_fate(ev(close_code::abnormal, initiator::remote, false)), close_fate::end)
      << "the client's close frame arrived, then its echo timed out";
}

TEST(close_fate, client_rules) {
  EXPECT_EQ(client_fate(ev(close_code::abnormal, initiator::none, false), true), close_fate::keep);
  EXPECT_EQ(client_fate(ev(close_code::abnormal, initiator::none, false), false), close_fate::end)
      << "the policy gave up (max_attempts, strikes)";
  EXPECT_EQ(client_fate(ev(close_code::service_restart, initiator::remote), true),
            close_fate::keep);
  EXPECT_EQ(client_fate(ev(close_code::going_away, initiator::remote), true), close_fate::keep);
  EXPECT_EQ(client_fate(ev(close_code::policy_violation, initiator::remote), true), close_fate::end)
      << "the server ended it even if a user policy retries 1008";
  EXPECT_EQ(client_fate(ev(close_code::normal, initiator::remote), true), close_fate::end)
      << "reconnect_on_normal_close comes back without the session";
  EXPECT_EQ(client_fate(ev(close_code::normal, initiator::local), false), close_fate::end);
  EXPECT_EQ(client_fate(ev(close_code::protocol_error, initiator::local, false), true),
            close_fate::end)
      << "the client failed the connection";
  EXPECT_EQ(to_string(close_fate::keep), "keep");
  EXPECT_EQ(to_string(close_fate::end), "end");
}

}  // namespace closewise::resume

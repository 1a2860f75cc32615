#include "closewise/policy/decision.hpp"

#include <gtest/gtest.h>

namespace cw = closewise::policy;
using namespace std::chrono_literals;

TEST(decision, factories_fill_the_fields) {
  const auto s = cw::decision::stop("HTTP 404", "HTTP 404: no endpoint");
  EXPECT_TRUE(s.stops());
  EXPECT_FALSE(s.retries());
  EXPECT_EQ(s.delay, 0ms);
  const auto r = cw::decision::retry(750ms, "1006 Abnormal Closure");
  EXPECT_TRUE(r.retries());
  EXPECT_EQ(r.delay, 750ms);
  EXPECT_EQ(r.cause, "1006 Abnormal Closure");
  EXPECT_TRUE(r.reason.empty());
}

TEST(decision, resolving_a_refresh_gives_one_retry_or_a_stop) {
  cw::decision d = cw::decision::retry(900ms, "HTTP 401");
  d.kind = cw::decision_kind::refresh_credentials;
  d.reason = "HTTP 401: no new credentials";
  const auto yes = cw::resolve_credential_refresh(d, true);
  EXPECT_TRUE(yes.retries());
  EXPECT_EQ(yes.delay, 900ms);
  EXPECT_TRUE(yes.after_credential_refresh);
  EXPECT_TRUE(yes.reason.empty());
  const auto no = cw::resolve_credential_refresh(d, false);
  EXPECT_TRUE(no.stops());
  EXPECT_EQ(no.reason, "HTTP 401: no new credentials");
  EXPECT_FALSE(no.after_credential_refresh);
  // Other decisions pass through untouched.
  const auto plain = cw::decision::retry(1s, "x");
  EXPECT_EQ(cw::resolve_credential_refresh(plain, false), plain);
}

#include "closewise/policy/retry_after.hpp"

#include <gtest/gtest.h>

namespace cw = closewise::policy;
using namespace std::chrono;
using namespace std::chrono_literals;

namespace {

// Wed, 25 Nov 2026 12:00:00 GMT.
const system_clock::time_point now = sys_days{2026y / November / 25} + 12h;

}  // namespace

TEST(parse_retry_after, delta_seconds) {
  EXPECT_EQ(cw::parse_retry_after("120", now), 120'000ms);
  EXPECT_EQ(cw::parse_retry_after("0", now), 0ms);
  EXPECT_EQ(cw::parse_retry_after(" \t30 ", now), 30'000ms);
  EXPECT_EQ(cw::parse_retry_after("007", now), 7'000ms);
}

TEST(parse_retry_after, huge_delta_saturates_instead_of_overflowing) {
  const auto v = cw::parse_retry_after("99999999999999999999999999999999", now);
  ASSERT_TRUE(v.has_value());
  EXPECT_GT(*v, hours{24 * 365 * 1000});
  EXPECT_GT(v->count(), 0);
}

TEST(parse_retry_after, garbage_and_negative_values_are_rejected) {
  for (const char* bad : {"", "   ", "-5", "+5", "1.5", "5s", "abc", "12 34", "0x10",
                          "Wed, 25 Nov 2026 12:00:30 UTC", "Wed, 31 Feb 2026 12:00:30 GMT",
                          "Wed, 25 Nov 2026 25:00:30 GMT", "Wed, 25 Foo 2026 12:00:30 GMT",
                          "Wed,25 Nov 2026 12:00:30 GMT", "Wed, 25 Nov 2026 12:00:30 GMT x"}) {
    EXPECT_FALSE(cw::parse_retry_after(bad, now).has_value()) << '"' << bad << '"';
  }
}

TEST(parse_retry_after, imf_fixdate) {
  EXPECT_EQ(cw::parse_retry_after("Wed, 25 Nov 2026 12:00:30 GMT", now), 30'000ms);
  EXPECT_EQ(cw::parse_retry_after("Thu, 26 Nov 2026 12:00:00 GMT", now), 86'400'000ms);
}

TEST(parse_retry_after, obsolete_rfc850_date) {
  EXPECT_EQ(cw::parse_retry_after("Wednesday, 25-Nov-26 12:00:30 GMT", now), 30'000ms);
  // RFC 9110 §5.6.7: more than 50 years ahead means the previous century.
  EXPECT_EQ(cw::parse_retry_after("Sunday, 06-Nov-94 08:49:37 GMT", now), 0ms);
}

TEST(parse_retry_after, obsolete_asctime_date) {
  EXPECT_EQ(cw::parse_retry_after("Wed Nov 25 12:00:30 2026", now), 30'000ms);
  EXPECT_EQ(cw::parse_retry_after("Sun Nov  6 08:49:37 1994", now), 0ms);
}

TEST(parse_retry_after, a_date_in_the_past_means_now) {
  EXPECT_EQ(cw::parse_retry_after("Sun, 06 Nov 1994 08:49:37 GMT", now), 0ms);
  EXPECT_EQ(cw::parse_retry_after("Wed, 25 Nov 2026 12:00:00 GMT", now), 0ms);
}

TEST(parse_close_retry_after, the_reason_form_of_a_closewise_server) {
  EXPECT_EQ(cw::parse_close_retry_after("retry-after=30"), 30'000ms);
  EXPECT_EQ(cw::parse_close_retry_after("Retry-After=5"), 5'000ms);
  EXPECT_EQ(cw::parse_close_retry_after("overloaded; retry-after=12"), 12'000ms);
  EXPECT_EQ(cw::parse_close_retry_after("retry-after=12, shedding"), 12'000ms);
}

TEST(parse_close_retry_after, anything_else_is_not_a_hint) {
  for (const char* bad : {"", "restart", "retry-after=", "retry-after=-3", "retry-after=3s",
                          "retry-after=1.5", "xretry-after=3", "retry-after 3"}) {
    EXPECT_FALSE(cw::parse_close_retry_after(bad).has_value()) << '"' << bad << '"';
  }
  EXPECT_GT(cw::parse_close_retry_after("retry-after=999999999999999999999")->count(), 0);
}

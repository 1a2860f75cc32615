#include "closewise/policy/backoff.hpp"

#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <limits>
#include <set>

#include "policy/support.hpp"

namespace cw = closewise::policy;
using namespace closewise::policy::test;

namespace {

// The documented bounds, restated: full jitter is [floor, floor + min(cap − floor, base·2ⁿ)).
std::pair<ms, ms> full_jitter_bounds(const cw::full_jitter& s, std::uint32_t n) {
  const double grown = static_cast<double>(s.base.count()) * std::pow(2.0, n);
  const double width = std::min(static_cast<double>((s.cap - s.floor).count()), grown);
  return {s.floor, s.floor + ms{static_cast<ms::rep>(width)}};
}

// Sources that probe the edges as well as the middle; broken ones must not escape the bounds.
std::vector<cw::uniform_source> probes() {
  return {constant(0.0),
          constant(0.5),
          constant(almost_one),
          constant(1.0),
          constant(-3.0),
          constant(7.0),
          constant(std::numeric_limits<double>::quiet_NaN()),
          cw::seeded_uniform(42)};
}

}  // namespace

TEST(full_jitter, delay_bounds_hold_at_every_attempt_from_0_to_50) {
  const cw::full_jitter s;
  for (std::uint32_t n = 0; n <= 50; ++n) {
    const auto [lo, hi] = full_jitter_bounds(s, n);
    for (const auto& u : probes()) {
      for (int i = 0; i < 50; ++i) {
        const ms d = cw::next_delay(s, n, 0ms, u);
        EXPECT_GE(d, lo) << "n=" << n;
        EXPECT_LT(d, hi) << "n=" << n;
      }
    }
  }
}

TEST(full_jitter, first_retry_is_floor_plus_up_to_base) {
  const cw::full_jitter s;
  EXPECT_EQ(cw::next_delay(s, 0, 0ms, constant(0.0)), 500ms);
  EXPECT_EQ(cw::next_delay(s, 0, 0ms, constant(0.5)), 750ms);
  EXPECT_EQ(cw::next_delay(s, 0, 0ms, constant(almost_one)), 999ms);
  EXPECT_EQ(cw::next_delay(s, 3, 0ms, constant(0.5)), 500ms + 2000ms);
}

TEST(full_jitter, jitter_survives_at_the_cap) {
  const cw::full_jitter s;
  const auto u = cw::seeded_uniform(7);
  std::set<ms::rep> distinct;
  int at_cap = 0;
  ms lo = ms::max(), hi = ms::min();
  for (int i = 0; i < 2000; ++i) {
    const ms d = cw::next_delay(s, 50, 0ms, u);
    distinct.insert(d.count());
    at_cap += d == s.cap;
    lo = std::min(lo, d);
    hi = std::max(hi, d);
  }
  EXPECT_EQ(at_cap, 0);               // no probability mass piles up on the cap
  EXPECT_GT(distinct.size(), 1900u);  // nearly every draw differs
  EXPECT_LT(lo, 2000ms);              // the whole [floor, cap) window is used
  EXPECT_GT(hi, 28000ms);
}

TEST(full_jitter, no_overflow_up_to_attempt_1000) {
  const cw::full_jitter s{ms{500}, ms{500}, ms{30'000}};
  const cw::full_jitter huge{ms{std::numeric_limits<std::int32_t>::max()}, ms{0},
                             ms{std::numeric_limits<std::int64_t>::max() / 2}};
  for (std::uint32_t n = 0; n <= 1000; ++n) {
    const ms d = cw::next_delay(s, n, 0ms, constant(almost_one));
    EXPECT_GE(d, s.floor);
    EXPECT_LT(d, s.cap);
    EXPECT_GE(cw::next_delay(huge, n, 0ms, constant(almost_one)), 0ms);
  }
  EXPECT_LT(cw::next_delay(s, std::numeric_limits<std::uint32_t>::max(), 0ms, constant(0.99)),
            s.cap);
}

TEST(full_jitter, floor_at_or_above_cap_waits_the_floor) {
  EXPECT_EQ(cw::next_delay(cw::full_jitter{ms{500}, ms{40'000}, ms{30'000}}, 4, 0ms, constant(0.5)),
            40'000ms);
}

TEST(decorrelated_jitter, delay_bounds_hold_at_every_attempt_from_0_to_50) {
  const cw::decorrelated_jitter s;
  for (const auto& u : probes()) {
    ms previous{0};
    for (std::uint32_t n = 0; n <= 50; ++n) {
      const ms prev_or_base = previous.count() > 0 ? previous : s.base;
      const ms hi = std::min(s.cap, prev_or_base * 3);
      const ms d = cw::next_delay(s, n, previous, u);
      EXPECT_GE(d, s.base) << "n=" << n;
      EXPECT_LT(d, hi) << "n=" << n;
      previous = d;
    }
  }
}

TEST(decorrelated_jitter, jitter_survives_at_the_cap) {
  const cw::decorrelated_jitter s;
  const auto u = cw::seeded_uniform(11);
  std::set<ms::rep> distinct;
  int at_cap = 0;
  for (int i = 0; i < 2000; ++i) {
    const ms d = cw::next_delay(s, 40, s.cap, u);  // previous already at the cap
    distinct.insert(d.count());
    at_cap += d == s.cap;
  }
  EXPECT_EQ(at_cap, 0);
  EXPECT_GT(distinct.size(), 1900u);
}

TEST(decorrelated_jitter, huge_previous_delays_do_not_overflow) {
  const cw::decorrelated_jitter s{ms{500}, ms{std::numeric_limits<std::int64_t>::max()}};
  const ms d = cw::next_delay(s, 1000, ms{std::numeric_limits<std::int64_t>::max() - 1},
                              constant(almost_one));
  EXPECT_GE(d, s.base);
}

TEST(fixed_delays, delay_bounds_hold_at_every_attempt_from_0_to_50) {
  const cw::fixed_delays s;
  for (std::uint32_t n = 0; n <= 50; ++n) {
    const ms step = s.delays[std::min<std::size_t>(n, s.delays.size() - 1)];
    const ms hi = step + ms{static_cast<ms::rep>(static_cast<double>(step.count()) * s.jitter)};
    for (const auto& u : probes()) {
      const ms d = cw::next_delay(s, n, 0ms, u);
      EXPECT_GE(d, step) << "n=" << n;
      EXPECT_LT(d, hi) << "n=" << n;
    }
  }
}

TEST(fixed_delays, without_jitter_the_table_is_exact_and_the_last_entry_repeats) {
  const cw::fixed_delays s{{100ms, 200ms, 300ms}, 0.0};
  EXPECT_EQ(cw::next_delay(s, 0, 0ms, constant(0.9)), 100ms);
  EXPECT_EQ(cw::next_delay(s, 2, 0ms, constant(0.9)), 300ms);
  EXPECT_EQ(cw::next_delay(s, 1000, 0ms, constant(0.9)), 300ms);
  EXPECT_EQ(cw::next_delay(cw::fixed_delays{{}, 0.5}, 3, 0ms, constant(0.9)), 0ms);
}

TEST(backoff, minimum_delay_is_each_strategy_floor) {
  EXPECT_EQ(cw::minimum_delay(cw::full_jitter{}), 500ms);
  EXPECT_EQ(cw::minimum_delay(cw::decorrelated_jitter{ms{700}, ms{30'000}}), 700ms);
  EXPECT_EQ(cw::minimum_delay(cw::fixed_delays{{3s, 1s, 2s}, 0.1}), 1000ms);
}

TEST(backoff, jitter_above_only_adds_up_to_the_ratio) {
  EXPECT_EQ(cw::jitter_above(10s, 0.2, constant(0.0)), 10s);
  EXPECT_EQ(cw::jitter_above(10s, 0.2, constant(almost_one)), 11'999ms);
  EXPECT_EQ(cw::jitter_above(10s, 0.0, constant(0.7)), 10s);
  EXPECT_EQ(cw::jitter_above(ms::max(), 1.0, constant(almost_one)), ms::max());
}

TEST(backoff, seeded_sources_repeat_and_stay_in_range) {
  auto a = cw::seeded_uniform(5), b = cw::seeded_uniform(5);
  for (int i = 0; i < 1000; ++i) {
    const double x = a();
    EXPECT_EQ(x, b());
    EXPECT_GE(x, 0.0);
    EXPECT_LT(x, 1.0);
  }
  const auto r = cw::random_uniform();
  EXPECT_LT(r(), 1.0);
}

// Reconnect storm shaping: after a 1012 Service Restart, 1,000 clients must not
// come back in step (ARCHITECTURE §6, "Reconnect storm").
#include "closewise/policy/policy.hpp"

#include <gtest/gtest.h>

#include <algorithm>
#include <iostream>
#include <map>
#include <set>

#include "policy/support.hpp"

namespace cw = closewise::policy;
using namespace closewise::policy::test;

namespace {

struct spread {
  std::size_t distinct_delays = 0;
  std::size_t buckets = 0;      ///< distinct 100 ms buckets
  double max_bucket_share = 0;  ///< the fullest bucket's share of all clients
  double peak_to_mean = 0;      ///< fullest bucket over the mean of the used window
  ms lo{0}, hi{0};
};

// 1,000 clients, each with its own random source, lose the server at the same
// moment after a long healthy connection, and decide their first delay.
spread first_delays_after(std::uint16_t code, const cw::config& cfg) {
  constexpr int clients = 1000;
  std::set<ms::rep> distinct;
  std::map<ms::rep, int> buckets;
  ms lo = ms::max(), hi = ms::min();
  for (int i = 0; i < clients; ++i) {
    cw::retry_state state;
    const auto o = remote_close(code);
    state.record({o, 3600s, false, {}}, cfg);
    const auto d = cw::decide(o, state.context(), cfg, cw::seeded_uniform(1000 + i));
    EXPECT_TRUE(d.retries());
    distinct.insert(d.delay.count());
    ++buckets[d.delay.count() / 100];
    lo = std::min(lo, d.delay);
    hi = std::max(hi, d.delay);
  }
  int fullest = 0;
  for (const auto& [bucket, n] : buckets) fullest = std::max(fullest, n);
  const double window_buckets = static_cast<double>((hi - lo).count()) / 100.0 + 1.0;
  spread s;
  s.distinct_delays = distinct.size();
  s.buckets = buckets.size();
  s.max_bucket_share = static_cast<double>(fullest) / clients;
  s.peak_to_mean = fullest / (clients / window_buckets);
  s.lo = lo;
  s.hi = hi;
  return s;
}

}  // namespace

TEST(spread, first_delays_after_1012_are_spread_over_five_seconds) {
  const auto s = first_delays_after(1012, {});
  std::cout << "[spread] 1012 x1000: " << s.distinct_delays << " distinct delays, " << s.buckets
            << " of 50 buckets of 100 ms, fullest bucket " << s.max_bucket_share * 100
            << " % of clients, peak/mean " << s.peak_to_mean << ", range " << s.lo.count() << "-"
            << s.hi.count() << " ms\n";
  EXPECT_GT(s.distinct_delays,
            850u);            // not identical: ~906 expected from 1,000 draws over 5,000 values
  EXPECT_GE(s.buckets, 48u);  // U(500, 5500) spans 50 buckets
  EXPECT_LE(s.max_bucket_share, 0.05);  // uniform would put 2 % in each
  EXPECT_LE(s.peak_to_mean, 2.0);       // the peak stays near the mean
  EXPECT_LT(s.lo, 700ms);
  EXPECT_GT(s.hi, 5300ms);
}

TEST(spread, first_delays_after_1013_are_spread_above_the_raised_floor) {
  const auto s = first_delays_after(1013, {});
  std::cout << "[spread] 1013 x1000: " << s.buckets << " buckets, fullest "
            << s.max_bucket_share * 100 << " %, range " << s.lo.count() << "-" << s.hi.count()
            << " ms\n";
  EXPECT_GE(s.lo, 5000ms);
  EXPECT_LT(s.hi, 10'000ms);
  EXPECT_GE(s.buckets, 48u);
  EXPECT_LE(s.max_bucket_share, 0.05);
}

TEST(spread, every_strategy_spreads_the_first_1012_retry) {
  const cw::backoff strategies[] = {cw::full_jitter{}, cw::decorrelated_jitter{},
                                    cw::fixed_delays{}};
  for (const auto& strategy : strategies) {
    cw::config cfg;
    cfg.backoff = strategy;
    const auto s = first_delays_after(1012, cfg);
    EXPECT_GE(s.buckets, 48u);
    EXPECT_LE(s.max_bucket_share, 0.05);
  }
}

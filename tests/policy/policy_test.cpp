#include "closewise/policy/policy.hpp"

#include <gtest/gtest.h>

#include <algorithm>

#include "closewise/error.hpp"
#include "closewise/policy/presets.hpp"
#include "policy/support.hpp"

namespace cw = closewise::policy;
using closewise::reconnect_action;
using namespace closewise::policy::test;

namespace {

enum class expect { stop, retry, refresh };

// ARCHITECTURE §3 for a received close, restated independently of the registry.
expect expected_for_code(unsigned v) {
  if (v == 1008) return expect::refresh;
  if (v == 1000 || v == 1009 || v == 1010) return expect::stop;
  if (v >= 1001 && v <= 2999) return expect::retry;
  if ((v >= 3000 && v <= 3499) || (v >= 4000 && v <= 4499)) return expect::retry;
  return expect::stop;  // 0-999, 3500-3999, 4500-4999, >= 5000
}

// The documented delay window [lo, hi) of a retried code with the default policy.
std::pair<ms, ms> expected_window_for_code(unsigned v, std::uint32_t attempt) {
  const ms backoff_hi = 500ms + std::min(ms{29'500}, ms{500LL << std::min(attempt, 20u)});
  if (v == 1013) return {5000ms, attempt == 0 ? 10'000ms : std::max(backoff_hi, 6000ms)};
  if (v == 1001 || v == 1011 || v == 1012) {
    return {500ms, attempt == 0 ? 5500ms : backoff_hi};
  }
  return {500ms, backoff_hi};
}

// ARCHITECTURE §3 for a refused handshake, plus the documented choices for the rest.
expect expected_for_status(unsigned s) {
  if (s == 401 || s == 403) return expect::refresh;
  if (s == 408 || s == 429) return expect::retry;
  if (s < 500) return expect::stop;  // 1xx-3xx and every other 4xx
  if (s == 501 || s == 505) return expect::stop;
  return expect::retry;
}

expect kind_of(const cw::decision& d) {
  switch (d.kind) {
    case cw::decision_kind::stop:
      return expect::stop;
    case cw::decision_kind::retry:
      return expect::retry;
    case cw::decision_kind::refresh_credentials:
      break;
  }
  return expect::refresh;
}

cw::retry_context at_attempt(std::uint32_t n) {
  cw::retry_context ctx;
  ctx.attempt = n;
  return ctx;
}

}  // namespace

TEST(decide, every_close_code_maps_to_the_documented_decision) {
  const cw::config cfg;
  for (std::uint32_t v = 0; v <= 65535; ++v) {
    for (std::uint32_t n : {0u, 5u}) {
      const auto d = cw::decide(remote_close(static_cast<std::uint16_t>(v)), at_attempt(n), cfg,
                                cw::seeded_uniform(v * 7 + n));
      const expect want = expected_for_code(v);
      ASSERT_EQ(kind_of(d), want) << "code " << v << " attempt " << n << ": " << d.reason;
      if (want == expect::stop) {
        EXPECT_FALSE(d.reason.empty()) << v;
        EXPECT_EQ(d.reason.rfind(d.cause + ": ", 0), 0u) << d.reason;
        continue;
      }
      const auto [lo, hi] = expected_window_for_code(v, n);
      EXPECT_GE(d.delay, lo) << "code " << v << " attempt " << n;
      EXPECT_LT(d.delay, hi) << "code " << v << " attempt " << n;
    }
  }
}

TEST(decide, every_http_status_maps_to_the_documented_decision) {
  const cw::config cfg;
  for (unsigned s = 100; s <= 599; ++s) {
    const auto d = cw::decide(refused(s), {}, cfg, cw::seeded_uniform(s));
    ASSERT_EQ(kind_of(d), expected_for_status(s)) << "status " << s << ": " << d.reason;
    EXPECT_EQ(d.cause, "HTTP " + std::to_string(s));
    if (d.stops()) continue;
    if (s == 429 || s == 503) {  // no Retry-After: a raised 5 s floor, spread like 1013
      EXPECT_GE(d.delay, 5000ms) << s;
      EXPECT_LT(d.delay, 10'000ms) << s;
    } else {
      EXPECT_GE(d.delay, 500ms) << s;
      EXPECT_LT(d.delay, 1000ms) << s;
    }
  }
  EXPECT_TRUE(cw::decide(refused(0), {}, cfg, constant(0.5)).stops());
  EXPECT_TRUE(cw::decide(refused(700), {}, cfg, constant(0.5)).stops());
}

TEST(decide, reads_the_per_code_defaults_from_the_registry) {
  for (const auto& row : closewise::close_code_table) {
    const auto r = cw::rule_for_code(static_cast<closewise::close_code>(row.first), {});
    EXPECT_EQ(r, row.reconnect) << row.first;
    // The very row's text, not a copy: the policy restates nothing.
    EXPECT_EQ(r.why.data(), row.reconnect.why.data()) << row.first;
  }
}

TEST(decide, status_table_is_sorted_and_covers_0_to_999) {
  unsigned next = 0;
  for (const auto& row : cw::default_status_rules) {
    EXPECT_EQ(row.first, next);
    EXPECT_LE(row.first, row.last);
    EXPECT_FALSE(row.rule.why.empty());
    next = row.last + 1;
  }
  EXPECT_EQ(next, 1000u);
}

TEST(decide, transport_failures_retry_except_certificate_verification) {
  const cw::config cfg;
  for (auto f : cw::all_transport_failures) {
    const auto d = cw::decide(f, {}, cfg, constant(0.5));
    EXPECT_EQ(d.stops(), f == cw::transport_failure::tls_verify) << cw::to_string(f);
    EXPECT_EQ(d.cause, cw::describe(f));
  }
  EXPECT_EQ(cw::decide(cw::transport_failure::refused, {}, cfg, constant(0.0)).delay, 500ms);
  EXPECT_EQ(cw::decide(cw::transport_failure::refused, {}, cfg, constant(0.0)).cause,
            "connection refused");
}

TEST(decide, a_local_close_always_stops_even_under_overrides) {
  cw::config cfg;
  cfg.codes.push_back({0, 65535, {reconnect_action::retry, {}, {}, {}, "always"}});
  cfg.reconnect_on_normal_close = true;
  for (std::uint16_t code : {1000, 1001, 3000, 4000, 4999}) {
    const auto d = cw::decide(app_close(code), {}, cfg, constant(0.5));
    EXPECT_TRUE(d.stops()) << code;
    EXPECT_NE(d.reason.find("the application closed the connection"), std::string::npos);
  }
}

TEST(decide, a_connection_failed_locally_with_an_error_follows_its_code) {
  closewise::close_event ev;
  ev.code = closewise::close_code::protocol_error;
  ev.initiator = closewise::initiator::local;
  ev.error = closewise::error::bad_opcode;
  EXPECT_TRUE(cw::decide(ev, {}, {}, constant(0.5)).retries());
}

TEST(decide, normal_close_stops_unless_opted_in) {
  cw::config cfg;
  EXPECT_TRUE(cw::decide(remote_close(1000), {}, cfg, constant(0.5)).stops());
  cfg.reconnect_on_normal_close = true;
  const auto d = cw::decide(remote_close(1000), {}, cfg, constant(0.5));
  EXPECT_TRUE(d.retries());
  EXPECT_EQ(d.cause, "1000 Normal Closure");
}

TEST(decide, stop_reasons_read_like_sentences) {
  const auto d = cw::decide(remote_close(1010), {}, {}, constant(0.5));
  EXPECT_EQ(d.reason, "1010 Mandatory Ext.: the extension will still be missing next time");
  const auto r = cw::decide(remote_close(1012), {}, {}, constant(0.5));
  EXPECT_EQ(r.cause, "1012 Service Restart");
  EXPECT_EQ(cw::decide(refused(404), {}, {}, constant(0.5)).reason,
            "HTTP 404: there is no WebSocket endpoint at this URL");
}

TEST(decide, tls_1015_stops_only_on_certificate_verification_failure) {
  const auto verify = dropped(1015, closewise::error::tls_verify_failed);
  const auto other = dropped(1015, closewise::error::tls_error);
  const auto d = cw::decide(verify, {}, {}, constant(0.5));
  EXPECT_TRUE(d.stops());
  EXPECT_NE(d.reason.find("certificate failed verification"), std::string::npos) << d.reason;
  EXPECT_TRUE(cw::decide(other, {}, {}, constant(0.5)).retries());
  EXPECT_TRUE(cw::decide(dropped(1015, {}), {}, {}, constant(0.5)).retries());
}

TEST(decide, credential_refresh_is_offered_once_for_1008_401_403) {
  for (const auto& o : {remote_close(1008), refused(401), refused(403)}) {
    cw::retry_context ctx;
    const auto d = cw::decide(o, ctx, {}, constant(0.0));
    ASSERT_EQ(d.kind, cw::decision_kind::refresh_credentials) << cw::describe(o);
    EXPECT_EQ(d.delay, 500ms);
    EXPECT_FALSE(d.reason.empty());

    const auto without = cw::resolve_credential_refresh(d, false);
    EXPECT_TRUE(without.stops());
    EXPECT_EQ(without.reason, d.reason);
    const auto with = cw::resolve_credential_refresh(d, true);
    EXPECT_TRUE(with.retries());
    EXPECT_TRUE(with.after_credential_refresh);

    ctx.credentials_refreshed = true;
    const auto again = cw::decide(o, ctx, {}, constant(0.0));
    EXPECT_TRUE(again.stops());
    EXPECT_NE(again.reason.find("already refreshed once"), std::string::npos) << again.reason;
  }
  EXPECT_EQ(cw::decide(remote_close(1008), {}, {}, constant(0.0)).reason,
            "1008 Policy Violation: the server refused us by policy; retry once only with "
            "refreshed credentials (no new credentials)");
}

TEST(decide, message_too_big_retries_only_with_a_known_message_to_dead_letter) {
  cw::retry_context ctx;
  const auto unknown = cw::decide(remote_close(1009), ctx, {}, constant(0.5));
  EXPECT_TRUE(unknown.stops());
  EXPECT_NE(unknown.reason.find("not known"), std::string::npos);
  ctx.offending_message_known = true;
  const auto known = cw::decide(remote_close(1009), ctx, {}, constant(0.5));
  EXPECT_TRUE(known.retries());
  EXPECT_TRUE(known.dead_letter);
  EXPECT_FALSE(cw::decide(remote_close(1006), ctx, {}, constant(0.5)).dead_letter);
}

TEST(decide, strikes_stop_only_the_retry_with_strikes_rows) {
  cw::retry_context ctx;
  ctx.strikes = 3;
  for (std::uint16_t code : {1002, 1003, 1004, 1007}) {
    const auto d = cw::decide(remote_close(code), ctx, {}, constant(0.5));
    EXPECT_TRUE(d.stops()) << code;
    EXPECT_NE(d.reason.find("3 identical closes in a row"), std::string::npos) << d.reason;
  }
  EXPECT_TRUE(cw::decide(remote_close(1006), ctx, {}, constant(0.5)).retries());
  ctx.strikes = 2;
  EXPECT_TRUE(cw::decide(remote_close(1002), ctx, {}, constant(0.5)).retries());
  cw::config cfg;
  cfg.strike_limit = 2;
  EXPECT_TRUE(cw::decide(remote_close(1002), ctx, cfg, constant(0.5)).stops());
}

TEST(decide, max_attempts_and_max_elapsed_give_up_with_a_clear_reason) {
  cw::config cfg;
  cfg.max_attempts = 3;
  EXPECT_TRUE(cw::decide(remote_close(1006), at_attempt(2), cfg, constant(0.5)).retries());
  const auto d = cw::decide(remote_close(1006), at_attempt(3), cfg, constant(0.5));
  EXPECT_TRUE(d.stops());
  EXPECT_EQ(d.reason, "1006 Abnormal Closure: giving up after 3 retries (max_attempts 3)");
  cfg.max_attempts = 0;  // like 'never': the first failure is final
  EXPECT_TRUE(cw::decide(cw::transport_failure::dns, {}, cfg, constant(0.5)).stops());

  cw::config timed;
  timed.max_elapsed = 60s;
  cw::retry_context ctx;
  ctx.elapsed = 59'000ms;
  EXPECT_TRUE(cw::decide(remote_close(1006), ctx, timed, constant(0.5)).retries());  // 750 ms
  ctx.elapsed = 59'500ms;
  const auto late = cw::decide(remote_close(1006), ctx, timed, constant(0.5));
  EXPECT_TRUE(late.stops());
  EXPECT_NE(late.reason.find("max_elapsed"), std::string::npos);
}

TEST(decide, retry_after_header_sets_the_wait_clamped_and_jittered) {
  const cw::config cfg;
  // max(Retry-After, backoff), then up to +20 %.
  auto d = cw::decide(refused(503, "120"), {}, cfg, constant(0.0));
  EXPECT_EQ(d.delay, 120'000ms);
  d = cw::decide(refused(503, "120"), {}, cfg, constant(almost_one));
  EXPECT_EQ(d.delay, 143'999ms);
  // A short Retry-After replaces the 5 s floor: the server was precise.
  d = cw::decide(refused(429, "1"), {}, cfg, constant(0.0));
  EXPECT_EQ(d.delay, 1000ms);
  d = cw::decide(refused(429, "0"), at_attempt(4), cfg, constant(0.5));
  EXPECT_EQ(d.delay, 500ms + 4000ms);  // the backoff wins
  // Huge values are clamped to max_retry_after (10 min), jitter still applies.
  for (double u : {0.0, 0.5, almost_one}) {
    d = cw::decide(refused(503, "99999999999"), {}, cfg, constant(u));
    EXPECT_GE(d.delay, 600'000ms);
    EXPECT_LT(d.delay, 720'000ms);
  }
  // An HTTP-date is measured against the context's wall clock.
  cw::retry_context ctx;
  ctx.now = std::chrono::sys_days{std::chrono::year{2026} / 11 / 25};
  d = cw::decide(refused(503, "Wed, 25 Nov 2026 00:00:30 GMT"), ctx, cfg, constant(0.0));
  EXPECT_EQ(d.delay, 30'000ms);
  // Garbage and negatives count as absent: the raised 5 s floor applies.
  for (const char* bad : {"soon", "-5", ""}) {
    d = cw::decide(refused(503, bad), {}, cfg, constant(0.0));
    EXPECT_EQ(d.delay, 5000ms) << bad;
  }
  // Other retried statuses honour a Retry-After too.
  EXPECT_EQ(cw::decide(refused(502, "10"), {}, cfg, constant(0.0)).delay, 10'000ms);
  cw::config short_clamp;
  short_clamp.max_retry_after = 60s;
  EXPECT_EQ(cw::decide(refused(503, "3600"), {}, short_clamp, constant(0.0)).delay, 60'000ms);
}

TEST(decide, close_reason_retry_after_is_honoured_clamped_and_jittered) {
  const cw::config cfg;
  auto d = cw::decide(remote_close(1012, "retry-after=30"), {}, cfg, constant(0.0));
  EXPECT_EQ(d.delay, 30'000ms);
  d = cw::decide(remote_close(1013, "retry-after=30"), at_attempt(2), cfg, constant(almost_one));
  EXPECT_EQ(d.delay, 35'999ms);
  // 1013's raised floor stays: a short hint cannot pull the client in sooner.
  d = cw::decide(remote_close(1013, "retry-after=1"), {}, cfg, constant(0.0));
  EXPECT_EQ(d.delay, 5000ms);
  for (double u : {0.0, almost_one}) {
    d = cw::decide(remote_close(1012, "retry-after=99999999"), {}, cfg, constant(u));
    EXPECT_GE(d.delay, 600'000ms);
    EXPECT_LT(d.delay, 720'000ms);
  }
  // Not a hint: the normal first spread applies.
  d = cw::decide(remote_close(1012, "retry-after=soon"), {}, cfg, constant(0.0));
  EXPECT_EQ(d.delay, 500ms);
  d = cw::decide(remote_close(1012, "retry-after=soon"), {}, cfg, constant(almost_one));
  EXPECT_EQ(d.delay, 5499ms);
  // A hint replaces 1001/1011/1012's own first spread (500 ms + U(0, 5 s)): the
  // server paced its closes. 1 s + U(0, 0.2 s), never the 5.5 s of the spread.
  for (std::uint16_t code : {1001, 1011, 1012}) {
    d = cw::decide(remote_close(code, "retry-after=1"), {}, cfg, constant(0.0));
    EXPECT_EQ(d.delay, 1000ms) << code;
    d = cw::decide(remote_close(code, "retry-after=1"), {}, cfg, constant(almost_one));
    EXPECT_EQ(d.delay, 1199ms) << code;
    // retry-after=0: "now" means the backoff's own first delay, 500 ms to 1 s.
    d = cw::decide(remote_close(code, "retry-after=0"), {}, cfg, constant(almost_one));
    EXPECT_GE(d.delay, 500ms) << code;
    EXPECT_LT(d.delay, 1000ms) << code;
  }
}

TEST(decide, raised_floor_rows_spread_the_first_retry_then_keep_a_jittered_floor) {
  const cw::config cfg;
  EXPECT_EQ(cw::decide(remote_close(1012), {}, cfg, constant(0.0)).delay, 500ms);
  EXPECT_EQ(cw::decide(remote_close(1012), {}, cfg, constant(almost_one)).delay, 5499ms);
  EXPECT_EQ(cw::decide(remote_close(1013), {}, cfg, constant(0.0)).delay, 5000ms);
  EXPECT_EQ(cw::decide(remote_close(1013), {}, cfg, constant(almost_one)).delay, 9999ms);
  // Later 1013 retries: max(backoff, 5 s + U(0, 1 s)).
  EXPECT_EQ(cw::decide(remote_close(1013), at_attempt(1), cfg, constant(0.0)).delay, 5000ms);
  EXPECT_EQ(cw::decide(remote_close(1013), at_attempt(1), cfg, constant(almost_one)).delay, 5999ms);
  EXPECT_EQ(cw::decide(remote_close(1013), at_attempt(6), cfg, constant(0.5)).delay,
            500ms + 14'750ms);  // the backoff has grown past the floor
}

TEST(decide, every_strategy_stays_within_bounds_for_every_code_family) {
  const cw::backoff strategies[] = {cw::full_jitter{}, cw::decorrelated_jitter{},
                                    cw::fixed_delays{}};
  for (const auto& strategy : strategies) {
    cw::config cfg;
    cfg.backoff = strategy;
    for (std::uint16_t code : {1006, 1012, 1013, 4000}) {
      cw::retry_context ctx;
      const auto u = cw::seeded_uniform(code);
      for (std::uint32_t n = 0; n <= 50; ++n) {
        ctx.attempt = n;
        const auto d = cw::decide(remote_close(code), ctx, cfg, u);
        ASSERT_TRUE(d.retries());
        EXPECT_GE(d.delay, code == 1013 ? 5000ms : cw::minimum_delay(strategy));
        EXPECT_LT(d.delay, 36'000ms);  // cap 30 s (+ fixed table's 20 %)
        ctx.previous_delay = d.delay;
      }
    }
  }
}

TEST(decide, overrides_apply_per_code_range_status_and_transport) {
  cw::config cfg;
  cfg.codes.push_back({4000, 4099, {reconnect_action::stop, {}, {}, {}, "app says no"}});
  cfg.codes.push_back({4004, 4004, {reconnect_action::retry, {}, {}, {}, {}}});
  cfg.statuses.push_back({404, 404, {reconnect_action::retry, {}, {}, {}, {}}});
  cfg.transports.push_back({cw::transport_failure::dns, {reconnect_action::stop, {}, {}, {}, {}}});
  cfg.name = "mine";
  EXPECT_EQ(cw::decide(remote_close(4000), {}, cfg, constant(0.5)).reason,
            "4000 Private use: app says no");
  EXPECT_TRUE(cw::decide(remote_close(4004), {}, cfg, constant(0.5)).retries());  // narrowest
  EXPECT_TRUE(cw::decide(remote_close(4100), {}, cfg, constant(0.5)).retries());  // default
  EXPECT_TRUE(cw::decide(refused(404), {}, cfg, constant(0.5)).retries());
  const auto dns = cw::decide(cw::transport_failure::dns, {}, cfg, constant(0.5));
  EXPECT_EQ(dns.reason, "DNS failure: the policy \"mine\" says stop");
  // Equally narrow: the later override wins.
  cfg.codes.push_back({4000, 4099, {reconnect_action::retry, {}, {}, {}, {}}});
  EXPECT_TRUE(cw::decide(remote_close(4000), {}, cfg, constant(0.5)).retries());
}

TEST(decide, is_pure_same_inputs_same_decision) {
  cw::retry_context ctx;
  ctx.attempt = 4;
  ctx.strikes = 1;
  for (std::uint16_t code : {1001, 1006, 1012, 1013, 4000}) {
    EXPECT_EQ(cw::decide(remote_close(code), ctx, {}, cw::seeded_uniform(9)),
              cw::decide(remote_close(code), ctx, {}, cw::seeded_uniform(9)));
  }
}

TEST(decide, the_override_example_in_the_docs_compiles_and_works) {
  namespace cwp = closewise::policy;
  cwp::config cfg = *cwp::preset("default");
  cfg.codes.push_back(
      {4000, 4099, {closewise::reconnect_action::stop, {}, {}, {}, "the app refused us"}});
  cfg.codes.push_back({4001,
                       4001,
                       {closewise::reconnect_action::retry_raised_floor,
                        {},
                        std::chrono::seconds{10},
                        std::chrono::seconds{5},
                        {}}});
  cfg.statuses.push_back({404, 404, {closewise::reconnect_action::retry, {}, {}, {}, {}}});
  cfg.transports.push_back(
      {cwp::transport_failure::dns, {closewise::reconnect_action::stop, {}, {}, {}, {}}});
  cfg.reconnect_on_normal_close = true;
  cfg.max_attempts = 10;
  EXPECT_TRUE(cwp::decide(remote_close(4000), {}, cfg, constant(0.5)).stops());
  const auto d = cwp::decide(remote_close(4001), {}, cfg, constant(0.0));
  EXPECT_EQ(d.delay, 10s);
  EXPECT_TRUE(cwp::decide(remote_close(1000), {}, cfg, constant(0.5)).retries());
}

#include "demo_policy.hpp"

#include <fmt/format.h>

#include <algorithm>
#include <variant>

#include <closewise/policy/backoff.hpp>
#include <closewise/policy/outcome.hpp>
#include <closewise/policy/retry_after.hpp>

namespace closewise::cli::demo {
namespace {

using std::chrono::milliseconds;

struct range {
  milliseconds lo{0};
  milliseconds hi{0};
};

std::string ms_text(milliseconds d) {
  if (d.count() >= 1000 && d.count() % 1000 == 0) return fmt::format("{} s", d.count() / 1000);
  return fmt::format("{} ms", d.count());
}

// U(0, w) draws whole milliseconds in [0, w), so the largest value is w - 1.
milliseconds largest_draw(milliseconds w) {
  return w.count() > 0 ? w - milliseconds{1} : milliseconds{0};
}

// Retry number `attempt` (0: the first) of a streak under full jitter:
// floor + U(0, min(cap - floor, base·2^attempt)).
range backoff_range(const policy::config& cfg, std::uint32_t attempt, std::string& text) {
  if (const auto* fj = std::get_if<policy::full_jitter>(&cfg.backoff)) {
    if (fj->floor >= fj->cap) {
      text = fmt::format("backoff {}", ms_text(fj->floor));
      return {fj->floor, fj->floor};
    }
    milliseconds grown = fj->base;
    for (std::uint32_t i = 0; i < attempt && grown < fj->cap; ++i) grown *= 2;
    const milliseconds width = std::min(fj->cap - fj->floor, grown);
    text = fmt::format("backoff {} + U(0, {})", ms_text(fj->floor), ms_text(width));
    return {fj->floor, fj->floor + largest_draw(width)};
  }
  // The demo always runs full jitter; for another strategy only its floor is known.
  const milliseconds m = policy::minimum_delay(cfg.backoff);
  text = fmt::format("backoff from {}", ms_text(m));
  return {m, m};
}

// value + U(0, ratio * value): raised floors and server hints only move up.
range jittered_above(milliseconds v, double ratio) {
  const double r = std::clamp(ratio, 0.0, 1.0);
  const milliseconds width{static_cast<milliseconds::rep>(static_cast<double>(v.count()) * r)};
  return {v, v + largest_draw(width)};
}

expectation stop_with(const policy::rule& r, std::string_view note = {}) {
  expectation e;
  e.retry = false;
  e.rule_text = fmt::format("S: {}{}", r.why, note);
  return e;
}

// Failure number `attempt` (0: the first) of a streak under rule `r`. With a
// credential-refresh hook, a refresh qualifier grants the streak one retry.
expectation nth_failure(const policy::rule& r, std::optional<milliseconds> hint, bool http,
                        const policy::config& cfg, std::uint32_t attempt, bool refresh_hook) {
  using A = reconnect_action;
  using Q = reconnect_qualifier;
  // The demo never knows an offending message, so a dead-letter stop stays a stop.
  const bool refresh = r.qualifier == Q::credential_refresh;
  if (refresh && !refresh_hook) return stop_with(r, " (no credential-refresh hook)");
  if (r.qualifier == Q::dead_letter) return stop_with(r, " (no offending message known)");
  if (r.action == A::stop && !refresh) return stop_with(r);

  expectation e;
  e.retry = true;
  std::string text;
  range d = backoff_range(cfg, attempt, text);
  std::string prefix = refresh ? std::string("S, one retry with refreshed credentials")
                       : r.action == A::retry_with_strikes
                           ? fmt::format("RS (strike {} of {})", attempt + 1, cfg.strike_limit)
                           : std::string("R");
  // An HTTP Retry-After replaces a raised floor; a close reason's hint only lengthens it.
  const bool floor_replaced = http && hint.has_value();
  if (r.action == A::retry_raised_floor && !floor_replaced) {
    const milliseconds raised = std::max(r.floor, policy::minimum_delay(cfg.backoff));
    prefix = "RD";
    if (attempt == 0 && r.first_spread.count() > 0) {
      d = {raised, raised + largest_draw(r.first_spread)};
      text = fmt::format("{} + U(0, {})", ms_text(raised), ms_text(r.first_spread));
    } else {
      const range j = jittered_above(raised, cfg.hint_jitter);
      d = {std::max(d.lo, j.lo), std::max(d.hi, j.hi)};
      text = fmt::format("max({}, {} + {:.0f}%)", text, ms_text(raised), cfg.hint_jitter * 100);
    }
  }
  if (hint) {
    const milliseconds clamped = std::min(*hint, cfg.max_retry_after);
    const range h = jittered_above(clamped, cfg.hint_jitter);
    d = {std::max(d.lo, h.lo), std::max(d.hi, h.hi)};
    text = fmt::format("max({}, hint {} + U(0, {:.0f}%))", text, ms_text(clamped),
                       cfg.hint_jitter * 100);
  }
  e.lo = d.lo;
  e.hi = d.hi;
  e.rule_text = fmt::format("{}: {}", prefix, text);
  return e;
}

policy::rule scaled(policy::rule r, int divisor) {
  r.floor /= divisor;
  r.first_spread /= divisor;
  return r;
}

bool has_timing(const reconnect_rule& r) {
  return r.floor.count() != 0 || r.first_spread.count() != 0;
}

}  // namespace

policy::config scaled_default_policy(int divisor) {
  policy::config cfg;
  cfg.name = fmt::format("default, timings 1/{}", divisor);
  if (auto* fj = std::get_if<policy::full_jitter>(&cfg.backoff)) {
    fj->base /= divisor;
    fj->floor /= divisor;
    fj->cap /= divisor;
  }
  cfg.min_uptime /= divisor;
  // Overrides copied from the tables' own rows, so the demo's rules differ from
  // the defaults in their timings only.
  for (const auto& row : close_code_table) {
    if (!has_timing(row.reconnect)) continue;
    cfg.codes.push_back({row.first, row.last, scaled(row.reconnect, divisor)});
  }
  for (const auto& row : policy::default_status_rules) {
    if (!has_timing(row.rule)) continue;
    cfg.statuses.push_back({row.first, row.last, scaled(row.rule, divisor)});
  }
  for (const auto f : policy::all_transport_failures) {
    const auto& r = policy::default_transport_rules[static_cast<std::size_t>(f)];
    if (!has_timing(r)) continue;
    cfg.transports.push_back({f, scaled(r, divisor)});
  }
  return cfg;
}

std::vector<std::string> describe_scaling(int divisor) {
  const policy::config real;
  std::vector<std::string> v;
  if (const auto* fj = std::get_if<policy::full_jitter>(&real.backoff)) {
    v.push_back(fmt::format("backoff base {} / floor {} / cap {} -> {} / {} / {}",
                            ms_text(fj->base), ms_text(fj->floor), ms_text(fj->cap),
                            ms_text(fj->base / divisor), ms_text(fj->floor / divisor),
                            ms_text(fj->cap / divisor)));
  }
  v.push_back(fmt::format("min_uptime {} -> {}", ms_text(real.min_uptime),
                          ms_text(real.min_uptime / divisor)));
  const auto timing = [divisor](std::string what, const reconnect_rule& r) {
    const milliseconds fl = r.floor, sp = r.first_spread;
    if (fl.count() == 0)
      return fmt::format("{} first retry floor + U(0, {}) -> U(0, {})", what, ms_text(sp),
                         ms_text(sp / divisor));
    return fmt::format("{} floor {} + U(0, {}) -> {} + U(0, {})", what, ms_text(fl), ms_text(sp),
                       ms_text(fl / divisor), ms_text(sp / divisor));
  };
  for (const auto& row : close_code_table) {
    if (has_timing(row.reconnect)) v.push_back(timing(fmt::format("{}", row.first), row.reconnect));
  }
  for (const auto& row : policy::default_status_rules) {
    if (has_timing(row.rule)) v.push_back(timing(fmt::format("HTTP {}", row.first), row.rule));
  }
  return v;
}

expectation expect_close(close_code code, std::string_view reason, const policy::config& cfg,
                         bool refresh_hook) {
  return nth_failure(policy::rule_for_code(code, cfg), policy::parse_close_retry_after(reason),
                     false, cfg, 0, refresh_hook);
}

expectation expect_refusal(unsigned status, std::optional<unsigned> retry_after_s,
                           const policy::config& cfg, bool refresh_hook) {
  std::optional<milliseconds> hint;
  if (retry_after_s) hint = std::chrono::seconds{*retry_after_s};
  return nth_failure(policy::rule_for_status(status, cfg), hint, true, cfg, 0, refresh_hook);
}

std::vector<expectation> expect_streak(close_code code, std::string_view reason,
                                       const policy::config& cfg) {
  const policy::rule r = policy::rule_for_code(code, cfg);
  const auto hint = policy::parse_close_retry_after(reason);
  std::vector<expectation> v;
  if (r.action != reconnect_action::retry_with_strikes) {
    v.push_back(nth_failure(r, hint, false, cfg, 0, false));
    return v;
  }
  // Strike n (1-based) stops once n reaches the limit; the ones before retry.
  for (std::uint32_t n = 1; n < cfg.strike_limit; ++n)
    v.push_back(nth_failure(r, hint, false, cfg, n - 1, false));
  expectation last;
  last.rule_text =
      fmt::format("RS: strike {} of {}, stop ({})", cfg.strike_limit, cfg.strike_limit, r.why);
  v.push_back(last);
  return v;
}

}  // namespace closewise::cli::demo

// `closewise demo`: the scaled policy it runs with, and what the policy table
// says each scenario must produce.
//
// The expectation is worked out from the rules (registry rows, status rows and
// the config), not by calling decide(): the demo checks the library against
// the table instead of against itself.
#pragma once

#include <chrono>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include <closewise/close_code.hpp>
#include <closewise/policy/policy.hpp>

namespace closewise::cli::demo {

/// The default policy with every delay divided by `divisor`: the backoff's
/// base, floor and cap, min_uptime, and every raised floor and first spread of
/// the close-code, HTTP-status and transport tables (as overrides built from
/// those rows). Server hints (Retry-After, `retry-after=`) and max_retry_after
/// are left as they are: a server's "come back in 1 s" still means 1 s.
policy::config scaled_default_policy(int divisor);

/// One item per scaled setting, real default first: "backoff floor 500 ms -> 50 ms", ...
std::vector<std::string> describe_scaling(int divisor);

/// What the policy table says about the first failure of a streak.
struct expectation {
  bool retry = false;
  /// Inclusive bounds of the delay the policy may choose (retry only).
  std::chrono::milliseconds lo{0};
  std::chrono::milliseconds hi{0};
  /// The rule as a person reads it: "RD: first retry 50 ms + U(0, 500 ms)".
  std::string rule_text;
};

/// A close with `code` and `reason` received on an opened connection, the
/// first failure of a streak. `refresh_hook`: the client has a
/// credential-refresh hook that returns new credentials.
expectation expect_close(close_code code, std::string_view reason, const policy::config& cfg,
                         bool refresh_hook = false);
/// An upgrade refused with `status` and an optional Retry-After (seconds).
expectation expect_refusal(unsigned status, std::optional<unsigned> retry_after_s,
                           const policy::config& cfg, bool refresh_hook = false);
/// The same close received on every connection of a streak, each one shorter
/// than min_uptime: one expectation per close until the policy stops (for a
/// strike rule, strike_limit closes: retries, then a stop).
std::vector<expectation> expect_streak(close_code code, std::string_view reason,
                                       const policy::config& cfg);

}  // namespace closewise::cli::demo

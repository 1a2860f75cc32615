// closewise::policy: the reconnect decision (ARCHITECTURE §3).
//
// `decide(outcome, retry_context, config, uniform)` is a pure function: the
// same inputs give the same decision. Time comes in through the context and
// randomness through the injected uniform source, so every rule is tested
// as a table. The per-close-code defaults are read from the close-code
// registry (`closewise::info(code).reconnect`), never restated here.
//
// How a reconnecting client uses it, once per ended attempt:
//
//   state.record({result, uptime, offending_known, clocks}, cfg);  // 1. account
//   decision d = decide(result, state.context(), cfg, uniform);    // 2. decide (pure)
//   if (d.kind == decision_kind::refresh_credentials)              // 3. resolve the hook
//     d = resolve_credential_refresh(d, hook());
//   state.commit(d);                                               // 4. remember
//   if (d.retries()) wait d.delay, then connect; else give up with d.reason.
#pragma once

#include <array>
#include <chrono>
#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "closewise/close_code.hpp"
#include "closewise/policy/backoff.hpp"
#include "closewise/policy/decision.hpp"
#include "closewise/policy/outcome.hpp"

namespace closewise::policy {

/// The JSON and log name of an action: "stop", "retry", "retry_raised_floor", "retry_with_strikes".
std::string_view to_string(reconnect_action a) noexcept;
/// The JSON and log name of a qualifier: "none", "credential_refresh", "dead_letter",
/// "tls_verify_stops".
std::string_view to_string(reconnect_qualifier q) noexcept;

/// What the policy does for one code, status or transport failure: the policy's
/// name for the registry's `closewise::reconnect_rule` (one type for the
/// registry, the default tables, the presets and every override).
using rule = reconnect_rule;

/// Owns the text of rules made at run time (a `why` loaded from JSON or built
/// by the application), so `reconnect_rule::why` can stay a view and the tables
/// `constexpr`.
///
/// A kept text never moves or changes. Copies of a store share its texts, so
/// a view stays valid as long as any config that holds the store lives. It is
/// not part of a config's value: two stores always compare equal.
class text_store {
 public:
  /// Keeps a copy of `text`; the view lives as long as this store or a copy of it.
  [[nodiscard]] std::string_view keep(std::string_view text);
  /// The number of texts kept.
  std::size_t size() const noexcept { return texts_.size(); }

  friend bool operator==(const text_store&, const text_store&) noexcept { return true; }

 private:
  std::vector<std::shared_ptr<const std::string>> texts_;
};

/// An override for close codes `first..last` (inclusive).
struct code_override {
  std::uint16_t first = 0;  ///< first code covered
  std::uint16_t last = 0;   ///< last code covered (inclusive)
  policy::rule rule;        ///< what to do for them
  friend bool operator==(const code_override&, const code_override&) = default;
};

/// An override for HTTP statuses `first..last` (inclusive, within 100..999).
struct status_override {
  unsigned first = 0;  ///< first status covered
  unsigned last = 0;   ///< last status covered (inclusive)
  policy::rule rule;   ///< what to do for them
  friend bool operator==(const status_override&, const status_override&) = default;
};

/// An override for one kind of transport failure.
struct transport_override {
  transport_failure failure = transport_failure::other;  ///< the failure covered
  policy::rule rule;                                     ///< what to do for it
  friend bool operator==(const transport_override&, const transport_override&) = default;
};

/// The default decision per HTTP status of a refused upgrade, sorted and
/// covering 0..999 without gaps. Rationale for the rows not fixed by
/// ARCHITECTURE §3: 1xx-3xx stop (the URL is not a WebSocket endpoint; redirects
/// are not followed), other 4xx stop (the request itself is wrong), 501 and
/// 505 stop (the server lacks the feature for good), other 5xx retry (a server
/// fault is usually temporary), and values that are not statuses stop.
extern const std::array<status_override, 23> default_status_rules;

/// The default decision per transport failure, indexed by the enum's value:
/// everything retries except a certificate that failed verification.
extern const std::array<reconnect_rule, 7> default_transport_rules;

/// A reconnect policy: backoff, limits and overrides on top of the defaults.
///
/// Overrides are consulted before the defaults. When several overrides cover
/// the same code or status, the narrowest range wins; among equally narrow
/// ones the later entry wins (so a user's rule appended to a preset wins).
struct config {
  std::string name = "default";  ///< shown in logs and written to JSON
  policy::backoff backoff = full_jitter{};
  std::vector<code_override> codes;
  std::vector<status_override> statuses;
  std::vector<transport_override> transports;
  /// Retry after 1000 instead of stopping: some proxies close idle sockets with 1000.
  bool reconnect_on_normal_close = false;
  /// An attempt that stayed open this long resets the attempt counter, the
  /// strikes and the credential refresh (resetting on open re-creates storms).
  std::chrono::milliseconds min_uptime{5'000};
  /// `retry_with_strikes` stops after this many consecutive identical closes
  /// that never reached `min_uptime`.
  std::uint32_t strike_limit = 3;
  /// Give up once this many retries were scheduled in a streak (none: never).
  std::optional<std::uint32_t> max_attempts;
  /// Give up rather than wait past this much time since the streak began.
  std::optional<std::chrono::milliseconds> max_elapsed;
  /// Server hints (Retry-After, `retry-after=`) are clamped to this before jitter.
  std::chrono::milliseconds max_retry_after{600'000};
  /// Proportional upward jitter on raised floors and server hints, in [0, 1].
  double hint_jitter = 0.2;
  /// Owns the `why` of overrides made at run time: set `rule.why =
  /// cfg.texts.keep(text)` when the text would not outlive the config. A copy
  /// of the config shares the texts; an override copied alone into another
  /// config does not take its text along (keep it there too).
  text_store texts;

  friend bool operator==(const config&, const config&) = default;
};

/// The rule `cfg` applies to a received close code: an override, else the
/// registry row (with 1000 retried when `reconnect_on_normal_close`). Its `why`
/// may be a view of `cfg.texts`, like that of the two functions below.
[[nodiscard]] rule rule_for_code(close_code code, const config& cfg);
/// The rule `cfg` applies to an HTTP status: an override, else `default_status_rules`.
[[nodiscard]] rule rule_for_status(unsigned status, const config& cfg);
/// The rule `cfg` applies to a transport failure: an override, else `default_transport_rules`.
[[nodiscard]] rule rule_for_transport(transport_failure failure, const config& cfg);

/// What `decide()` knows about the streak of failed attempts so far.
///
/// A streak starts with the first failure and ends when an attempt stays open
/// for `config::min_uptime`. `retry_state` fills this in; tests build it by hand.
struct retry_context {
  /// Retries already scheduled in this streak: 0 when deciding the first retry.
  std::uint32_t attempt = 0;
  /// Time since the streak began.
  std::chrono::milliseconds elapsed{0};
  /// How long the attempt that just ended stayed open; nullopt: it never opened.
  std::optional<std::chrono::milliseconds> last_uptime;
  /// Consecutive identical closes that never reached min_uptime, the one just
  /// recorded included (0 when the outcome was not a close event).
  std::uint32_t strikes = 0;
  /// The delay waited before the last retry (decorrelated jitter grows from it).
  std::chrono::milliseconds previous_delay{0};
  /// The streak's one credential-refresh retry is spent.
  bool credentials_refreshed = false;
  /// 1009: the client knows which outgoing message was too big.
  bool offending_message_known = false;
  /// Wall-clock now, for a Retry-After given as an HTTP-date.
  std::chrono::system_clock::time_point now{};

  friend bool operator==(const retry_context&, const retry_context&) = default;
};

/// Both clocks read at one moment: monotonic for durations, wall for HTTP dates.
struct clock_reading {
  std::chrono::steady_clock::time_point steady{};  ///< for uptime and elapsed time
  std::chrono::system_clock::time_point wall{};    ///< for HTTP-date Retry-After
  /// Reads the real clocks (the one impure helper; tests pass fixed readings).
  static clock_reading now() noexcept;
};

/// What the client reports when an attempt ends.
struct attempt_report {
  outcome result;                                   ///< how it ended
  std::optional<std::chrono::milliseconds> uptime;  ///< time open; nullopt: never opened
  bool offending_message_known = false;             ///< see retry_context
  clock_reading at;                                 ///< when it ended
};

/// The client's memory between attempts; the input `decide()` needs.
///
/// Only `record` and `commit` change it, in that order around each
/// `decide()` call (see the top of this header).
class retry_state {
 public:
  /// Accounts for an ended attempt before deciding: an uptime of at least
  /// `cfg.min_uptime` starts a new streak (attempt, strikes, elapsed and the
  /// credential refresh reset); then the strikes count this outcome.
  void record(const attempt_report& report, const config& cfg);
  /// Remembers the decision actually taken: a retry counts as a scheduled
  /// attempt and its delay feeds decorrelated jitter; a retry after a
  /// credential refresh spends the streak's refresh.
  void commit(const decision& d);
  /// Forgets everything, e.g. when `reconnect()` leaves the given-up state.
  void reset() noexcept;

  /// The input for the next `decide()` call.
  const retry_context& context() const noexcept { return ctx_; }

 private:
  retry_context ctx_;
  std::optional<std::chrono::steady_clock::time_point> streak_start_;
  std::optional<close_event> last_close_;  ///< the previous short-lived close, for strikes
};

/// Decides whether and when to reconnect after `what`.
///
/// Pure: reads only its arguments and draws from `uniform`. A close the
/// application asked for always stops. Otherwise the rule of the code, status
/// or transport failure applies (see rule, docs/reconnect.md for the table),
/// then the limits: strikes for `retry_with_strikes`, `max_attempts`,
/// `max_elapsed`. Delays:
/// - retry: `next_delay(cfg.backoff, attempt, previous_delay)`;
/// - retry_raised_floor: the first retry of a streak waits
///   `F + U(0, first_spread)` with F = max(rule floor, strategy floor), later
///   ones `max(next_delay, F + U(0, hint_jitter·F))`;
/// - a server hint H (HTTP Retry-After, or `retry-after=` in a 1012/1013 close
///   reason) is clamped to `max_retry_after`, jittered to `H + U(0, hint_jitter·H)`
///   and taken when larger. For HTTP it replaces the raised floor, so the
///   wait is `max(Retry-After, backoff)`; a close code's raised floor stays
///   (1013), but a code with only a first spread (1001, 1011, 1012) takes the
///   hint instead of the spread: `max(H', backoff)`.
[[nodiscard]] decision decide(const outcome& what, const retry_context& ctx, const config& cfg,
                              const uniform_source& uniform);

}  // namespace closewise::policy

#include "closewise/policy/policy.hpp"

#include <algorithm>
#include <limits>
#include <memory>
#include <string>

#include "closewise/error.hpp"
#include "closewise/policy/retry_after.hpp"

namespace closewise::policy {
namespace {

using std::chrono::milliseconds;
using A = reconnect_action;
using Q = reconnect_qualifier;

constexpr std::chrono::seconds five_s{5};
constexpr std::string_view not_a_status = "not an HTTP status; the answer cannot be trusted";
constexpr std::string_view other_4xx =
    "the server refuses this request as written; sending it again changes nothing";

}  // namespace

// ARCHITECTURE §3, HTTP status of a failed handshake; the rows it leaves open
// follow the rationale in policy.hpp.
// clang-format off
const std::array<status_override, 23> default_status_rules = {{
    {0, 99, {.action = A::stop, .why = not_a_status}},
    {100, 399, {.action = A::stop,
                .why = "the server answered, but not as a WebSocket endpoint (redirects are not "
                       "followed)"}},
    {400, 400, {.action = A::stop, .why = "the server rejects the upgrade request as malformed"}},
    {401, 401, {.action = A::stop, .qualifier = Q::credential_refresh,
                .why = "the server wants credentials; retry once only with refreshed ones"}},
    {402, 402, {.action = A::stop, .why = other_4xx}},
    {403, 403, {.action = A::stop, .qualifier = Q::credential_refresh,
                .why = "the server forbids us; retry once only with refreshed credentials"}},
    {404, 404, {.action = A::stop, .why = "there is no WebSocket endpoint at this URL"}},
    {405, 405, {.action = A::stop, .why = "the server does not allow GET at this URL"}},
    {406, 407, {.action = A::stop, .why = other_4xx}},
    {408, 408, {.action = A::retry,
                .why = "the server gave up waiting for our request; retry with backoff"}},
    {409, 425, {.action = A::stop, .why = other_4xx}},
    {426, 426, {.action = A::stop,
                .why = "the server wants a protocol version this client does not speak"}},
    {427, 428, {.action = A::stop, .why = other_4xx}},
    {429, 429, {.action = A::retry_raised_floor, .floor = five_s, .first_spread = five_s,
                .why = "the server rate-limits us; wait for Retry-After, else at least 5 s, "
                       "jittered"}},
    {430, 499, {.action = A::stop, .why = other_4xx}},
    {500, 500, {.action = A::retry, .why = "a server fault; retry with backoff"}},
    {501, 501, {.action = A::stop,
                .why = "the server does not implement this; it will not next time either"}},
    {502, 502, {.action = A::retry,
                .why = "a gateway got a bad answer upstream; retry with backoff"}},
    {503, 503, {.action = A::retry_raised_floor, .floor = five_s, .first_spread = five_s,
                .why = "the service is unavailable; wait for Retry-After, else at least 5 s, "
                       "jittered"}},
    {504, 504, {.action = A::retry, .why = "a gateway timed out upstream; retry with backoff"}},
    {505, 505, {.action = A::stop, .why = "the server does not speak our HTTP version"}},
    {506, 599, {.action = A::retry, .why = "a server-side failure; retry with backoff"}},
    {600, 999, {.action = A::stop, .why = not_a_status}},
}};

// Indexed by transport_failure: dns, refused, reset, timeout, tls_verify, tls_other, other.
const std::array<reconnect_rule, 7> default_transport_rules = {{
    {.action = A::retry,
     .why = "the name may resolve once the network is back; retry with backoff"},
    {.action = A::retry,
     .why = "nothing listens yet, the server may be restarting; retry"},
    {.action = A::retry, .why = "the connection dropped; retry with backoff"},
    {.action = A::retry, .why = "the server or network is slow; retry with backoff"},
    {.action = A::stop,
     .why = "the server's certificate is not trusted; retrying will not make it trusted"},
    {.action = A::retry, .why = "a TLS failure other than verification; retry with backoff"},
    {.action = A::retry, .why = "an I/O failure; retry with backoff"},
}};
// clang-format on

std::string_view to_string(reconnect_action a) noexcept {
  switch (a) {
    case A::stop:
      return "stop";
    case A::retry:
      return "retry";
    case A::retry_raised_floor:
      return "retry_raised_floor";
    case A::retry_with_strikes:
      return "retry_with_strikes";
  }
  return "stop";
}

std::string_view to_string(reconnect_qualifier q) noexcept {
  switch (q) {
    case Q::none:
      return "none";
    case Q::credential_refresh:
      return "credential_refresh";
    case Q::dead_letter:
      return "dead_letter";
    case Q::tls_verify_stops:
      return "tls_verify_stops";
  }
  return "none";
}

std::string_view text_store::keep(std::string_view text) {
  // Each text is its own allocation, so growing the vector never moves the bytes a view points at.
  texts_.push_back(std::make_shared<const std::string>(text));
  return *texts_.back();
}

namespace {

// The narrowest override covering `key`; the later of equally narrow ones.
template <class Overrides, class Key>
const rule* find_override(const Overrides& overrides, Key key) {
  const rule* best = nullptr;
  auto best_width = std::numeric_limits<std::uint64_t>::max();
  for (const auto& o : overrides) {
    if (key < o.first || key > o.last) continue;
    const std::uint64_t width = std::uint64_t{o.last} - std::uint64_t{o.first};
    if (width <= best_width) {
      best = &o.rule;
      best_width = width;
    }
  }
  return best;
}

}  // namespace

rule rule_for_code(close_code code, const config& cfg) {
  if (const rule* r = find_override(cfg.codes, to_int(code))) return *r;
  if (code == close_code::normal && cfg.reconnect_on_normal_close) {
    return {.action = A::retry,
            .why = "retry after a normal close (reconnect_on_normal_close is on)"};
  }
  return info(code).reconnect;
}

rule rule_for_status(unsigned status, const config& cfg) {
  if (const rule* r = find_override(cfg.statuses, status)) return *r;
  const unsigned key = std::min(status, default_status_rules.back().last);
  for (const auto& row : default_status_rules) {
    if (key >= row.first && key <= row.last) return row.rule;
  }
  return default_status_rules.back().rule;
}

rule rule_for_transport(transport_failure failure, const config& cfg) {
  const rule* found = nullptr;
  for (const auto& o : cfg.transports) {
    if (o.failure == failure) found = &o.rule;  // the later entry wins
  }
  if (found != nullptr) return *found;
  return default_transport_rules[static_cast<std::size_t>(failure)];
}

clock_reading clock_reading::now() noexcept {
  return {std::chrono::steady_clock::now(), std::chrono::system_clock::now()};
}

void retry_state::record(const attempt_report& report, const config& cfg) {
  const bool stayed_up = report.uptime && *report.uptime >= cfg.min_uptime;
  // Only an attempt that stayed up for min_uptime ends the streak; an open alone does not.
  if (!streak_start_ || stayed_up) {
    const auto now = report.at.steady;
    reset();
    streak_start_ = now;
  }
  ctx_.elapsed = std::max(
      milliseconds{0}, std::chrono::duration_cast<milliseconds>(report.at.steady - *streak_start_));
  ctx_.last_uptime = report.uptime;
  ctx_.offending_message_known = report.offending_message_known;
  ctx_.now = report.at.wall;

  const auto* ev = std::get_if<close_event>(&report.result);
  if (ev != nullptr && !stayed_up && !is_application_close(report.result)) {
    // "Identical" means the same close code; reasons often carry ids that vary.
    const bool same = last_close_ && last_close_->code == ev->code;
    ctx_.strikes = same ? ctx_.strikes + 1 : 1;
    last_close_ = *ev;
  } else {
    ctx_.strikes = 0;
    last_close_.reset();
  }
}

void retry_state::commit(const decision& d) {
  if (!d.retries()) return;
  if (ctx_.attempt < std::numeric_limits<std::uint32_t>::max()) ++ctx_.attempt;
  ctx_.previous_delay = d.delay;
  if (d.after_credential_refresh) ctx_.credentials_refreshed = true;
}

void retry_state::reset() noexcept {
  ctx_ = retry_context{};
  streak_start_.reset();
  last_close_.reset();
}

namespace {

std::string ms_text(milliseconds d) { return std::to_string(d.count()) + " ms"; }

// 1015 stops only when the certificate itself was refused.
bool is_tls_verification(const close_event& ev) {
  return ev.error && ev.error == condition::tls_verification;
}

}  // namespace

decision decide(const outcome& what, const retry_context& ctx, const config& cfg,
                const uniform_source& uniform) {
  const std::string cause = describe(what);
  const auto stop = [&cause](std::string_view why) {
    return decision::stop(cause, cause + ": " + std::string(why));
  };
  // ARCHITECTURE §3: a local close() always stops, whatever the policy says.
  if (is_application_close(what)) return stop("the application closed the connection");

  const auto* ev = std::get_if<close_event>(&what);
  const auto* refusal = std::get_if<http_refusal>(&what);
  const rule r = ev        ? rule_for_code(ev->code, cfg)
                 : refusal ? rule_for_status(refusal->status, cfg)
                           : rule_for_transport(std::get<transport_failure>(what), cfg);
  // An override loaded without a "why" still gives a readable reason.
  const std::string why =
      r.why.empty() ? "the policy \"" + cfg.name + "\" says " + std::string(to_string(r.action))
                    : std::string(r.why);

  // Qualifiers turn a stop into a conditional retry, or a retry into a conditional stop.
  bool refresh = false;
  bool dead_letter = false;
  switch (r.qualifier) {
    case Q::tls_verify_stops:
      if (ev != nullptr && is_tls_verification(*ev)) {
        return stop("the server's certificate failed verification (" + ev->error.message() +
                    "); retrying will not make it trusted");
      }
      break;
    case Q::credential_refresh:
      if (ctx.credentials_refreshed) {
        return stop(why + " (credentials were already refreshed once)");
      }
      refresh = true;
      break;
    case Q::dead_letter:
      if (!ctx.offending_message_known) {
        return stop(why + " (the offending outgoing message is not known)");
      }
      dead_letter = true;
      break;
    case Q::none:
      break;
  }
  if (r.action == A::stop && !refresh && !dead_letter) return stop(why);

  // Limits, in the order a person would check them.
  if (r.action == A::retry_with_strikes && ctx.strikes >= cfg.strike_limit) {
    return stop(std::to_string(ctx.strikes) + " identical closes in a row, none open for " +
                ms_text(cfg.min_uptime) + "; giving up (" + why + ")");
  }
  if (cfg.max_attempts && ctx.attempt >= *cfg.max_attempts) {
    return stop("giving up after " + std::to_string(ctx.attempt) + " retries (max_attempts " +
                std::to_string(*cfg.max_attempts) + ")");
  }

  milliseconds delay = next_delay(cfg.backoff, ctx.attempt, ctx.previous_delay, uniform);

  std::optional<milliseconds> hint;
  if (refusal != nullptr && refusal->retry_after) {
    hint = parse_retry_after(*refusal->retry_after, ctx.now);
  } else if (ev != nullptr) {
    hint = parse_close_retry_after(ev->reason);
  }
  // HTTP's Retry-After replaces the raised floor (RFC 9110 §10.2.3 is precise).
  // A close code's raised floor stays (1013 waits 5 s whatever the reason says),
  // but a code that only spreads its first retry (1001, 1011, 1012) takes the
  // reason's hint instead of its own spread: a server that names the time has
  // paced its closes itself (closewise's shutdown spreads them), and a second,
  // client-side spread on top only bunches the reconnects (bench/RESULTS.md,
  // "reconnect spread").
  const bool replaces_floor = hint.has_value() && (refusal != nullptr || r.floor.count() == 0);
  if (r.action == A::retry_raised_floor && !replaces_floor) {
    const milliseconds raised = std::max(r.floor, minimum_delay(cfg.backoff));
    if (ctx.attempt == 0 && r.first_spread.count() > 0) {
      delay = raised + draw_uniform(r.first_spread, uniform);
    } else {
      delay = std::max(delay, jitter_above(raised, cfg.hint_jitter, uniform));
    }
  }
  if (hint) {
    const milliseconds clamped = std::min(*hint, cfg.max_retry_after);
    delay = std::max(delay, jitter_above(clamped, cfg.hint_jitter, uniform));
  }

  if (cfg.max_elapsed && ctx.elapsed + delay > *cfg.max_elapsed) {
    return stop("giving up: waiting " + ms_text(delay) + " more would pass max_elapsed (" +
                ms_text(*cfg.max_elapsed) + ")");
  }

  decision d = decision::retry(delay, cause);
  d.dead_letter = dead_letter;
  if (refresh) {
    d.kind = decision_kind::refresh_credentials;
    d.reason = cause + ": " + why + " (no new credentials)";
  }
  return d;
}

}  // namespace closewise::policy

// closewise::policy: what the reconnect policy decided.
#pragma once

#include <chrono>
#include <cstdint>
#include <string>

namespace closewise::policy {

/// The kind of a decision.
enum class decision_kind : std::uint8_t {
  stop,                 ///< do not reconnect; `reason` says why
  retry,                ///< reconnect after `delay`
  refresh_credentials,  ///< call the credential-refresh hook: new credentials mean
                        ///< retry after `delay`, none mean stop with `reason`
};

/// The answer of `decide()`: stop with a reason, or retry after a delay.
///
/// A `refresh_credentials` decision is never acted on directly: the client
/// calls its hook and turns it into a plain stop or retry with
/// `resolve_credential_refresh()`, so `decide()` itself stays pure.
struct decision {
  decision_kind kind = decision_kind::stop;
  /// How long to wait before the next attempt (retry and refresh_credentials).
  std::chrono::milliseconds delay{0};
  /// What ended the attempt: "1012 Service Restart", "HTTP 503", "connection refused".
  std::string cause;
  /// For stop (and refresh_credentials without new credentials): a sentence a
  /// person can read, e.g. "1008 Policy Violation: the server refused us by policy ...".
  std::string reason;
  /// 1009: the client must dead-letter the offending outgoing message before
  /// reconnecting, or the same message is refused again.
  bool dead_letter = false;
  /// This retry spends the streak's one credential refresh (set by
  /// `resolve_credential_refresh`, read by `retry_state::commit`).
  bool after_credential_refresh = false;

  /// A stop decision.
  static decision stop(std::string cause, std::string reason);
  /// A retry decision.
  static decision retry(std::chrono::milliseconds delay, std::string cause);

  /// Give up: do not reconnect.
  bool stops() const noexcept { return kind == decision_kind::stop; }
  /// Reconnect after `delay`.
  bool retries() const noexcept { return kind == decision_kind::retry; }

  friend bool operator==(const decision&, const decision&) = default;
};

/// Turns a `refresh_credentials` decision into a plain one once the client
/// has called its credential-refresh hook: `got_new_credentials` gives the
/// one retry, otherwise it stops with the decision's reason. Any other
/// decision is returned unchanged.
[[nodiscard]] decision resolve_credential_refresh(decision d, bool got_new_credentials);

}  // namespace closewise::policy

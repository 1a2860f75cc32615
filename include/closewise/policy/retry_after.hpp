// closewise::policy: server hints about when to come back.
//
// Two forms are understood: the HTTP `Retry-After` header of a 429 or 503
// refusal (RFC 9110 §10.2.3, RFC 6585 §4), and the close reason
// `retry-after=SECONDS` that a closewise server sends with 1012 or 1013.
// Parsing never clamps; `decide()` clamps to `config::max_retry_after`.
#pragma once

#include <chrono>
#include <optional>
#include <string_view>

namespace closewise::policy {

/// Parses a `Retry-After` header value into a wait relative to `now`.
///
/// RFC 9110 §10.2.3: `Retry-After = HTTP-date / delay-seconds`, where
/// delay-seconds is `1*DIGIT`. Accepts, around optional whitespace:
/// - delay-seconds: digits only; a value too large to represent saturates;
/// - an HTTP-date in any of the three formats a recipient must accept
///   (RFC 9110 §5.6.7): IMF-fixdate "Sun, 06 Nov 1994 08:49:37 GMT",
///   RFC 850 "Sunday, 06-Nov-94 08:49:37 GMT" and asctime
///   "Sun Nov  6 08:49:37 1994". A date in the past gives 0 ms.
///
/// Returns nullopt for anything else: empty, negative, fractional, a bad date.
[[nodiscard]] std::optional<std::chrono::milliseconds> parse_retry_after(
    std::string_view value, std::chrono::system_clock::time_point now);

/// Finds `retry-after=SECONDS` in a close reason.
///
/// The key is case-insensitive and must start the reason or follow a space,
/// ';' or ','; the digits run to the end or to the next separator, so both
/// "retry-after=30" and "overloaded; retry-after=30" are understood.
/// Returns nullopt when there is no well-formed hint.
[[nodiscard]] std::optional<std::chrono::milliseconds> parse_close_retry_after(
    std::string_view reason);

}  // namespace closewise::policy

// closewise::policy: how a connect attempt ended, as the reconnect policy sees it.
//
// The network layer converts what it saw into one of three outcomes: a close
// event (the connection had opened), an HTTP refusal of the upgrade, or a
// transport failure before any HTTP answer. The policy never touches I/O.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <system_error>
#include <variant>

#include "closewise/close_event.hpp"

namespace closewise::policy {

/// The server answered the upgrade request with a status other than 101.
///
/// Only what the policy needs is kept: the status, the raw `Retry-After`
/// value (RFC 9110 §10.2.3: delta-seconds or an HTTP-date) and the body.
struct http_refusal {
  unsigned status = 0;                     ///< e.g. 503
  std::optional<std::string> retry_after;  ///< raw Retry-After header value, if any
  std::string body;                        ///< bounded by the handshake parser

  friend bool operator==(const http_refusal&, const http_refusal&) = default;
};

/// A failure before the server said anything over HTTP.
enum class transport_failure : std::uint8_t {
  dns,         ///< the host name did not resolve
  refused,     ///< TCP connect refused
  reset,       ///< TCP reset, or EOF before the HTTP answer
  timeout,     ///< connect or handshake timed out
  tls_verify,  ///< the peer's certificate failed verification
  tls_other,   ///< any other TLS failure
  other,       ///< any other I/O failure
};

/// Every transport failure, in declaration order (for tables and JSON).
inline constexpr transport_failure all_transport_failures[] = {
    transport_failure::dns,     transport_failure::refused,    transport_failure::reset,
    transport_failure::timeout, transport_failure::tls_verify, transport_failure::tls_other,
    transport_failure::other,
};

/// The JSON and log name: "dns", "refused", "reset", "timeout", "tls_verify", "tls_other", "other".
std::string_view to_string(transport_failure f) noexcept;
/// Parses a name produced by `to_string`; nullopt for anything else.
[[nodiscard]] std::optional<transport_failure> parse_transport_failure(
    std::string_view name) noexcept;
/// What a person reads as the cause: "DNS failure", "connection refused", ...
std::string_view describe(transport_failure f) noexcept;

/// Maps a closewise transport error (`error::dns_failure`, `error::connection_refused`,
/// `error::tls_verify_failed`, ...) to its failure kind. Any other error whose
/// condition is transport, timeout or TLS maps to the closest kind; errors of
/// other layers give nullopt.
[[nodiscard]] std::optional<transport_failure> transport_failure_from(std::error_code ec) noexcept;

/// How one connect attempt ended.
using outcome = std::variant<close_event, http_refusal, transport_failure>;

/// The cause as a person reads it: "1012 Service Restart", "HTTP 503", "connection refused".
std::string describe(const outcome& o);

/// True for a close the application asked for: initiator local and no error.
/// Such a close always stops (ARCHITECTURE §3).
bool is_application_close(const outcome& o) noexcept;

}  // namespace closewise::policy

// closewise: how a connection ended, reported like the browser's CloseEvent.
#pragma once

#include <cstddef>
#include <string>
#include <string_view>
#include <system_error>

#include "closewise/close_code.hpp"

namespace closewise {

/// RFC 6455 §5.5: a control frame carries at most 125 bytes, two of them the code.
inline constexpr std::size_t max_close_reason = 123;

/// Which side started the close.
enum class initiator : std::uint8_t {
  none,    ///< nobody sent a close frame (TCP drop, timeout, TLS failure)
  local,   ///< this endpoint sent the first close frame (or failed the connection)
  remote,  ///< the peer sent the first close frame
};

std::string_view to_string(initiator i) noexcept;

/// The end of a connection: `{code, reason, was_clean, initiator, error}`.
///
/// Follows the WHATWG CloseEvent: `was_clean` is true only when close frames
/// went both ways and TCP then closed in order. `error` says why for 1006 and
/// 1015 (reset, EOF, timeout, heartbeat, TLS verification, ...), and is empty
/// for a clean close.
struct close_event {
  close_code code = close_code::abnormal;
  std::string reason;
  bool was_clean = false;
  closewise::initiator initiator = initiator::none;
  std::error_code error;

  friend bool operator==(const close_event&, const close_event&) = default;
};

/// Checks a close reason before it is sent: at most 123 bytes of valid UTF-8.
/// Returns `error::close_reason_too_long` or `error::close_reason_not_utf8`.
[[nodiscard]] std::error_code validate_close_reason(std::string_view reason) noexcept;

/// Checks what the application's `close(code, reason)` may send: 1000 and
/// 3000-4999 with a valid reason (ARCHITECTURE §2). It never truncates.
[[nodiscard]] std::error_code validate_app_close(close_code code, std::string_view reason) noexcept;

/// Like `validate_app_close`, for endpoint/protocol paths that may also send
/// 1001-1003 and 1007-1014 (server shutdown, load shedding, policy hooks).
[[nodiscard]] std::error_code validate_endpoint_close(close_code code,
                                                      std::string_view reason) noexcept;

/// Like `validate_endpoint_close`, for a relay (a gateway passing on a close
/// frame it received, docs/proxy.md): every code valid on the wire (1000-1003,
/// 1007-1014, 3000-4999), and also 1005 with an empty reason, which stands for
/// a close frame without a body (RFC 6455 §5.5.1: the peer reports 1005 for it).
[[nodiscard]] std::error_code validate_relay_close(close_code code,
                                                   std::string_view reason) noexcept;

/// Explicitly shortens `reason` to at most `max_bytes` on a code-point
/// boundary. Invalid UTF-8 is cut before the first invalid byte.
[[nodiscard]] std::string_view truncate_close_reason(
    std::string_view reason, std::size_t max_bytes = max_close_reason) noexcept;

}  // namespace closewise

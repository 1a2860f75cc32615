#include "closewise/close_event.hpp"

#include "closewise/error.hpp"
#include "closewise/utf8.hpp"

namespace closewise {

std::string_view to_string(initiator i) noexcept {
  // clang-format off
  switch (i) {
    case initiator::local: return "local";
    case initiator::remote: return "remote";
    case initiator::none: break;
  }
  // clang-format on
  return "none";
}

std::error_code validate_close_reason(std::string_view reason) noexcept {
  if (reason.size() > max_close_reason) return error::close_reason_too_long;
  if (!is_valid_utf8(reason)) return error::close_reason_not_utf8;
  return {};
}

std::error_code validate_app_close(close_code code, std::string_view reason) noexcept {
  if (!is_app_sendable(code)) return error::close_code_not_sendable;
  return validate_close_reason(reason);
}

std::error_code validate_endpoint_close(close_code code, std::string_view reason) noexcept {
  if (!is_endpoint_sendable(code)) return error::close_code_not_sendable;
  return validate_close_reason(reason);
}

std::error_code validate_relay_close(close_code code, std::string_view reason) noexcept {
  // RFC 6455 §5.5.1: a close frame may have no body; its receiver reports
  // 1005, and a relay passes it on as the same empty frame.
  if (code == close_code::no_status)
    return reason.empty() ? std::error_code{} : error::close_code_not_sendable;
  return validate_endpoint_close(code, reason);
}

std::string_view truncate_close_reason(std::string_view reason, std::size_t max_bytes) noexcept {
  // Keep the longest prefix that is valid UTF-8, ends on a code point
  // boundary and fits max_bytes.
  std::size_t good = 0;
  std::size_t i = 0;
  const auto n = reason.size();
  while (i < n) {
    const auto b = static_cast<unsigned char>(reason[i]);
    const std::size_t len = b < 0x80           ? 1
                            : (b >> 5) == 0x6  ? 2
                            : (b >> 4) == 0xE  ? 3
                            : (b >> 3) == 0x1E ? 4
                                               : 0;
    if (len == 0 || i + len > n || i + len > max_bytes) break;
    if (!is_valid_utf8(reason.substr(i, len))) break;
    i += len;
    good = i;
  }
  return reason.substr(0, good);
}

}  // namespace closewise

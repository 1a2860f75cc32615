#include "close_request.hpp"

#include <fmt/format.h>

#include <closewise/close_event.hpp>
#include <closewise/error.hpp>

namespace closewise::cli {

std::string close_code_problem(std::uint32_t code, close_sender sender) {
  if (code > close_range::invalid_last)
    return fmt::format("{} is not a close code (0-65535)", code);
  const auto c = static_cast<close_code>(code);
  const auto& row = info(c);
  // RFC 6455 §7.4.1: 1005, 1006 and 1015 "MUST NOT be set as a status code in a
  // Close control frame by an endpoint".
  if (row.local_only)
    return fmt::format("{} {} is never sent: a receiver reports it locally (RFC 6455 §7.4.1)", code,
                       row.name);
  if (!row.on_wire)
    return fmt::format("{} ({}) is not valid in a close frame (RFC 6455 §7.4.2)", code, row.name);
  if (sender == close_sender::client && row.endpoint_only())
    return fmt::format(
        "{} {} is not offered to clients: connect can send 1000 and 3000-4999 (closewise's "
        "client has no way to send 1001-1003 or 1007-1014)",
        code, row.name);
  return {};
}

std::string close_reason_problem(std::string_view reason) {
  const auto ec = validate_close_reason(reason);
  if (!ec) return {};
  if (ec == error::close_reason_too_long)
    return fmt::format("the reason is {} bytes; a close reason holds at most {} (RFC 6455 §5.5)",
                       reason.size(), max_close_reason);
  return "the reason is not valid UTF-8 (RFC 6455 §5.5.1)";
}

}  // namespace closewise::cli

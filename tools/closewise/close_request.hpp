// A close the user asks a command to send (--code/--reason, --close-code,
// /close, a scripted path), and why it cannot be sent, in words that name
// the rule rather than the library call that enforces it.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>

#include <closewise/close_code.hpp>

namespace closewise::cli {

/// Who would send the close frame.
enum class close_sender : std::uint8_t {
  /// `connect`: closewise's client offers the application codes only
  /// (1000, 3000-4999), see docs/design-notes.md "CLI".
  client,
  /// `serve`: every code an endpoint may send (1000-1003, 1007-1014, 3000-4999).
  server,
};

/// A close code and reason to send.
struct close_request {
  close_code code = close_code::normal;
  std::string reason;
};

/// Why `sender` cannot send `code`, as one sentence ("1005 No Status Rcvd is
/// never sent: ..."); empty when it can. `code` may be any unsigned value.
std::string close_code_problem(std::uint32_t code, close_sender sender);

/// Why `reason` cannot be a close reason (over 123 bytes, or not UTF-8, RFC
/// 6455 §5.5, §5.5.1); empty when it can. Never truncates.
std::string close_reason_problem(std::string_view reason);

}  // namespace closewise::cli

// closewise::proto (internal): small pieces of RFC 7230 / RFC 6455 §9.1 header
// syntax shared by the handshake and permessage-deflate negotiation. The HTTP
// message itself is parsed by Boost.Beast; these only split header values.
#pragma once

#include <cstddef>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace closewise::proto::detail {

/// ASCII case-insensitive comparison (RFC 7230 §3.2: names and tokens).
bool iequals(std::string_view a, std::string_view b) noexcept;
/// Strips optional whitespace (SP / HTAB, RFC 7230 §3.2.3) at both ends.
std::string_view trim(std::string_view s) noexcept;
/// RFC 7230 §3.2.6: tchar.
bool is_tchar(char c) noexcept;
/// RFC 7230 §3.2.6: token = 1*tchar.
bool is_token(std::string_view s) noexcept;
/// A field value we are willing to send: no CR, LF, NUL or other controls but HTAB.
bool is_safe_value(std::string_view s) noexcept;

/// Calls `f(element)` for each trimmed, non-empty element of a comma-separated
/// list (RFC 7230 §7), keeping commas inside quoted strings. Stops when `f`
/// returns false.
template <class F>
void for_each_element(std::string_view list, F&& f) {
  std::size_t start = 0;
  bool quoted = false;
  for (std::size_t i = 0; i <= list.size(); ++i) {
    if (i < list.size()) {
      const char c = list[i];
      if (quoted) {
        if (c == '\\')
          ++i;  // quoted-pair: skip the escaped octet
        else if (c == '"')
          quoted = false;
        continue;
      }
      if (c == '"') {
        quoted = true;
        continue;
      }
      if (c != ',') continue;
    }
    // RFC 7230 §7: empty list elements are allowed and ignored.
    const auto element = trim(list.substr(start, i - start));
    start = i + 1;
    if (!element.empty() && !f(element)) return;
  }
}
/// True when the comma-separated `list` holds `token` (case-insensitive).
bool list_has_token(std::string_view list, std::string_view token);

/// One extension parameter: `name [= value]`, the value unquoted.
struct extension_param {
  std::string_view name;
  std::optional<std::string> value;
};
/// One element of Sec-WebSocket-Extensions (RFC 6455 §9.1).
struct extension {
  std::string_view name;
  std::vector<extension_param> params;
};
/// Parses `extension-token *( ";" extension-param )`. RFC 6455 §9.1: a
/// quoted-string value must be a token once unquoted. False when malformed.
bool parse_extension(std::string_view element, extension& out);

/// RFC 7692 §7.1.2: "a decimal integer value without leading zeroes between
/// 8 to 15, inclusive". nullopt otherwise.
std::optional<std::uint8_t> parse_window_bits(std::string_view v) noexcept;

}  // namespace closewise::proto::detail

// closewise::net: WebSocket URLs (RFC 6455 §3), parsed with Boost.URL.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>
#include <system_error>

namespace closewise::net {

/// A parsed ws:// or wss:// URL, reduced to what the opening handshake needs.
struct ws_url {
  bool secure = false;      ///< wss:// (TLS)
  std::string host;         ///< host name or IP literal, IPv6 without brackets
  bool host_is_ip = false;  ///< an IPv4 or IPv6 literal: no SNI is sent for it (RFC 6066 §3)
  std::uint16_t port = 0;   ///< the URL's port, else 80 (ws) or 443 (wss)
  /// RFC 6455 §4.1: the request target is the path and query, "/" when the path is empty.
  std::string target;
  /// The Host header value, always "host:port" (IPv6 literals in brackets).
  std::string host_header;
};

/// Parses a WebSocket URL.
///
/// RFC 6455 §3: `ws-URI = "ws:" "//" host [ ":" port ] path [ "?" query ]`, and
/// likewise `wss`. Scheme and host are case-insensitive; percent-encoding in the
/// path and query is kept as written. A fragment is ignored, as the WHATWG
/// WebSocket constructor does. Returns error::invalid_url for anything that is
/// not a URI with a host (or has a port outside 1..65535), and
/// error::unsupported_scheme for any scheme other than ws or wss.
std::error_code parse_ws_url(std::string_view text, ws_url& out);

}  // namespace closewise::net

#include "closewise/net/url.hpp"

#include <boost/url/parse.hpp>
#include <boost/url/url_view.hpp>

#include "closewise/error.hpp"

namespace closewise::net {

std::error_code parse_ws_url(std::string_view text, ws_url& out) {
  auto parsed = boost::urls::parse_uri(text);
  if (!parsed) return error::invalid_url;
  const boost::urls::url_view u = *parsed;

  // RFC 6455 §3: the scheme is "ws" or "wss" (case-insensitive, RFC 3986 §3.1).
  const auto scheme = u.scheme_id();
  if (scheme == boost::urls::scheme::ws) {
    out.secure = false;
  } else if (scheme == boost::urls::scheme::wss) {
    out.secure = true;
  } else {
    return error::unsupported_scheme;
  }
  if (!u.has_authority()) return error::invalid_url;

  switch (u.host_type()) {
    case boost::urls::host_type::ipv4:
    case boost::urls::host_type::ipv6:
      out.host = u.host_address();  // "::1", without the brackets
      out.host_is_ip = true;
      break;
    case boost::urls::host_type::name:
      out.host = u.host_name();
      out.host_is_ip = false;
      break;
    default:
      return error::invalid_url;  // empty host or an IPvFuture literal
  }
  if (out.host.empty()) return error::invalid_url;
  for (auto& c : out.host)  // RFC 3986 §3.2.2: host names compare case-insensitively
    if (c >= 'A' && c <= 'Z') c = static_cast<char>(c - 'A' + 'a');

  if (u.has_port()) {
    // Read the digits ourselves: a port over 65535 must fail, not wrap.
    const auto digits = u.port();
    unsigned long v = 0;
    if (digits.empty() || digits.size() > 5) return error::invalid_url;
    for (char c : digits)
      v = v * 10 + static_cast<unsigned long>(c - '0');  // RFC 3986: port = *DIGIT
    if (v == 0 || v > 65535) return error::invalid_url;
    out.port = static_cast<std::uint16_t>(v);
  } else {
    out.port = out.secure ? 443 : 80;
  }

  // RFC 6455 §4.1: "/resource name/" is the path ("/" if empty) and the query.
  out.target = u.encoded_path().empty() ? std::string("/") : std::string(u.encoded_path());
  if (u.has_query()) {
    out.target += '?';
    out.target += u.encoded_query();
  }

  const bool v6 = u.host_type() == boost::urls::host_type::ipv6;
  out.host_header = v6 ? "[" + out.host + "]" : out.host;
  out.host_header += ':';
  out.host_header += std::to_string(out.port);
  return {};
}

}  // namespace closewise::net

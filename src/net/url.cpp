#include "closewise/net/url.hpp"

#include <boost/url/grammar/parse.hpp>
#include <boost/url/parse.hpp>
#include <boost/url/rfc/ipv4_address_rule.hpp>
#include <boost/url/url_view.hpp>

#include "closewise/error.hpp"

namespace closewise::net {
namespace {

// Boost.URL 1.81 takes the longest IPv4 prefix of a host as the whole host: "ws://1.2.3.4.x/"
// parses as host 1.2.3.4 and path ".x/". Such a URL is refused (its path check fails), and so
// is a name that only becomes one after %XX decoding, so a name and its plain spelling agree.
bool starts_with_ipv4(std::string_view name) {
  const char* it = name.data();
  return !boost::urls::grammar::parse(it, name.data() + name.size(), boost::urls::ipv4_address_rule)
              .has_error();
}

}  // namespace

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
  for (auto& c : out.host) {  // RFC 3986 §3.2.2: host names compare case-insensitively
    if (c >= 'A' && c <= 'Z') c = static_cast<char>(c - 'A' + 'a');
    // A name decoded from %XX must still be one a resolver takes (letters, digits, '-',
    // '.', '_'; IDNs come as xn--): "ws://%2F/" names the host "/", not a path.
    const bool ok = (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '-' || c == '.' ||
                    c == '_' || out.host_is_ip;
    if (!ok) return error::invalid_url;
  }
  if (!out.host_is_ip && starts_with_ipv4(out.host)) return error::invalid_url;

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

  // RFC 3986 §3.3: after an authority the path is empty or starts with '/'. Boost.URL 1.81
  // accepts "ws://h:8+/x" as port 8 and path "+/x"; that is a bad port, not a path.
  const auto path = u.encoded_path();
  if (!path.empty() && path.front() != '/') return error::invalid_url;

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

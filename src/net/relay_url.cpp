// closewise::net: where a relay sends a client, and what it tells the client
// when the upstream failed (docs/proxy.md).
#include "closewise/net/relay.hpp"

#include <string>

#include "closewise/close_event.hpp"
#include "closewise/error.hpp"
#include "closewise/net/url.hpp"

namespace closewise::net {
namespace {

struct split_target {
  std::string_view path;
  std::string_view query;  ///< without the '?'; empty when there is none
};

split_target split(std::string_view target) {
  const auto q = target.find('?');
  if (q == std::string_view::npos) return {target, {}};
  return {target.substr(0, q), target.substr(q + 1)};
}

}  // namespace

std::error_code upstream_url(std::string_view upstream, std::string_view request_target,
                             std::string& out) {
  ws_url u;
  if (auto ec = parse_ws_url(upstream, u)) return ec;
  const auto base = split(u.target);
  auto client = split(request_target);
  // RFC 6455 §4.1: the request target is origin-form; anything else (an
  // absolute URI) is reduced to "/" rather than let the client pick a host.
  if (client.path.empty() || client.path.front() != '/') client.path = "/";
  std::string_view prefix = base.path;
  while (!prefix.empty() && prefix.back() == '/') prefix.remove_suffix(1);
  out.clear();
  out.append(u.secure ? "wss://" : "ws://").append(u.host_header);
  out.append(prefix).append(client.path);
  if (!base.query.empty() || !client.query.empty()) {
    out.push_back('?');
    out.append(base.query);
    if (!base.query.empty() && !client.query.empty()) out.push_back('&');
    out.append(client.query);
  }
  return {};
}

std::string upstream_failure_reason(std::error_code why, unsigned status) {
  if (why == error::bad_status && status != 0) return "upstream answered " + std::to_string(status);
  if (why == error::connection_refused) return "upstream refused";
  if (why == error::connect_timeout || why == error::handshake_timeout) return "upstream timeout";
  if (why == error::dns_failure) return "upstream not resolved";
  if (why == error::tls_verify_failed) return "upstream TLS verification failed";
  if (why == error::invalid_url || why == error::unsupported_scheme) return "upstream URL invalid";
  // A close reason holds at most 123 bytes (RFC 6455 §5.5: 125 with the code).
  std::string r = "upstream unreachable: " + why.message();
  return std::string(truncate_close_reason(r));
}

}  // namespace closewise::net

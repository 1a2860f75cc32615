// Fuzzes the WebSocket URL parser (net/url.hpp, RFC 6455 §3).
//
// Input: the URL text. Invariants (a violation aborts):
// - a URL is either refused with invalid_url / unsupported_scheme or gives a
//   host and port and a target starting with '/';
// - nothing that reaches the request line or the Host header can split them:
//   no control character, space, or DEL in the target, host or Host value;
// - the Host value is "host:port", with an IPv6 literal in brackets;
// - the URL rebuilt from the result parses to the same result.
#include "closewise/net/url.hpp"

#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <string>
#include <string_view>

#include "closewise/error.hpp"

namespace net = closewise::net;

namespace {

// A broken invariant aborts, naming itself, so a crash report says which.
#define CHECK(cond)                                                                     \
  do {                                                                                  \
    if (!(cond)) {                                                                      \
      std::fprintf(stderr, "%s:%d: invariant broken: %s\n", __FILE__, __LINE__, #cond); \
      std::abort();                                                                     \
    }                                                                                   \
  } while (false)

bool printable(std::string_view s) {
  for (const char c : s) {
    const auto b = static_cast<unsigned char>(c);
    if (b <= 0x20 || b == 0x7F) return false;
  }
  return true;
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  const std::string_view text(reinterpret_cast<const char*>(data), size);
  net::ws_url u;
  const std::error_code ec = net::parse_ws_url(text, u);
  if (ec) {
    CHECK(ec == closewise::error::invalid_url || ec == closewise::error::unsupported_scheme);
    return 0;
  }
  CHECK(!u.host.empty());
  CHECK(u.port != 0);
  CHECK(!u.target.empty() && u.target.front() == '/');
  CHECK(u.target.find('#') == std::string::npos);
  CHECK(printable(u.target) && printable(u.host) && printable(u.host_header));
  const bool v6 = u.host.find(':') != std::string::npos;
  if (v6) CHECK(u.host_is_ip);
  const std::string host = v6 ? "[" + u.host + "]" : u.host;
  CHECK(u.host_header == host + ":" + std::to_string(u.port));

  net::ws_url again;
  const std::string rebuilt = (u.secure ? "wss://" : "ws://") + u.host_header + u.target;
  CHECK(!net::parse_ws_url(rebuilt, again));
  CHECK(again.secure == u.secure && again.host == u.host && again.port == u.port &&
        again.target == u.target && again.host_header == u.host_header &&
        again.host_is_ip == u.host_is_ip);
  return 0;
}

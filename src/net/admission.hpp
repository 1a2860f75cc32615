// closewise::net (private): who gets in. max_connections slots, the Origin
// allowlist, subprotocol selection, the application's on_connect, and load
// shedding with 503 or 1013 (ARCHITECTURE §4).
#pragma once

#include <string>

#include "closewise/proto/handshake.hpp"
#include "server_shared.hpp"

namespace closewise::net::detail {

/// Takes a max_connections slot for a connection just accepted. Counted from
/// accept, not from open, so a burst of connects cannot overshoot while their
/// handshakes run. False: over the limit; the connection is only turned away
/// (it holds no slot and never reaches the application).
[[nodiscard]] bool take_slot(server_shared& sh) noexcept;
/// Gives a slot back: the connection was refused or ended.
void give_back_slot(server_shared& sh) noexcept;

/// The server's answer to a valid upgrade request.
struct admission {
  enum class verdict : std::uint8_t {
    accept,      ///< 101 with `subprotocol`
    refuse,      ///< `response` (an HTTP refusal), then the connection ends
    close_1013,  ///< over the limit: 101, then at once a close with 1013 and `reason`
  };
  verdict what = verdict::accept;
  std::string subprotocol;
  std::string response;
  std::string reason;
};

/// Decides on a valid request. A connection over max_connections
/// (`over_limit`) is shed: 503 with Retry-After (RFC 9110 §15.6.4), or 101
/// and 1013 "retry-after=S" (the form closewise's policy parses). Otherwise,
/// in order: the Origin allowlist (403), the subprotocol selection, then the
/// application's on_connect, whose refusal is sent as it chose.
[[nodiscard]] admission admit(server_shared& sh, const proto::server_handshake& hs,
                              bool over_limit);

}  // namespace closewise::net::detail

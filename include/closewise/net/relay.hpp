// closewise::net: a WebSocket gateway that keeps the close-code contract
// (docs/proxy.md): every client of a server is relayed to its own upstream
// connection, messages both ways with backpressure, close codes and reasons
// passed on exactly, and an upstream failure reported to the client as 1014.
#pragma once

#include <cstddef>
#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <string_view>
#include <system_error>

#include <boost/asio/io_context.hpp>

#include "closewise/net/client.hpp"
#include "closewise/net/server.hpp"

namespace closewise::net {

namespace detail {
class relay_impl;
}

/// Settings of a relay.
struct relay_config {
  /// The upstream's ws:// or wss:// URL. Its path is a prefix: a client's
  /// request for /a?x=1 through ws://up:9000/base?k=v goes to
  /// ws://up:9000/base/a?k=v&x=1 (upstream_url()).
  std::string upstream;
  /// Settings of every upstream connection (connect and handshake timeouts,
  /// limits, TLS). Its subprotocols and headers are replaced per client: the
  /// client's offer is forwarded, with its Origin, Authorization and Cookie
  /// headers and an X-Forwarded-For naming it.
  client_config upstream_client;
  /// Backpressure bound: when the bytes waiting to be written to one side go
  /// over it, the relay stops reading the other side until they are written.
  std::size_t high_water = std::size_t{1} << 20;
};

/// Counters of a relay (monotonic, except `active`).
struct relay_stats {
  std::uint64_t pairs = 0;            ///< clients relayed (server sessions opened)
  std::size_t active = 0;             ///< pairs not yet ended on both sides
  std::uint64_t upstream_failed = 0;  ///< clients closed with 1014
  std::uint64_t to_upstream = 0;      ///< messages relayed client -> upstream
  std::uint64_t to_client = 0;        ///< messages relayed upstream -> client
  std::uint64_t dropped = 0;          ///< messages the other side no longer took (closing)
  std::uint64_t client_pauses = 0;    ///< times a client's reading was paused (upstream slow)
  std::uint64_t upstream_pauses = 0;  ///< times an upstream's reading was paused (client slow)
};

/// Relays every connection of a `server` to an upstream WebSocket server.
///
/// The relay takes over the server's on_open, on_message, on_close, on_drain
/// and on_select_subprotocol callbacks (on_connect stays the application's).
/// Construct it before `server::listen()`; it must outlive the server's
/// sessions (destroy the server first, or end them with shutdown()).
///
/// For each client that opens, it connects to the upstream (reading from the
/// client is paused until the upstream answers), then relays messages both
/// ways. A close frame from either side is passed on with its code and reason
/// exactly, by `close_relay` (every code valid on the wire; an empty close as
/// an empty close). An upstream that refuses, times out, answers other than
/// 101, breaks the protocol or ends without a close frame gets the client
/// closed with 1014 (Bad Gateway) and a reason that says which
/// (upstream_failure_reason()). A client that ends without a close frame
/// (1006) gets its upstream dropped the same way, so the upstream sees 1006.
///
/// The 101 to the client is sent before the upstream answered, so that an
/// upstream failure can reach every client (a browser sees no HTTP status) as
/// a close code: the client is answered with the first subprotocol it
/// offered, all of them are offered upstream, and if the upstream chooses
/// another (or none), both sides are closed: the client with 1014 "upstream
/// chose another subprotocol".
class relay {
 public:
  relay(boost::asio::io_context& ioc, server& srv, relay_config cfg);
  ~relay();
  relay(const relay&) = delete;
  relay& operator=(const relay&) = delete;

  /// Checks the configuration: error::invalid_url or error::unsupported_scheme
  /// for the upstream URL. A relay that is not valid refuses every client
  /// with 1014 "upstream URL invalid".
  std::error_code validate() const;

  /// Ends every upstream connection with 1001 (`reason`) and stops relaying
  /// closes to the clients: the caller ends those with server::shutdown()
  /// (1001 or 1012). `done` runs once, on an io_context thread, when every
  /// pair has ended on both sides (at once when none is open).
  void shutdown(std::string reason, std::function<void()> done);

  relay_stats stats() const noexcept;

 private:
  std::shared_ptr<detail::relay_impl> impl_;
};

/// The upstream URL for a client's request target: the upstream URL's path
/// as a prefix (a trailing '/' dropped) of the client's path, its query
/// followed by the client's. error::invalid_url / unsupported_scheme for a
/// bad upstream URL.
std::error_code upstream_url(std::string_view upstream, std::string_view request_target,
                             std::string& out);

/// The close reason a relay gives its client with 1014 when the upstream
/// failed before open: "upstream refused" (connection refused), "upstream
/// timeout" (connect or handshake), "upstream answered 503" (a status other
/// than 101; `status` is that status), "upstream not resolved" (DNS), "upstream
/// TLS verification failed", else "upstream unreachable: <error message>".
std::string upstream_failure_reason(std::error_code why, unsigned status);

}  // namespace closewise::net

// closewise::net: a WebSocket server (RFC 6455 §4.2, §7).
#pragma once

#include <cstddef>
#include <cstdint>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <system_error>
#include <vector>

#include <boost/asio/io_context.hpp>

#include "closewise/close_event.hpp"
#include "closewise/net/endpoint_options.hpp"
#include "closewise/net/session.hpp"
#include "closewise/net/tls.hpp"
#include "closewise/proto/connection.hpp"
#include "closewise/proto/deflate.hpp"
#include "closewise/proto/handshake.hpp"

namespace closewise::net {

namespace detail {
class server_impl;
}

/// The answer to an upgrade request: accept (with a subprotocol) or refuse
/// with an HTTP status (RFC 6455 §4.2.2 step 4: e.g. 403, or 503 with Retry-After).
struct accept_decision {
  bool accept = true;
  std::string subprotocol;  ///< must be one the client offered, or empty
  unsigned status = 0;      ///< refusal status (400-599)
  proto::http_headers headers;
  std::string body;

  static accept_decision accepted(std::string subprotocol = {}) {
    accept_decision d;
    d.subprotocol = std::move(subprotocol);
    return d;
  }
  static accept_decision refused(unsigned status, proto::http_headers headers = {},
                                 std::string body = {}) {
    accept_decision d;
    d.accept = false;
    d.status = status;
    d.headers = std::move(headers);
    d.body = std::move(body);
    return d;
  }
};

/// Settings of a server.
struct server_config : connection_options {
  /// permessage-deflate parameters the server accepts (RFC 7692); off by default.
  proto::deflate_options deflate;
  /// wss: certificate and key. Without it the server speaks plain ws.
  std::optional<tls_server_options> tls;
  /// Keep the upgrade request's headers in session::request(). Off saves
  /// about half a kilobyte per connection.
  bool keep_request_headers = true;
  /// A session whose write queue goes over `max_buffered` (a peer that does
  /// not read) is closed with 1008 "slow consumer"; if the close handshake then
  /// does not finish within close_timeout it is aborted, error::slow_consumer.
  bool close_slow_consumers = true;
  /// listen() backlog.
  int backlog = 1024;
};

/// Accepts WebSocket connections on one address and port.
///
/// Set the callbacks before `listen()`. They run on each session's executor;
/// callbacks of one session never run concurrently. The server closes TCP
/// first after a close handshake (RFC 6455 §7.1.1), so TIME_WAIT stays on the
/// server and the client can reconnect at once.
///
/// Every connection that opens yields exactly one `on_open` and then exactly
/// one `on_close`. Connections refused during the handshake (bad request:
/// 400/426; `on_connect` refusal; handshake timeout) yield no session events.
/// Destroying the server stops accepting, stops all callbacks and aborts every
/// session.
class server {
 public:
  explicit server(boost::asio::io_context& ioc, server_config cfg = {});
  ~server();
  server(const server&) = delete;
  server& operator=(const server&) = delete;

  /// Decides on each valid upgrade request. Default: accept, no subprotocol.
  void on_connect(std::function<accept_decision(const proto::upgrade_request&)> f);
  void on_open(std::function<void(session&)> f);
  /// A complete message; the view is valid during the call only.
  void on_message(std::function<void(session&, proto::message_kind, std::string_view)> f);
  void on_close(std::function<void(session&, const close_event&)> f);

  /// Binds and starts accepting. `port` 0 picks a free port; read it with port().
  /// `address` is an IPv4 or IPv6 literal ("127.0.0.1", "::", "0.0.0.0").
  std::error_code listen(std::string_view address, std::uint16_t port);
  /// The bound port (0 before listen()).
  std::uint16_t port() const noexcept;
  /// Stops accepting new connections; open sessions carry on.
  void stop_accepting();

  /// Open sessions (accepted and not yet closed), in accept order.
  std::vector<std::shared_ptr<session>> sessions() const;
  std::size_t session_count() const noexcept;

 private:
  std::shared_ptr<detail::server_impl> impl_;
};

}  // namespace closewise::net

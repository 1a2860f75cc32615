// closewise::net: one accepted WebSocket connection on a server.
#pragma once

#include <cstddef>
#include <cstdint>
#include <memory>
#include <string>
#include <string_view>
#include <system_error>

#include <boost/asio/ip/tcp.hpp>

#include "closewise/close_code.hpp"
#include "closewise/net/endpoint_options.hpp"
#include "closewise/proto/connection.hpp"
#include "closewise/proto/handshake.hpp"

namespace closewise::net {

namespace detail {
class session_impl;
}

/// A server-side connection, from the 101 answer to the end.
///
/// The server's callbacks receive a `session&` that is valid during the call;
/// keep `shared()` to use it later. Every method may be called from any
/// thread. After the connection ended, sends return error::not_open or
/// error::already_closing and nothing is queued.
class session {
 public:
  session(const session&) = delete;
  session& operator=(const session&) = delete;

  /// A number unique within the server, increasing in accept order.
  std::uint64_t id() const noexcept;
  /// An owning handle to this session.
  std::shared_ptr<session> shared();

  /// Queues a text message; error::not_open, error::already_closing, or
  /// error::queue_full over `max_buffered` (a server then also closes with
  /// 1008 "slow consumer" when `close_slow_consumers` is set).
  [[nodiscard]] std::error_code send_text(std::string_view text);
  [[nodiscard]] std::error_code send_binary(std::string_view data);
  [[nodiscard]] std::error_code send(proto::message_kind kind, std::string_view payload);
  /// The same for a string the caller gives up (`send_text(std::move(s))`):
  /// with resume the replay buffer keeps this very string, where a view is
  /// copied into it. On error `payload` is untouched; on success it may be
  /// moved from.
  template <owned_string S>
  [[nodiscard]] std::error_code send(proto::message_kind kind, S&& payload) {
    return send_owned(kind, payload);
  }
  template <owned_string S>
  [[nodiscard]] std::error_code send_text(S&& text) {
    return send_owned(proto::message_kind::text, text);
  }
  template <owned_string S>
  [[nodiscard]] std::error_code send_binary(S&& data) {
    return send_owned(proto::message_kind::binary, data);
  }
  /// A ping with up to 125 bytes (RFC 6455 §5.5.2).
  [[nodiscard]] std::error_code ping(std::string_view payload = {});
  /// Starts the close handshake with an application code (1000, 3000-4999).
  [[nodiscard]] std::error_code close(close_code code = close_code::normal,
                                      std::string_view reason = {});
  /// Starts the close handshake with any code an endpoint may send
  /// (1000-1003, 1007-1014, 3000-4999): shutdown 1001, policy 1008, 1012, 1013...
  [[nodiscard]] std::error_code close_endpoint(close_code code, std::string_view reason = {});
  /// Passes on a close received from the other side of a gateway: any code
  /// valid on the wire, or 1005 with no reason for an empty close frame
  /// (validate_relay_close; net/relay.hpp).
  [[nodiscard]] std::error_code close_relay(close_code code, std::string_view reason = {});
  /// Drops the connection without a close handshake (1006, error::aborted).
  void abort();
  /// Flow control, as client::pause_reading(): while paused, nothing is read
  /// from this peer, so TCP pushes back on it; writes, pings and timers run
  /// on, and a close handshake in progress still reads. With the server's idle
  /// heartbeat, a paused session pings on but is not dropped as dead.
  void pause_reading();
  void resume_reading();

  /// Bytes queued but not yet written to the socket.
  std::size_t buffered_amount() const noexcept;
  /// The protocol state as last seen on the connection's executor.
  proto::state state() const noexcept;
  /// The upgrade request. Its headers are kept only when
  /// `server_config::keep_request_headers` is set; method, target and the
  /// offered subprotocols always are.
  const proto::upgrade_request& request() const noexcept;
  /// The subprotocol accepted for this connection (empty: none).
  const std::string& subprotocol() const noexcept;
  const boost::asio::ip::tcp::endpoint& remote_endpoint() const noexcept;

 protected:
  session() = default;
  ~session() = default;

 private:
  /// The owning sends: `payload` is moved from only when it was taken.
  std::error_code send_owned(proto::message_kind kind, std::string& payload);
  detail::session_impl& impl() noexcept;
  const detail::session_impl& impl() const noexcept;
};

}  // namespace closewise::net

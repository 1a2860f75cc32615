// closewise::net: a WebSocket client for one connection (RFC 6455 §4.1, §7).
#pragma once

#include <chrono>
#include <cstddef>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <system_error>
#include <vector>

#include <boost/asio/io_context.hpp>

#include "closewise/close_code.hpp"
#include "closewise/close_event.hpp"
#include "closewise/metrics/observer.hpp"
#include "closewise/net/endpoint_options.hpp"
#include "closewise/net/heartbeat.hpp"
#include "closewise/net/tls.hpp"
#include "closewise/proto/connection.hpp"
#include "closewise/proto/deflate.hpp"
#include "closewise/proto/handshake.hpp"

namespace closewise::resume {
struct client_outcome;
}

namespace closewise::net {

namespace detail {
class client_impl;
}
class client_resume;

/// Settings of a client connection.
struct client_config : connection_options {
  /// DNS resolution and the TCP connect together must finish within this.
  std::chrono::milliseconds connect_timeout{10000};
  /// RFC 6455 §7.1.1: after the close handshake the server should close TCP
  /// first; the client waits this long for it, then closes TCP itself.
  std::chrono::milliseconds close_linger{1000};
  /// Sec-WebSocket-Protocol values offered, in order of preference.
  std::vector<std::string> subprotocols;
  /// The Origin header, if any (browsers always send one).
  std::optional<std::string> origin;
  /// More request headers (for example Authorization).
  proto::http_headers extra_headers;
  /// permessage-deflate offer (RFC 7692); off by default.
  proto::deflate_options deflate;
  /// wss:// settings.
  tls_client_options tls;
  /// Dead-peer detection (ARCHITECTURE §4): after `interval` of inbound
  /// silence the client pings; after interval + grace it drops the connection
  /// without a close handshake and reports 1006, error::heartbeat_timeout. Any
  /// inbound frame counts as life, a server's ping included. Off by default
  /// (interval 0); a reconnecting_client turns it on for its connections.
  heartbeat_config heartbeat{std::chrono::milliseconds(0)};
  /// Randomness in [0, 1) for the jitter of the heartbeat's first ping (null:
  /// a per-thread PRNG). Called once per connection, on its executor.
  std::function<double()> uniform;
  /// Opt-in resumable session (docs/resume.md): the connection offers it and,
  /// when the server accepts, numbers, acknowledges and replays messages. One
  /// object outlives the connections of one logical client. Null: plain.
  std::shared_ptr<client_resume> resume;
  /// Metrics (docs/metrics.md): this connection's open, close, failure before
  /// open, refusal status and messages handed back. Null (the default) costs
  /// one pointer test per connection event.
  std::shared_ptr<metrics::observer> observer;
};

/// What the server agreed to in its 101 answer.
struct open_info {
  std::string subprotocol;  ///< empty: none
  std::optional<proto::deflate_params> deflate;
  proto::http_headers response_headers;
};

/// One WebSocket connection from the client side.
///
/// A `client` makes exactly one connection attempt: `connect()` once, then
/// events. A reconnecting client owns a sequence of them. Set the callbacks
/// before `connect()`; they run on the connection's executor (a strand of the
/// io_context unless `use_strand` is false), never concurrently with each other.
///
/// Events, in order: a connection that opens yields exactly one `on_open`, any
/// number of `on_message`, then exactly one `on_close`. An attempt that fails
/// before opening yields `on_refused` (only when the server answered with an
/// HTTP status other than 101), then `on_error` with the cause, then `on_close`
/// with 1006 (1015 for a TLS failure), initiator none and the same error.
///
/// `send_text`, `send_binary`, `ping`, `probe`, `close`, `pause_reading` and
/// `resume_reading` may be called from any thread. Every message a send
/// accepted is written to the socket, in the order send() accepted them, or
/// handed back through `on_undelivered` (before `on_close`) when a close won
/// the race from another thread.
/// Destroying the client stops all callbacks at once; an open connection is
/// then closed with 1001 in the background, an attempt in progress is
/// cancelled, and a close handshake in progress finishes on its own. The
/// io_context may outlive or be destroyed before it.
class client {
 public:
  using message_handler = std::function<void(proto::message_kind, std::string_view)>;

  explicit client(boost::asio::io_context& ioc, client_config cfg = {});
  ~client();
  client(client&&) noexcept;
  client& operator=(client&&) noexcept;
  client(const client&) = delete;
  client& operator=(const client&) = delete;

  /// The opening handshake succeeded.
  void on_open(std::function<void(const open_info&)> f);
  /// A complete text or binary message; the view is valid during the call only.
  void on_message(message_handler f);
  /// A pong arrived (RFC 6455 §5.5.3), solicited or not.
  void on_pong(std::function<void(std::string_view)> f);
  /// A ping arrived (RFC 6455 §5.5.2); the pong is already queued (auto_pong).
  void on_ping(std::function<void(std::string_view)> f);
  /// The connection ended; called exactly once for every connect() that was accepted.
  void on_close(std::function<void(const close_event&)> f);
  /// The attempt failed before opening (dns_failure, connection_refused,
  /// connection_reset, connect_timeout, handshake_timeout, tls_verify_failed,
  /// tls_error, bad_status, ...), or, when no `on_undelivered` handler is set,
  /// a message sent from another thread was lost to a close that raced it
  /// (error::not_sent).
  void on_error(std::function<void(std::error_code)> f);
  /// A message that send() accepted from another thread, handed back because
  /// a close reached the connection first: its kind, its payload (valid during
  /// the call only) and why it was refused there (error::already_closing,
  /// error::not_open, error::queue_full). Always before `on_close`, so when
  /// `on_close` runs, every accepted message was written or handed back.
  /// Whatever the threads, messages are written in the order send() accepted
  /// them (a send on the connection's executor waits behind sends from other
  /// threads still on their way, and can be handed back the same way).
  void on_undelivered(
      std::function<void(proto::message_kind, std::string_view, std::error_code)> f);
  /// closewise's write buffer (not the kernel's) became empty after holding
  /// bytes of messages or pings this client accepted: everything sent so far
  /// is in the kernel's hands. Once per emptying, on the connection's
  /// executor; a gateway uses it to resume reading from the other side, a
  /// queue to hand over its next batch. Set it before connect().
  void on_drain(std::function<void()> f);
  /// The server answered the upgrade with a status other than 101: status,
  /// headers (Retry-After) and a bounded body, for the reconnect policy.
  /// With `client_config::resume`: the outcome of the negotiation, right
  /// after the 101 and before on_open (docs/resume.md §2.4). The handler may
  /// move `handed_back` out: those messages are the application's again.
  void on_resume(std::function<void(resume::client_outcome&)> f);
  void on_refused(std::function<void(const proto::handshake_failure&)> f);

  /// Starts connecting to a ws:// or wss:// URL. Returns error::invalid_url or
  /// error::unsupported_scheme for a bad URL (no events follow), and
  /// error::connect_in_progress when called a second time.
  [[nodiscard]] std::error_code connect(std::string_view url);

  /// Queues a text message (RFC 6455 §5.6); it must be valid UTF-8, which the
  /// caller guarantees. error::not_open before open, error::already_closing
  /// after a close frame was sent, error::queue_full over `max_buffered`.
  [[nodiscard]] std::error_code send_text(std::string_view text);
  /// Queues a binary message; errors as send_text.
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
  /// With resume: acks at once what has arrived so far. Acks are otherwise
  /// coalesced by count, bytes and time (docs/resume.md §5.2). Any thread; a
  /// no-op without a resumed session or with nothing to ack.
  void ack_now();
  /// Sends a ping with up to 125 bytes (RFC 6455 §5.5.2).
  [[nodiscard]] std::error_code ping(std::string_view payload = {});
  /// Checks now that the peer is alive, for when the caller has reason to
  /// doubt it (the network changed): sends a ping with `payload` and, with a
  /// `heartbeat` configured, drops the connection (1006,
  /// error::heartbeat_timeout) unless a frame arrives within its grace,
  /// however recent the last one was. error::not_open unless open,
  /// error::invalid_argument over 125 bytes.
  [[nodiscard]] std::error_code probe(std::string_view payload = {});
  /// Starts the close handshake (RFC 6455 §7.1.2) with 1000 or 3000-4999 and a
  /// reason of at most 123 bytes of UTF-8; anything else is refused with an
  /// error and nothing is sent. Before open it cancels the attempt: on_error
  /// and on_close report 1006 with error::aborted and initiator local.
  [[nodiscard]] std::error_code close(close_code code = close_code::normal,
                                      std::string_view reason = {});
  /// Starts the close handshake for a gateway passing on a close it received
  /// from the other side (net/relay.hpp): any code valid on the wire (1000-1003,
  /// 1007-1014, 3000-4999), or 1005 with no reason for a close frame without a
  /// body, with a reason of at most 123 bytes of UTF-8 (validate_relay_close).
  /// Otherwise as close().
  [[nodiscard]] std::error_code close_relay(close_code code, std::string_view reason = {});
  /// Drops the connection without a close handshake: on_close reports 1006,
  /// was_clean=false, error::aborted.
  void abort();

  /// Flow control for a gateway relaying between two connections: while
  /// paused, no bytes are read from the socket, so TCP pushes back on the
  /// peer. A read already in flight when the pause takes effect keeps its
  /// bytes (at most 64 over plain TCP; over TLS none: OpenSSL keeps undecrypted records) until
  /// resume_reading(); nothing is delivered meanwhile. The pause holds while the connection is
  /// open: once a close frame went either way, reading goes on so the close handshake finishes
  /// within close_timeout (messages the peer sent before its close frame are then delivered).
  /// Writes, pings and the close timer run as usual. A heartbeat keeps pinging but reports no dead
  /// peer while paused (the silence is ours); the peer's silence counts again from the resume.
  /// Before open the upgrade still reads; the pause applies from open on.
  void pause_reading();
  void resume_reading();

  /// Like the browser's bufferedAmount: bytes queued but not yet written to
  /// the socket (frame headers included). Any thread.
  std::size_t buffered_amount() const noexcept;
  /// The protocol state as last seen on the connection's executor. Any thread.
  proto::state state() const noexcept;

 private:
  /// The owning sends: `payload` is moved from only when it was taken.
  std::error_code send_owned(proto::message_kind kind, std::string& payload);
  std::shared_ptr<detail::client_impl> impl_;
};

}  // namespace closewise::net

// closewise::proto: the sans-I/O WebSocket connection (RFC 6455 §5-§7).
//
// Bytes in, hook calls and bytes out. No sockets, timers, threads or clocks:
// the network layer feeds `receive()`, writes what `swap_output()` hands it,
// and turns its own timers into `on_close_timeout()` / `abort()`.
#pragma once

#include <cstddef>
#include <cstdint>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <system_error>

#include "closewise/close_code.hpp"
#include "closewise/close_event.hpp"
#include "closewise/proto/deflate.hpp"
#include "closewise/proto/frame.hpp"
#include "closewise/utf8.hpp"

namespace closewise::proto {

/// The connection's life, with the close states named by who started closing.
enum class state : std::uint8_t {
  connecting,      ///< the opening handshake has not finished
  open,            ///< data flows both ways
  closing_local,   ///< we sent a close frame and wait for the peer's
  closing_remote,  ///< the peer sent a close frame; we echoed it
  closed,          ///< close frames went both ways, or the connection failed
};

std::string_view to_string(state s) noexcept;

/// The kind of a data message.
enum class message_kind : std::uint8_t { text, binary };

/// Limits and options for one connection.
struct config {
  /// Largest message accepted, counted after decompression (RFC 6455 §10.4): 1009 above it.
  std::size_t max_message = std::size_t{16} << 20;
  /// Largest single frame payload accepted: 1009 above it.
  std::size_t max_frame = std::size_t{16} << 20;
  /// Answer pings with a pong carrying the same payload (RFC 6455 §5.5.2).
  bool auto_pong = true;
  /// permessage-deflate parameters, when the handshake negotiated it (RFC 7692).
  std::optional<deflate_params> deflate;
  /// Source of client masking keys; default: a fast PRNG seeded from std::random_device.
  /// Tests inject a fixed key to compare frames byte for byte.
  std::function<std::uint32_t()> mask_key;
};

/// Hooks the connection calls from inside `receive()` and the close paths.
///
/// Views passed to hooks are valid only during the call.
class handler {
 public:
  virtual ~handler() = default;
  /// A complete, validated (and inflated) data message.
  virtual void on_message(message_kind kind, std::string_view payload) = 0;
  virtual void on_ping(std::string_view /*payload*/) {}
  virtual void on_pong(std::string_view /*payload*/) {}
  /// The peer's close frame arrived (already validated; 1005 when it had no code).
  virtual void on_close_frame(close_code /*code*/, std::string_view /*reason*/) {}
  /// The connection reached `state::closed`. Called exactly once.
  ///
  /// When both close frames were exchanged, `ev.was_clean` is true; the network
  /// layer still owns the TCP teardown (the server closes TCP first, §7.1.1).
  virtual void on_closed(const close_event& ev) = 0;
};

/// One WebSocket connection's protocol state, for either role.
class connection {
 public:
  /// Starts in `state::connecting`. The opening handshake is done by
  /// proto/handshake.hpp; the negotiated deflate parameters go in `cfg`.
  connection(role r, handler& h, config cfg = {});
  ~connection();
  connection(const connection&) = delete;
  connection& operator=(const connection&) = delete;

  role get_role() const noexcept;
  state get_state() const noexcept;
  /// Data and pings may still be sent (state open, or closing_remote before our echo).
  bool can_send() const noexcept;
  /// Frames from the peer are still processed.
  bool can_receive() const noexcept;

  /// The opening handshake succeeded: connecting -> open.
  void open() noexcept;

  // ---- input -------------------------------------------------------------
  /// Feeds bytes from the peer. May call hooks and queue output (pongs, close
  /// echo, or a close with 1002/1007/1009 when the peer breaks the protocol).
  void receive(const void* data, std::size_t size);
  void receive(std::string_view bytes) { receive(bytes.data(), bytes.size()); }
  /// The byte stream ended. Without a close handshake this reports 1006,
  /// was_clean=false, error::eof_without_close.
  void receive_eof();
  /// The close handshake timed out: report 1006, was_clean=false, error::close_timeout.
  void on_close_timeout();
  /// The transport failed or the connection is given up (reset, heartbeat,
  /// shutdown deadline): report 1006 (or 1015 for TLS) with `why`, was_clean=false.
  void abort(std::error_code why, close_code reported = close_code::abnormal);

  // ---- output ------------------------------------------------------------
  /// Queues a data message as one frame (compressed when deflate is on).
  /// error::not_open / error::already_closing once a close frame was sent.
  std::error_code send(message_kind kind, std::string_view payload);
  std::error_code send_text(std::string_view s) { return send(message_kind::text, s); }
  std::error_code send_binary(std::string_view s) { return send(message_kind::binary, s); }
  /// A ping with up to 125 bytes of payload.
  std::error_code ping(std::string_view payload = {});
  std::error_code pong(std::string_view payload = {});
  /// Starts the close handshake from the application: 1000 and 3000-4999 only,
  /// with a valid reason of at most 123 bytes (never truncated).
  std::error_code close(close_code code, std::string_view reason = {});
  /// Starts the close handshake from an endpoint path that may also send
  /// 1001-1003 and 1007-1014 (server shutdown, load shedding, policy hooks).
  std::error_code close_endpoint(close_code code, std::string_view reason = {});

  /// Hands the bytes waiting to be written to the caller by swapping buffers;
  /// `buf` should be empty on entry (its capacity is reused).
  void swap_output(std::string& buf) noexcept;
  /// Bytes waiting in the output buffer.
  std::size_t output_size() const noexcept;

  /// The event reported through `handler::on_closed`, once closed.
  const std::optional<close_event>& result() const noexcept;

 private:
  struct impl;
  std::unique_ptr<impl> impl_;
};

}  // namespace closewise::proto

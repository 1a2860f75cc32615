// closewise::proto: the sans-I/O WebSocket connection (RFC 6455 §5-§7).
//
// Bytes in, hook calls and bytes out. No sockets, timers, threads or clocks:
// the network layer feeds `receive()`, writes what `swap_output()` hands it,
// and turns its own timers into `on_close_timeout()` / `abort()`.
//
// The close handshake (RFC 6455 §5.5.1, §7; ARCHITECTURE §2):
// - `close()` sends a close frame: open -> closing_local. When the peer's close
//   arrives: -> closed, {received code, reason, was_clean=true, initiator=local}.
// - A received close in `open`: -> closing_remote, `on_close_frame` runs (the
//   application may still send data there, RFC 6455 §5.5.1 allows finishing a
//   message), then the echo is queued: -> closed, {received code, reason,
//   was_clean=true, initiator=remote}. The echo carries the same code and no
//   reason; an empty close (reported as 1005) is echoed as an empty close.
// - Simultaneous close: both sides sent a close before seeing the other's;
//   each ends clean with initiator=local.
// - A protocol failure by the peer queues a close frame with 1002/1007/1009
//   (unless one was already sent) and goes to closed at once with
//   {code sent, reason sent, was_clean=false, initiator=local, error=why}.
//   Later input is ignored.
// - EOF, a close timeout or `abort()` before closed: 1006, was_clean=false,
//   initiator = who sent the first close frame (none when nobody did).
#pragma once

#include <cstddef>
#include <cstdint>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <system_error>
#include <utility>

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
  /// Refuse to send text that is not UTF-8 (the peer would fail us with 1007).
  /// An echo server that relays validated input may turn it off.
  bool check_outgoing_utf8 = true;
  /// Data types this endpoint takes. A message of a refused type fails the
  /// connection with 1003 at its first frame header, before any payload is
  /// buffered (RFC 6455 §7.4.1: 1003 "indicates that an endpoint is terminating
  /// the connection because it has received a type of data it cannot accept").
  bool accept_text = true;
  bool accept_binary = true;  ///< see accept_text
  /// permessage-deflate parameters, when the handshake negotiated it (RFC 7692).
  std::optional<deflate_params> deflate;
  /// Messages shorter than this are sent uncompressed even with deflate on
  /// (RFC 7692 §6: compression is per message; tiny payloads only grow).
  std::size_t deflate_min_size = 64;
  /// Source of client masking keys (RFC 6455 §5.3: unpredictable). Default:
  /// batches of keys from OpenSSL's CSPRNG, so the per-frame cost is a load.
  /// Tests inject a fixed key to compare frames byte for byte.
  std::function<std::uint32_t()> mask_key;
  /// Reserved control opcodes (0xB-0xF) that a negotiated extension defines:
  /// bit N set lets opcode N through to `handler::on_extension_control` and
  /// `connection::send_extension_control`. Other bits are ignored. RFC 6455
  /// §5.2: "%xB-F are reserved for further control frames"; §5.8: "reserved
  /// opcode values can be defined" by extensions. Without a bit the opcode
  /// still fails the connection with 1002.
  std::uint16_t extension_control_opcodes = 0;
};

/// Hooks the connection calls from inside `receive()` and the close paths.
///
/// Views passed to hooks are valid only during the call. Hooks may call the
/// connection's output functions (send, ping, close, abort); they must not call
/// `receive()` or destroy the connection.
class handler {
 public:
  virtual ~handler() = default;
  /// A complete, validated (and inflated) data message.
  virtual void on_message(message_kind kind, std::string_view payload) = 0;
  virtual void on_ping(std::string_view /*payload*/) {}
  virtual void on_pong(std::string_view /*payload*/) {}
  /// A control frame with an opcode from `config::extension_control_opcodes`
  /// (already unmasked, at most 125 bytes, never fragmented: RFC 6455 §5.5).
  virtual void on_extension_control(std::uint8_t /*opcode*/, std::string_view /*payload*/) {}
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
  /// Only a partial frame at the end is copied; complete unfragmented frames
  /// reach `on_message` without a copy when unmasked (client role). Feeding
  /// before `open()` is misuse: it fails the connection with 1006/error::not_open.
  void receive(const void* data, std::size_t size);
  void receive(std::string_view bytes) { receive(bytes.data(), bytes.size()); }
  /// Like `receive()`, but may unmask the bytes in place (they are clobbered),
  /// so masked frames (server role) also reach `on_message` without a copy.
  void receive_in_place(void* data, std::size_t size);
  /// The byte stream ended. Without a close handshake this reports 1006,
  /// was_clean=false, error::eof_without_close.
  void receive_eof();
  /// The close handshake timed out: report 1006, was_clean=false, error::close_timeout.
  void on_close_timeout();
  /// The transport failed or the connection is given up (reset, heartbeat,
  /// shutdown deadline): report 1006 (or 1015 for TLS) with `why`, was_clean=false.
  void abort(std::error_code why, close_code reported = close_code::abnormal);

  // ---- output ------------------------------------------------------------
  /// Queues a data message as one frame (compressed when deflate is on), built
  /// straight into the output buffer. Errors: not_open (before open, or after a
  /// failure without a close frame), already_closing (a close frame was sent:
  /// RFC 6455 §5.5.1), invalid_utf8 (text that is not UTF-8, when
  /// `config::check_outgoing_utf8`).
  [[nodiscard]] std::error_code send(message_kind kind, std::string_view payload);
  [[nodiscard]] std::error_code send_text(std::string_view s) {
    return send(message_kind::text, s);
  }
  [[nodiscard]] std::error_code send_binary(std::string_view s) {
    return send(message_kind::binary, s);
  }
  /// A ping with up to 125 bytes of payload (RFC 6455 §5.5.2); more is
  /// error::invalid_argument. Same state rules as `send`.
  [[nodiscard]] std::error_code ping(std::string_view payload = {});
  /// An unsolicited pong, e.g. a unidirectional heartbeat (RFC 6455 §5.5.3).
  [[nodiscard]] std::error_code pong(std::string_view payload = {});
  /// A control frame of a negotiated extension: `opcode` must be one of
  /// `config::extension_control_opcodes` and the payload at most 125 bytes
  /// (error::invalid_argument otherwise). Same state rules as `ping`.
  [[nodiscard]] std::error_code send_extension_control(std::uint8_t opcode,
                                                       std::string_view payload);
  /// Starts the close handshake from the application: 1000 and 3000-4999 only,
  /// with a valid reason of at most 123 bytes (never truncated). Errors:
  /// close_code_not_sendable, close_reason_too_long, close_reason_not_utf8,
  /// not_open (before open), already_closing (a close frame was already sent
  /// or is being echoed).
  [[nodiscard]] std::error_code close(close_code code, std::string_view reason = {});
  /// Starts the close handshake from an endpoint path that may also send
  /// 1001-1003 and 1007-1014 (server shutdown, load shedding, policy hooks).
  [[nodiscard]] std::error_code close_endpoint(close_code code, std::string_view reason = {});
  /// Starts the close handshake for a relay passing on a close it received:
  /// any code valid on the wire, or 1005 for a close frame without a body
  /// (validate_relay_close).
  [[nodiscard]] std::error_code close_relay(close_code code, std::string_view reason = {});

  /// Hands the bytes waiting to be written to the caller by swapping buffers;
  /// `buf` should be empty on entry (its capacity is reused).
  void swap_output(std::string& buf) noexcept;
  /// Bytes waiting in the output buffer.
  std::size_t output_size() const noexcept;

  /// The event reported through `handler::on_closed`, once closed.
  const std::optional<close_event>& result() const noexcept;

  // ---- zero-copy paths for large payloads (the I/O layer) -----------------
  /// Sends a data message whose payload the caller transmits itself, so a
  /// large payload is never copied into the output buffer. Checks exactly
  /// what send() checks and writes the frame header to `header`. The caller
  /// must put on the wire, in this order: the output_size() bytes already
  /// queued, the header, the payload. Server role without permessage-deflate
  /// only (a client masks, a compressor transforms): error::invalid_argument
  /// otherwise.
  [[nodiscard]] std::error_code send_external(message_kind kind, std::string_view payload,
                                              std::uint8_t (&header)[max_header_size],
                                              std::size_t& header_size);
  /// While the payload of an uncompressed data frame is arriving and at least
  /// `min_size` bytes of it are still due: where the next payload bytes may be
  /// read to directly, and how many (at most what the frame still owes).
  /// {nullptr, 0} otherwise. The bytes must be the next bytes of the stream.
  [[nodiscard]] std::pair<char*, std::size_t> receive_window(std::size_t min_size);
  /// `n` bytes (1..window size) were written into the receive window;
  /// processes them as receive() would.
  void commit_window(std::size_t n);
  /// The payload length of the frame whose payload is arriving; 0 between frames.
  std::uint64_t frame_payload_size() const noexcept;
  /// Zero-copy forwarding (docs/design-notes.md): only inside
  /// handler::on_message, and only when `payload` is the message being
  /// delivered and the connection assembled it in its own buffer (a large or
  /// fragmented one; never an inflated one, nor one delivered in place from
  /// the bytes given to receive()). Then swaps that buffer with `buf` and
  /// returns true: `buf` holds exactly the payload, at the same address, so
  /// `payload` stays valid for as long as `buf` keeps it; the connection
  /// receives into what `buf` held before (stale bytes, overwritten). At most
  /// once per message. Otherwise returns false and changes nothing.
  [[nodiscard]] bool take_delivered(std::string_view payload, std::string& buf) noexcept;

 private:
  struct impl;
  /// The state lives inside the object rather than in an allocation of its
  /// own: a server holds one connection per client (ARCHITECTURE §6). The
  /// definition of `impl` checks that it fits.
  static constexpr std::size_t impl_size = 192;
  alignas(8) unsigned char storage_[impl_size];
  impl* self() noexcept;
  const impl* self() const noexcept;
};

}  // namespace closewise::proto

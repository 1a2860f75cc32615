// closewise::net (private): the transport's lifecycle, sans-I/O, beside proto::connection.
//
// proto::connection decides the WebSocket close handshake; this class decides
// everything around it that touches the transport: when the connect and
// handshake timers run, when a failed attempt ends, and the TCP and TLS
// teardown after the close frames (RFC 6455 §7.1.1: the server closes TCP
// first; §7.1.7: a failing endpoint half-closes and drains what the peer still
// sends; RFC 8446 §6.1: close_notify). It takes inputs (bytes written, EOF,
// error, timer fired, TLS shutdown done, the protocol's state) and returns the
// actions the I/O driver must carry out, in order. Nothing else in src/net
// decides a teardown step: `grep -n "decide" src/net/transport_lifecycle.cpp`
// lists every decision.
//
// States (client and server; only the server refuses, only the client connects):
//
//   idle -> connecting -> [tls_handshake ->] upgrading -> open -> draining -> done
//           (client)                          |                    |
//   idle (server accept) -> [tls_handshake ->] upgrading           +-> half_closed -> done
//                                             +-> refusing -> done +-> lingering -> done
//                                                                  |        \-> tls_shutdown
//                                                                  (client |            reply) ->
//                                                                  awaiting_fin -> done
//                                                                  +-> tls_shutdown (server) ->
//                                                                  done
//
// Any state before open ends in `done` with a `fail` action (the attempt is
// reported, or, for a server, silently dropped); any state from open on ends
// with `close_socket` followed by `report`.
#pragma once

#include <array>
#include <chrono>
#include <cstddef>
#include <cstdint>
#include <string_view>
#include <system_error>

#include "closewise/close_event.hpp"
#include "closewise/error.hpp"
#include "closewise/proto/connection.hpp"
#include "closewise/proto/frame.hpp"

namespace closewise::net::detail {

/// Where a connection's transport is in its life.
enum class transport_state : std::uint8_t {
  idle,           ///< nothing started
  connecting,     ///< client: resolving and connecting TCP
  tls_handshake,  ///< the TLS handshake runs
  upgrading,      ///< the HTTP upgrade runs (request and response)
  refusing,       ///< server: an HTTP refusal is written; reading on until the client's EOF
  open,           ///< the protocol connection runs: data and the close handshake
  draining,       ///< the protocol closed; writing what is left
  half_closed,    ///< we failed the connection: FIN sent, discarding input until EOF
  lingering,      ///< client: clean close done, waiting for the server to close TCP first
  tls_shutdown,   ///< our close_notify is out; waiting for the peer's
  awaiting_fin,   ///< client: TLS shutdown done, waiting for the server's FIN
  done,           ///< socket closed, the end reported
};

std::string_view to_string(transport_state s) noexcept;

/// The jobs a connection times, one deadline each.
enum class timer_kind : std::uint8_t {
  connect,    ///< DNS and TCP connect (client)
  handshake,  ///< TLS and HTTP upgrade
  close,      ///< the peer's close frame must arrive (RFC 6455 §7.1.1 leaves it open-ended)
  drain,      ///< our last frames must leave
  linger,     ///< the peer's FIN or close_notify after the close exchange
  heartbeat,  ///< idle ping and dead-peer verdict (the driver's heartbeat)
};
inline constexpr std::size_t timer_kinds = 6;

std::string_view to_string(timer_kind k) noexcept;

/// The durations a lifecycle arms its timers with. One per client; one per
/// server, shared by its sessions.
struct transport_limits {
  std::chrono::milliseconds connect_timeout{10000};
  std::chrono::milliseconds handshake_timeout{10000};
  std::chrono::milliseconds close_timeout{5000};
  /// Client: how long it waits for the server to close TCP first. 0 for a server.
  std::chrono::milliseconds close_linger{0};
  /// Bytes that may wait to be written (connection_options::max_buffered). The
  /// lifecycle does not use it; the driver reads it from here, so a session
  /// keeps one pointer to its server's limits instead of two.
  std::size_t max_buffered = std::size_t{16} << 20;
};

/// One step the I/O driver must carry out.
struct transport_action {
  enum class op : std::uint8_t {
    protocol_eof,            ///< connection.receive_eof()
    protocol_abort,          ///< connection.abort(why)
    protocol_close_timeout,  ///< connection.on_close_timeout()
    stop_reading,            ///< cancel the pending read (the TLS shutdown reads the alert itself)
    shutdown_send,           ///< TCP half-close: our FIN follows the bytes already written
    tls_shutdown,            ///< send close_notify and read the peer's (async_shutdown)
    await_fin,               ///< wait until the raw socket turns readable (the peer's FIN)
    close_socket,            ///< close the socket
    arm,                     ///< start `timer`, to fire `after` from now
    disarm,                  ///< stop `timer`
    report,                  ///< the connection ended: report final_event(protocol result)
    fail,                    ///< the attempt ended before open: report (why, who)
  };
  op what;
  timer_kind timer = timer_kind::connect;
  initiator who = initiator::none;
  std::chrono::milliseconds after{0};
  std::error_code why{};

  friend bool operator==(const transport_action&, const transport_action&) = default;
};

std::string_view to_string(transport_action::op o) noexcept;

/// The actions of one input, in order. Fixed capacity: no allocation.
class transport_actions {
 public:
  static constexpr std::size_t capacity = 6;
  void push(transport_action a) noexcept;
  std::size_t size() const noexcept { return n_; }
  bool empty() const noexcept { return n_ == 0; }
  const transport_action& operator[](std::size_t i) const noexcept { return a_[i]; }
  const transport_action* begin() const noexcept { return a_.data(); }
  const transport_action* end() const noexcept { return a_.data() + n_; }

 private:
  std::array<transport_action, capacity> a_{};
  std::uint8_t n_ = 0;
};

/// The transport lifecycle of one connection. Pure: no sockets, timers or
/// clocks. Every input returns what to do; inputs that make no sense in the
/// current state (a late completion, a timer that raced its own disarm) are
/// ignored and return nothing.
class transport_lifecycle {
 public:
  /// `limits` must outlive the lifecycle.
  transport_lifecycle(proto::role role, const transport_limits& limits) noexcept
      : limits_(&limits), role_(role) {}

  transport_state state() const noexcept { return state_; }
  const transport_limits& limits() const noexcept { return *limits_; }
  proto::role role() const noexcept { return role_; }
  bool tls() const noexcept { return tls_; }
  /// Before open and not yet ended: close() and abort() cancel the attempt.
  bool before_open() const noexcept {
    return state_ != transport_state::idle && state_ < transport_state::open;
  }
  /// The transport wants a read pending (the driver adds its own reasons not to read).
  bool reads() const noexcept;
  /// Bytes read now go to the HTTP upgrade.
  bool upgrading() const noexcept { return state_ == transport_state::upgrading; }
  /// Writing makes sense: the transport did not fail and the socket is open.
  bool writes() const noexcept;
  /// Whether `timer` is armed.
  bool armed(timer_kind timer) const noexcept { return (armed_ >> static_cast<int>(timer)) & 1u; }

  // ---- before open -------------------------------------------------------------
  /// Client: connect() started.
  [[nodiscard]] transport_actions start_connect();
  /// Server: a connection was accepted; `tls`: a TLS handshake comes first.
  [[nodiscard]] transport_actions accepted(bool tls);
  /// Client: TCP is connected; `tls`: a TLS handshake comes first.
  [[nodiscard]] transport_actions connected(bool tls);
  [[nodiscard]] transport_actions tls_established();
  /// Server: the upgrade request is refused; the refusal is being written.
  [[nodiscard]] transport_actions refuse();
  /// Server: the refusal left.
  [[nodiscard]] transport_actions refusal_written();
  /// The upgrade failed (a bad response, a refusal status): the attempt ends.
  [[nodiscard]] transport_actions upgrade_failed(std::error_code why);
  /// The upgrade succeeded: the protocol connection runs from now on.
  [[nodiscard]] transport_actions opened();

  // ---- the protocol connection ------------------------------------------------
  /// What the protocol connection says after each turn (the driver calls it at
  /// the end of every handler): closing states arm the close timer once, the
  /// closed state starts the teardown.
  [[nodiscard]] transport_actions observe(proto::state s, const close_event* result);
  /// Draining: whether everything queued was written (`empty`) or not.
  [[nodiscard]] transport_actions output(bool empty);
  /// Server: the peer stopped reading and is being closed with 1008; the close
  /// and drain timers then report error::slow_consumer.
  void slow_consumer() noexcept { slow_ = true; }

  // ---- the transport ---------------------------------------------------------------
  [[nodiscard]] transport_actions eof();
  /// Any transport failure but EOF (reset, TLS error, a refused connect, DNS).
  [[nodiscard]] transport_actions transport_error(std::error_code why);
  [[nodiscard]] transport_actions timer_fired(timer_kind timer);
  /// The TLS shutdown (ours, or our answer to the peer's close_notify) completed.
  [[nodiscard]] transport_actions tls_shutdown_done(bool ok);
  /// Awaiting the FIN: the socket turned readable (the FIN, or bytes nobody reads).
  [[nodiscard]] transport_actions fin_arrived();

  // ---- the application -------------------------------------------------------------
  /// close() or abort() before open: the attempt ends, initiator local.
  [[nodiscard]] transport_actions cancel(std::error_code why);
  /// abort(), or the heartbeat's verdict, after open: no close handshake.
  [[nodiscard]] transport_actions abort(std::error_code why);

  /// The event to report once `report` was returned: the protocol's result
  /// (null: it had none, an abort before any close) with the teardown's
  /// verdict: a teardown that went wrong makes a clean close unclean.
  close_event final_event(const close_event* protocol_result) const;

 private:
  void arm(transport_actions& a, timer_kind t, std::chrono::milliseconds after);
  void disarm(transport_actions& a, timer_kind t);
  void end_before_open(transport_actions& a, std::error_code why, initiator who);
  void end(transport_actions& a);
  void unclean(std::error_code why) noexcept;
  void decide_teardown(transport_actions& a);

  // Packed: a server holds one lifecycle per connection (ARCHITECTURE §6).
  const transport_limits* limits_;
  proto::role role_;
  transport_state state_ = transport_state::idle;
  std::uint8_t armed_ = 0;  ///< one bit per timer_kind
  bool tls_ : 1 = false;
  bool failed_ : 1 = false;        ///< the transport failed: no more I/O, tear down at once
  bool slow_ : 1 = false;          ///< closing a slow consumer
  bool closing_ : 1 = false;       ///< the protocol left `open` (the heartbeat was stopped)
  bool clean_ : 1 = false;         ///< the protocol ended clean (close frames both ways)
  bool failed_by_us_ : 1 = false;  ///< the protocol failed the connection itself (1002, 1007, ...)
  std::uint16_t unclean_why_ =
      0;  ///< closewise::error: why the teardown went wrong (0: it did not)
};

}  // namespace closewise::net::detail

// closewise::metrics: what the library reports to a metrics backend.
#pragma once

#include <chrono>
#include <cstddef>
#include <cstdint>
#include <string_view>
#include <system_error>

#include "closewise/close_event.hpp"

namespace closewise::metrics {

/// Which side of a connection an event is about.
enum class role : std::uint8_t { client, server };

/// "client" or "server".
std::string_view to_string(role r) noexcept;

/// How a server turned a connection away at `max_connections`.
enum class shed_action : std::uint8_t {
  http_503,    ///< the upgrade was answered 503 with Retry-After
  close_1013,  ///< the upgrade was accepted, then closed with 1013 "retry-after=S"
};

/// "http_503" or "close_1013".
std::string_view to_string(shed_action a) noexcept;

/// A finished `server::shutdown`, as `net::shutdown_summary` reports it.
struct shutdown_report {
  std::size_t total = 0;
  std::size_t clean = 0;
  std::size_t aborted = 0;
  std::size_t failed = 0;
  std::size_t refused = 0;
  std::chrono::milliseconds elapsed{0};
};

/// Receives the library's events for metrics (counters, gauges, histograms).
///
/// Install one with `server_config::observer`, `client_config::observer` or
/// `reconnecting_client_config::observer`. With none installed each hook site
/// costs one null-pointer test, and the hooks sit on connection events only
/// (open, close, refusal, reconnect), never on the per-message path; the
/// reconnecting client's queue hook runs per queued message.
///
/// Hooks are called on the library's threads (any io_context thread, or the
/// thread of a public call), possibly concurrently, sometimes while a library
/// lock is held: they must be thread-safe, quick, must not throw, and must
/// not call back into the object that reports. Every hook has an empty
/// default, so an observer overrides only what it counts.
/// `closewise::metrics::registry` is the ready-made implementation.
class observer {
 public:
  virtual ~observer();

  /// A connection completed its opening handshake (RFC 6455 §4): a client saw
  /// 101, a server sent it. Connections a server sheds with 1013 are not
  /// reported (the application never sees them), only `shed`.
  virtual void connection_opened(role) {}
  /// A connection that opened has ended; `ev` is what on_close reports (code,
  /// initiator, was_clean, error). A heartbeat death is `ev.error ==
  /// error::heartbeat_timeout`. Exactly one per `connection_opened`.
  virtual void connection_closed(role, const close_event& ev) { (void)ev; }
  /// A client attempt ended before open (DNS, refused, reset, timeout, TLS,
  /// HTTP refusal, ...); `why` is the error on_error reports.
  virtual void connect_failed(role, std::error_code why) { (void)why; }
  /// An upgrade was refused with an HTTP status: a server sent it (400, 403,
  /// 426, 431, 503, the application's status) or a client received it.
  virtual void handshake_refused(role, unsigned status) { (void)status; }
  /// A server turned a connection away at `max_connections`.
  virtual void shed(shed_action) {}
  /// A server's `shutdown` finished (just before its `done` handler runs).
  virtual void shutdown_completed(const shutdown_report& r) { (void)r; }

  /// A reconnecting client starts a connect attempt (the first one included).
  virtual void reconnect_attempt() {}
  /// A reconnecting client's policy said retry after `delay`; `cause` is
  /// policy::decision::cause ("1012 Service Restart", "HTTP 503", ...).
  virtual void reconnect_scheduled(std::chrono::milliseconds delay, std::string_view cause) {
    (void)delay;
    (void)cause;
  }
  /// A reconnecting client's policy said stop; `cause` as above.
  virtual void gave_up(std::string_view cause) { (void)cause; }
  /// The number of messages waiting in a reconnecting client's queue changed
  /// by `delta` (a sum over all clients reporting here is their total depth).
  virtual void queue_depth_changed(std::ptrdiff_t delta) { (void)delta; }
  /// `count` messages were handed back to the application unsent, for `why`
  /// (error::not_sent, error::message_dropped, error::already_closing, ...).
  virtual void undelivered(std::error_code why, std::size_t count) {
    (void)why;
    (void)count;
  }

  /// Resume (docs/resume.md). The hooks and their series exist; the resume
  /// layer is being wired into the network layer separately and will call them:
  /// a session was resumed,
  virtual void resumed(role) {}
  /// a resume was refused or failed (`cause`: a short, bounded word),
  virtual void resume_failed(role, std::string_view cause) { (void)cause; }
  /// and `messages` messages were replayed after a resume.
  virtual void replayed(role, std::size_t messages) { (void)messages; }
};

}  // namespace closewise::metrics

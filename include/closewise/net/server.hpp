// closewise::net: a WebSocket server (RFC 6455 §4.2, §7).
#pragma once

#include <chrono>
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

#include "closewise/close_code.hpp"
#include "closewise/close_event.hpp"
#include "closewise/metrics/observer.hpp"
#include "closewise/net/endpoint_options.hpp"
#include "closewise/net/resume.hpp"
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

/// What a server does with a connection beyond `server_config::max_connections`.
enum class overload_action : std::uint8_t {
  /// Answer the upgrade request with 503 and `Retry-After: S` (RFC 9110
  /// §15.6.4, §10.2.3). Costs no WebSocket state; every HTTP client understands it.
  http_503,
  /// Accept the upgrade, then close at once with 1013 (Try Again Later) and
  /// the reason `retry-after=S`, which closewise's reconnect policy honours.
  /// For clients that cannot see HTTP statuses (browsers report 1006 for a
  /// refused upgrade).
  close_1013,
};

/// Settings of a server.
///
/// Data types: a text-only endpoint sets `protocol.accept_binary = false`
/// (a binary message is then failed with 1003 at its first frame), and
/// `protocol.max_message` bounds messages (1009); text that is not UTF-8 is
/// always failed with 1007 (RFC 6455 §8.1).
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

  /// Origins allowed to connect, compared ASCII case-insensitively with the
  /// whole `Origin` header ("https://app.example", RFC 6454 §6.1). Empty:
  /// every origin. A request whose Origin is not listed gets 403 (RFC 6455
  /// §4.2.2: the server "MAY" refuse an origin it does not accept, with "an
  /// appropriate HTTP error code (such as 403 Forbidden)").
  std::vector<std::string> allowed_origins;
  /// With an allowlist, also refuse requests without an Origin header. Off by
  /// default: only browsers must send Origin, and the allowlist exists to stop
  /// other sites' pages (RFC 6455 §10.2), not non-browser clients.
  bool require_origin = false;

  /// Connections served at once: those open plus those still in the opening
  /// handshake (so a burst of connects cannot overshoot the limit before any
  /// of them finishes its handshake). 0: no limit. Connections turned away
  /// are not counted; they hold a socket only until their refusal is done.
  std::size_t max_connections = 0;
  /// How connections beyond max_connections are turned away.
  overload_action on_overload = overload_action::http_503;
  /// The wait a turned-away client is told (Retry-After / `retry-after=`).
  std::chrono::seconds overload_retry_after{5};

  /// Resumable sessions (docs/resume.md): where sessions live between
  /// connections, a resume::memory_store or a resume::redis_store. Null: off,
  /// and a client's `closewise-resume` offer is declined (plain WebSocket).
  std::shared_ptr<resume::session_store> resume_store;
  /// With a store: how a connection's negotiation ended (right after
  /// on_open), and, with `handed_back`, messages of a refused or ended session
  /// that may not have reached the client (also at the connection's end).
  std::function<void(session&, server_resume_event&)> on_resume;

  /// Idle heartbeat: after this much inbound silence the server pings the
  /// connection (RFC 6455 §5.5.2); 0 (the default) turns it off.
  std::chrono::milliseconds idle_ping_interval{0};
  /// A connection silent for idle_ping_interval + idle_timeout (it did not
  /// even answer the ping) is dropped without a close handshake and reported
  /// to on_close as 1006, was_clean=false, error::heartbeat_timeout.
  std::chrono::milliseconds idle_timeout{10000};

  /// Metrics (docs/metrics.md): opens, closes, refusals by status, sheds and
  /// shutdown summaries of this server's connections. Null (the default)
  /// costs one pointer test per connection event.
  std::shared_ptr<metrics::observer> observer;
  // ---- fleet (issue 14): threads, zero-downtime restart, health checks ----
  /// Threads the server runs itself. 0 (the default): connections run on the
  /// io_context given to the constructor, by whatever threads run it. N > 0:
  /// the server starts N threads, each running an io_context of its own, and
  /// hands accepted connections to them in turn (round-robin); the given
  /// io_context still runs the listener and the shutdown's timers, so someone
  /// must still run it. Connections then need no strand (one thread per
  /// context). Callbacks run on those threads: one session's callbacks never
  /// run concurrently, different sessions' callbacks may. Destroy the server
  /// from a thread of neither kind's callbacks. After ~server a session handle
  /// kept by the application may only be read (id, request, remote_endpoint):
  /// its thread is gone, so a send or close on it is never carried out.
  std::size_t threads = 0;
  /// SO_REUSEPORT on the listening socket: a second process (a new version)
  /// may bind the same address and port while this one still serves, and the
  /// kernel spreads new connections over both until one closes its listener.
  bool reuse_port = false;
  /// A plain HTTP GET (no upgrade) of this path ("/healthz"; the query is
  /// ignored) is answered `200 ok` while the server serves and `503 draining`
  /// once mark_draining() was called or a shutdown started, so a load
  /// balancer's health check stops sending clients before the 1012s go out.
  /// Empty (the default): such a request gets the usual 400/426.
  std::string health_path;
};

/// How `server::shutdown` ends the connections.
struct shutdown_options {
  /// The close code sent to every connection: 1001 (going away) for a
  /// shutdown, 1012 (service restart) for a restart. Any code an endpoint may
  /// send is accepted (validate_endpoint_close).
  close_code code = close_code::going_away;
  /// The close reason, at most 123 bytes of UTF-8, e.g. "retry-after=2" with
  /// 1012 to tell closewise clients when to come back.
  std::string reason;
  /// From the call: connections whose close handshake has not finished by
  /// then are aborted (reported 1006, error::aborted).
  std::chrono::milliseconds drain_deadline{5000};
  /// Spread the close frames over this window (stratified: connection i of n
  /// gets its close at spread · (i + U(0,1)) / n), so the clients' reconnects
  /// are spread too. Keep it well under drain_deadline: a close not sent by
  /// the deadline becomes an abort.
  std::chrono::milliseconds spread{0};
};

/// What a shutdown did. `total == clean + aborted + failed`.
struct shutdown_summary {
  std::size_t total = 0;    ///< connections open when shutdown started
  std::size_t clean = 0;    ///< ended with a full close handshake (was_clean)
  std::size_t aborted = 0;  ///< still there at the deadline, and aborted
  /// Ended unclean before the deadline: the peer dropped TCP, or the
  /// session's own close_timeout passed first.
  std::size_t failed = 0;
  /// Upgrade requests that completed after shutdown started and were refused
  /// with 503 (counted until the summary is made). Connections still sending
  /// their request when the summary is made are left to the handshake
  /// timeout and not counted.
  std::size_t refused = 0;
  /// From the call to the end of the last connection.
  std::chrono::milliseconds elapsed{0};
  /// error::already_closing for a second shutdown, the close-code errors of
  /// validate_endpoint_close, error::invalid_argument for shutdown_and_wait
  /// on an io_context thread. Nothing was done then.
  std::error_code error;
};

/// What `server::broadcast` did.
struct broadcast_result {
  std::size_t queued = 0;  ///< sessions that took the message
  /// Sessions that refused it (error::queue_full: a slow consumer, closed with
  /// 1008 when `close_slow_consumers`; or already closing).
  std::size_t refused = 0;
  /// error::invalid_utf8 for text that is not UTF-8 (nothing was sent).
  std::error_code error;
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
/// session. It returns only once no callback is running on another thread
/// (so the state callbacks use may be destroyed right after); a callback may
/// destroy its own server, and is then not waited for. A callback must not wait
/// for the thread that destroys the server.
class server {
 public:
  explicit server(boost::asio::io_context& ioc, server_config cfg = {});
  ~server();
  server(const server&) = delete;
  server& operator=(const server&) = delete;

  /// Decides on each valid upgrade request. Default: accept, no subprotocol.
  /// It runs after the Origin allowlist and `on_select_subprotocol`; an
  /// accepting decision with an empty subprotocol keeps the selected one.
  void on_connect(std::function<accept_decision(const proto::upgrade_request&)> f);
  /// Picks the subprotocol from those the client offered, in its order
  /// (RFC 6455 §4.2.2: "the server ... selects one or none"). Return one of
  /// `offered` or empty for none; anything else is left out of the answer.
  void on_select_subprotocol(std::function<std::string(const std::vector<std::string>& offered)> f);
  void on_open(std::function<void(session&)> f);
  /// A complete message; the view is valid during the call only.
  void on_message(std::function<void(session&, proto::message_kind, std::string_view)> f);
  void on_close(std::function<void(session&, const close_event&)> f);
  /// A session's write buffer (closewise's, not the kernel's) became empty
  /// after holding bytes of messages or pings it accepted; as client::on_drain.
  /// A gateway resumes reading from the other side here. Set it before listen().
  void on_drain(std::function<void(session&)> f);

  /// Binds and starts accepting. `port` 0 picks a free port; read it with port().
  /// `address` is an IPv4 or IPv6 literal ("127.0.0.1", "::", "0.0.0.0").
  [[nodiscard]] std::error_code listen(std::string_view address, std::uint16_t port);
  /// The bound port (0 before listen()).
  std::uint16_t port() const noexcept;
  /// Stops accepting new connections; open sessions carry on. Connections the
  /// kernel already queued on the listening socket are accepted first (a
  /// closed listener would reset them), so with `reuse_port` a restart turns
  /// no client away; the ones arriving in the instant between that last
  /// accept and the close are reset unless `net.ipv4.tcp_migrate_req = 1`
  /// (Linux >= 5.14), which hands them to another listener of the port.
  void stop_accepting();
  /// From now on the health path (server_config::health_path) answers 503;
  /// nothing else changes. shutdown() does this too.
  void mark_draining() noexcept;
  /// True once mark_draining() or shutdown() was called.
  bool draining() const noexcept;

  /// Graceful shutdown (ARCHITECTURE §4): stops accepting, sends `opts.code`
  /// and `opts.reason` to every open connection (spread over `opts.spread`),
  /// waits for the close handshakes, aborts what remains at
  /// `opts.drain_deadline`, then calls `done` once with the summary, on an
  /// io_context thread (on the caller's thread when nothing was open or on an
  /// error). Upgrade requests completing meanwhile get 503; connections still
  /// in the listen backlog are dropped when the listener closes. Every session
  /// still gets its on_close. Once called, the server does not accept again.
  /// Destroying the server before `done` ran aborts everything and `done` is
  /// not called.
  void shutdown(shutdown_options opts, std::function<void(const shutdown_summary&)> done);
  /// shutdown(), waiting for the summary. Call it from a thread that does not
  /// run the io_context (it would wait for itself): there it returns at once
  /// with error::invalid_argument.
  shutdown_summary shutdown_and_wait(shutdown_options opts);

  /// Sends one message to every open session, encoding the frame once: all
  /// sessions share the same immutable bytes (server frames are unmasked),
  /// referenced from each write queue rather than copied. Each session
  /// accounts the frame in its buffered_amount and its `max_buffered` bound.
  /// Sessions with permessage-deflate compress it themselves (no sharing).
  broadcast_result broadcast(proto::message_kind kind, std::string_view payload);
  /// Like broadcast(), to the sessions for which `filter` returns true; it
  /// runs on the caller's thread, with the session's immutable accessors
  /// (id, request, subprotocol, remote_endpoint) safe to read.
  broadcast_result broadcast(proto::message_kind kind, std::string_view payload,
                             const std::function<bool(const session&)>& filter);

  /// Connections turned away at max_connections since listen().
  std::uint64_t shed_count() const noexcept;

  /// Open sessions (accepted and not yet closed), in accept order.
  std::vector<std::shared_ptr<session>> sessions() const;
  std::size_t session_count() const noexcept;

 private:
  std::shared_ptr<detail::server_impl> impl_;
};

}  // namespace closewise::net

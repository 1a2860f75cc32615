// closewise::net: a client that closes right and reconnects right (ARCHITECTURE §3, §4).
//
// It owns a sequence of one-connection `net::client`s. Every attempt that ends
// is turned into exactly one policy outcome and one policy decision, messages
// sent while the connection is down wait in a bounded queue, and a heartbeat
// finds peers that went silent without closing TCP.
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
#include "closewise/net/client.hpp"
#include "closewise/net/heartbeat.hpp"
#include "closewise/net/send_queue.hpp"
#include "closewise/policy/backoff.hpp"
#include "closewise/policy/outcome.hpp"
#include "closewise/policy/policy.hpp"
#include "closewise/proto/handshake.hpp"
#include "closewise/resume/client_session.hpp"

namespace closewise::net {

namespace detail {
class reconnecting_client_impl;
}

/// The lifecycle of a reconnecting client. Transitions (anything else is refused
/// with an error by the method that would cause it):
///
///   idle -> connecting (connect)        connecting -> open | waiting | stopped
///   open -> closing (close) | waiting | stopped (the policy decides)
///   closing -> stopped                  waiting -> connecting (timer, network_changed)
///   waiting -> stopped (close)          stopped -> connecting (reconnect, connect)
enum class reconnect_state : std::uint8_t {
  idle,        ///< constructed, connect() not called yet
  connecting,  ///< one attempt in flight (TCP, TLS, HTTP upgrade)
  open,        ///< a connection is open; sends go straight to it
  closing,     ///< close() was called: draining the queue, then the close handshake
  waiting,     ///< the policy said retry; waiting out the delay
  stopped,     ///< gave up, or closed by the application; reconnect() leaves it
};

/// "idle", "connecting", "open", "closing", "waiting", "stopped".
std::string_view to_string(reconnect_state s) noexcept;

/// What `on_give_up` reports once the policy says stop.
struct give_up_summary {
  /// The policy's sentence, e.g. "4500 Private use: closewise convention: 4500-4999 are final".
  std::string reason;
  /// Connect attempts made since the streak began (the last one included).
  std::uint32_t attempts = 0;
  /// How the last attempt ended.
  policy::outcome last_outcome;
  /// Messages that were never sent. Empty when `on_undelivered` is set: then
  /// they were handed there (error::not_sent) just before this event.
  std::vector<queued_message> undelivered;
};

/// Settings of a reconnecting client.
struct reconnecting_client_config {
  /// Settings of every connection. `connect_timeout` and `handshake_timeout`
  /// are raised to the current backoff delay for each attempt, so an attempt
  /// is never cut shorter than the wait before it (the attempt timeout is
  /// max(connect_timeout, backoff)).
  client_config connection;
  /// The reconnect policy (ARCHITECTURE §3); presets come from policy::preset().
  policy::config policy;
  /// Bounds of the queue that holds messages while the connection is not open.
  send_queue_limits queue;
  /// Dead-peer detection; a zero interval turns it off.
  heartbeat_config heartbeat;
  /// Default drain deadline of close(): queued messages get this long to be
  /// handed to the connection before the close frame goes out.
  std::chrono::milliseconds drain_timeout{5000};
  /// Bytes handed to a connection that closewise has not yet seen leave its
  /// write buffer. Past it, sends wait in the queue, so a connection that dies
  /// can only take this much with it (see docs/reconnect.md, "Queued messages").
  std::size_t max_unconfirmed_bytes = std::size_t{1} << 20;
  /// Randomness for the policy and the heartbeat's first ping (null: random_uniform()).
  policy::uniform_source uniform;
  /// The clock the policy reads (null: policy::clock_reading::now). Delays are
  /// still waited on the io_context's steady timers.
  std::function<policy::clock_reading()> clock;
  /// Opt-in resumable session (docs/resume.md): every connection offers it,
  /// and after a drop the next one continues where the last one stopped, each
  /// message delivered once and in order, both ways. Messages the server may
  /// not have received come back through on_undelivered with a resume error
  /// (error::resume_unknown, resume_ended, ...) only when the session is lost.
  std::optional<resume::session_settings> resume;
  /// Metrics (docs/metrics.md): everything a client_config observer sees for
  /// each connection, plus attempts, scheduled retries and their delays,
  /// give-ups, queue depth and messages handed back. Each event is reported
  /// once: set this or `connection.observer` (then it is used for both), not
  /// both. Null (the default) costs one pointer test per event.
  std::shared_ptr<metrics::observer> observer;
};

/// A WebSocket client that reconnects according to a policy and loses no
/// message silently.
///
/// Set the callbacks before `connect()`. They are never run concurrently with
/// each other; they run on the io_context's threads, except `on_undelivered`
/// and `on_close`-less stops caused by a public method (close() while waiting,
/// the destructor), which run on the caller's thread. Every public method may
/// be called from any thread, including from inside a callback. Any number of
/// clients may share one io_context.
///
/// Per connection that opens: `on_reconnected` (from the second one on), then
/// `on_open`, any number of `on_message`, then exactly one `on_close`. An attempt
/// that fails before opening yields `on_error` with its cause and `on_close`
/// with 1006 (1015 for TLS). After each `on_close` comes exactly one of
/// `on_reconnect_scheduled` or `on_give_up` (none after the application's own
/// close()).
class reconnecting_client {
 public:
  using state = reconnect_state;
  /// (attempt number of the coming retry, 1-based; the delay; the cause). The
  /// wait starts when the handler returns, so the delay measured from the call
  /// is never shorter than the one reported.
  using scheduled_handler =
      std::function<void(std::uint32_t, std::chrono::milliseconds, const std::string&)>;
  /// Returns new request headers (for example Authorization) to use from the
  /// next attempt on, or nullopt when it has none. Called on 401, 403 and 1008
  /// when the policy grants the streak's one refresh.
  using credential_handler =
      std::function<std::optional<proto::http_headers>(const policy::outcome&)>;

  explicit reconnecting_client(boost::asio::io_context& ioc, reconnecting_client_config cfg = {});
  /// Stops at once: an open connection is closed with 1001 (going away) in the
  /// background, a wait or an attempt is cancelled, and every message not yet
  /// handed to a connection goes to `on_undelivered` (error::not_sent), on this
  /// thread, before the destructor returns. No other callback runs after it.
  ~reconnecting_client();
  reconnecting_client(const reconnecting_client&) = delete;
  reconnecting_client& operator=(const reconnecting_client&) = delete;

  /// A connection opened (after `on_reconnected`, before the queue is flushed).
  void on_open(std::function<void(const open_info&)> f);
  /// A complete message; the view is valid during the call only.
  void on_message(client::message_handler f);
  /// A connection, or an attempt, ended.
  void on_close(std::function<void(const close_event&)> f);
  /// The policy said retry: the attempt number, the delay waited, the cause.
  void on_reconnect_scheduled(scheduled_handler f);
  /// The policy said stop.
  void on_give_up(std::function<void(const give_up_summary&)> f);
  /// Why an attempt failed (dns_failure, connection_refused, bad_status, ...),
  /// and other non-fatal failures.
  void on_error(std::function<void(std::error_code)> f);
  /// Runs when a connection opens again, before `on_open` and before the queue
  /// is flushed: messages sent from inside it go out before the queued ones,
  /// so the application can authenticate and subscribe first.
  void on_reconnected(std::function<void(const open_info&)> f);
  /// The credential-refresh hook (see credential_handler).
  void on_credentials_refresh(credential_handler f);
  /// Messages handed back: evicted by drop_oldest (error::message_dropped), or
  /// never sent because of a give-up, a close() past its deadline or the
  /// destructor (error::not_sent). Oldest first.
  void on_undelivered(std::function<void(std::vector<queued_message>, std::error_code)> f);
  /// With `reconnecting_client_config::resume`: how each connection's
  /// negotiation ended (fresh, resumed, refused, not negotiated), after the
  /// 101 and before on_open/on_reconnected. The messages in `handed_back`
  /// went to on_undelivered with `handback_error` just before.
  void on_resume(std::function<void(const resume::client_outcome&)> f);

  /// Starts connecting to a ws:// or wss:// URL (from idle or stopped).
  /// error::invalid_url / error::unsupported_scheme for a bad URL;
  /// error::connect_in_progress while an attempt, a connection or a wait is
  /// in progress (only one attempt is ever in flight).
  std::error_code connect(std::string_view url);
  /// Leaves the stopped state: forgets the retry streak and connects now.
  /// error::connect_in_progress in any other state but idle, where it is
  /// error::not_open (no URL yet).
  std::error_code reconnect();
  /// The network changed: a wait is cut short (connect now), and an open
  /// connection is pinged so a dead one is found within the heartbeat's grace.
  void network_changed();

  /// Sends a message, or queues it while the connection is not open.
  /// error::queue_full (reject policy, or a message larger than the queue's
  /// byte bound) and error::message_dropped (drop_newest) mean it was not
  /// taken: the caller still holds it. error::not_open once stopped or closing.
  std::error_code send(proto::message_kind kind, std::string_view payload);
  std::error_code send_text(std::string_view text) { return send(proto::message_kind::text, text); }
  std::error_code send_binary(std::string_view data) {
    return send(proto::message_kind::binary, data);
  }
  /// The same for a string the caller gives up (`send_text(std::move(s))`):
  /// the queue and a resumable connection's replay buffer keep this very
  /// string, where a view is copied. When it was not taken `payload` is
  /// untouched; when it was, it may be moved from.
  template <owned_string S>
  std::error_code send(proto::message_kind kind, S&& payload) {
    return send_owned(kind, payload);
  }
  template <owned_string S>
  std::error_code send_text(S&& text) {
    return send_owned(proto::message_kind::text, text);
  }
  template <owned_string S>
  std::error_code send_binary(S&& data) {
    return send_owned(proto::message_kind::binary, data);
  }

  /// Closes for good: queued messages are handed to the connection until
  /// `drain` (default: config drain_timeout) passes, then the close handshake
  /// starts with `code` (1000 or 3000-4999) and `reason`; what could not be
  /// sent is handed back. Never reconnects afterwards. During a wait or an
  /// attempt it stops at once. Errors: the code/reason errors of
  /// validate_app_close; error::not_open when already stopped or idle;
  /// error::already_closing when close() was already called.
  std::error_code close(close_code code = close_code::normal, std::string_view reason = {},
                        std::optional<std::chrono::milliseconds> drain = std::nullopt);

  /// The current state (any thread).
  state get_state() const noexcept;
  /// Messages waiting in the queue (not yet handed to a connection).
  std::size_t queued() const noexcept;

 private:
  /// The owning sends: `payload` is moved from only when it was taken.
  std::error_code send_owned(proto::message_kind kind, std::string& payload);
  std::shared_ptr<detail::reconnecting_client_impl> impl_;
};

}  // namespace closewise::net

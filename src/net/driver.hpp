// closewise::net (private): the Asio driver one client or server connection runs on.
//
// It moves bytes between a socket (optionally TLS) and a proto::connection,
// runs one deadline per timed job, and carries out what the transport
// lifecycle (transport_lifecycle.hpp) decides. It decides no teardown itself.
// `client` and the server's session each own one and add their half of the
// HTTP upgrade; they hear from it through `driver_owner`, once per connection.
//
// The driver's code is split by path: driver.cpp (lifetime, the public
// methods, the end of each handler), driver_read.cpp, driver_write.cpp and
// driver_timers.cpp (deadlines and the heartbeat).
#pragma once

#include <atomic>
#include <cstddef>
#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <system_error>
#include <vector>

#include <array>

#include <boost/asio/bind_executor.hpp>
#include <boost/asio/dispatch.hpp>
#include <boost/asio/post.hpp>

#include "closewise/close_event.hpp"
#include "closewise/error.hpp"
#include "closewise/net/heartbeat.hpp"
#include "closewise/proto/connection.hpp"
#include "deadline_table.hpp"
#include "io_types.hpp"
#include "shared_frame.hpp"
#include "tls_stream.hpp"
#include "transport_lifecycle.hpp"

namespace closewise::net::detail {

/// Which close codes a close() may send: the application's (1000, 3000-4999),
/// an endpoint's (also 1001-1003, 1007-1014), or a relay's (also 1005 as an
/// empty close frame).
enum class close_rules : std::uint8_t { application, endpoint, relay };

/// What a driver tells the client or the session that owns it: once per
/// connection, never per message. Messages, pings and pongs go from the
/// protocol connection straight to the owner, which is its proto::handler.
class driver_owner : public proto::handler, public std::enable_shared_from_this<driver_owner> {
 public:
  /// Before open: bytes of the HTTP response (client) or request (server).
  /// They may be clobbered; what follows the HTTP message goes to
  /// driver::receive_frames() once the driver is open.
  virtual void upgrade_bytes(char* data, std::size_t size) = 0;
  /// The bytes passed to driver::write_upgrade() left.
  virtual void upgrade_written() {}
  /// The TLS handshake started by driver::start_tls_handshake() ended
  /// (`ec`: why it failed). Called on the executor, inside a scope.
  virtual void tls_handshake_done(const boost::system::error_code& ec) = 0;
  /// The attempt ended before open: a failure (initiator none), or close() or
  /// abort() (initiator local). The socket is closed.
  virtual void ended_before_open(std::error_code why, initiator who) = 0;
  /// The connection ended; called once, after the socket closed.
  virtual void ended(const close_event& ev) = 0;
  /// A message sent from another thread was accepted, then refused when it
  /// reached the connection: a close won the race. Called before ended().
  virtual void undelivered(proto::message_kind, std::string_view, std::error_code) {}
  /// The write buffer became empty after holding bytes of accepted messages
  /// (asked for with driver::report_drain).
  virtual void drained() {}
  /// close() is about to queue this side's close frame on an open connection
  /// (on the executor): the last moment to send frames that must precede it.
  virtual void before_local_close() {}
};

/// Reads beyond the 64 bytes a connection keeps go through one buffer per
/// thread, so an idle connection holds no read buffer at all (ARCHITECTURE §6).
inline constexpr std::size_t thread_buffer_size = 64 * 1024;
char* thread_buffer();
/// Bytes read per readiness event before other connections get a turn.
inline constexpr std::size_t max_read_per_wake = 1024 * 1024;
/// Payload bytes a frame must still owe before they are read straight into
/// the message rather than through the thread buffer (saving one copy).
inline constexpr std::size_t direct_read_min = 4 * 1024;
/// After a window into a frame the thread buffer cannot hold whole, the read
/// at the next frame boundary takes only a header's worth, so the payload
/// after it is read straight into its message too, not copied out of the
/// thread buffer. Smaller frames are better read many at a time and
/// delivered in place (design-notes, "Reads").
inline constexpr std::size_t large_frame_min = thread_buffer_size - proto::max_header_size;

/// One connection's socket, deadlines and protocol state.
///
/// Everything runs on the connection's executor (a strand, or the io_context
/// run by one thread) except the methods marked "any thread", which dispatch
/// there. Handlers keep the owner alive (the driver is a member of it).
class driver {
 public:
  /// `limits` must outlive the driver. `use_strand`: handlers run on a strand
  /// of `ioc` (several threads may run it); otherwise directly on `ioc`.
  driver(driver_owner& owner, asio::io_context& ioc, bool use_strand, proto::role role,
         const transport_limits& limits, bool closes_slow_consumers);
  ~driver();
  driver(const driver&) = delete;
  driver& operator=(const driver&) = delete;

  // ---- any thread ----------------------------------------------------------------
  [[nodiscard]] std::error_code send(proto::message_kind kind, std::string_view payload);
  /// Zero-copy forwarding: proto::connection::take_delivered, on the
  /// executor only (another thread must not touch the connection).
  [[nodiscard]] bool take_delivered(std::string_view payload, std::string& buf) noexcept;
  /// Queues a frame shared with other connections, by reference. Errors and
  /// the write-queue bound are those of send(); the frame's full size counts
  /// against this connection's bound and buffered_amount(). A connection
  /// with permessage-deflate compresses the payload itself (RFC 7692: the
  /// compression context is per connection), so it gets its own copy.
  [[nodiscard]] std::error_code send_shared(const std::shared_ptr<const shared_frame>& frame);
  [[nodiscard]] std::error_code ping(std::string_view payload);
  [[nodiscard]] std::error_code close(close_code code, std::string_view reason, close_rules rules);
  void abort(std::error_code why = error::aborted);
  /// Pings now and, with a heartbeat, gives the peer only its grace to answer.
  [[nodiscard]] std::error_code probe(std::string_view payload);
  /// Stops and restarts reading from the socket (flow control). See client::pause_reading.
  void pause_reading();
  void resume_reading();
  /// Bytes queued and not yet written, plus sends still posted from other threads.
  std::size_t buffered_amount() const noexcept;
  proto::state public_state() const noexcept { return pub_state_.load(std::memory_order_acquire); }
  /// Stops every callback from now on; the connection itself carries on.
  void detach() noexcept { detached_.store(true, std::memory_order_release); }
  bool detached() const noexcept { return detached_.load(std::memory_order_acquire); }
  /// On the executor: a control frame of a negotiated extension (driver_resume.cpp).
  [[nodiscard]] std::error_code send_extension_control(std::uint8_t opcode,
                                                       std::string_view payload);
  /// Call before the connection starts: report drained() to the owner.
  void report_drain(bool on) noexcept { wants_drain_ = on; }

  // ---- the owner, on the executor ---------------------------------------------------
  /// Marks the driver as running on this thread; the outermost scope flushes
  /// the output and lets the lifecycle catch up when it ends, so a burst of
  /// sends from one handler becomes one write.
  class scope {
   public:
    explicit scope(driver& d) noexcept;
    ~scope();
    scope(const scope&) = delete;
    scope& operator=(const scope&) = delete;

   private:
    driver& d_;
    const driver* prev_;
  };

  bool on_executor() const noexcept;
  io_executor ioc_ex() const noexcept { return const_cast<socket_type&>(sock_).get_executor(); }
  /// Starts an asynchronous operation, `init(handler)`, whose handler runs on
  /// the connection's executor: bound to the strand if there is one.
  template <class Init, class Handler>
  void on_ex(Init&& init, Handler&& h) {
    if (strand_) {
      init(asio::bind_executor(*strand_, std::forward<Handler>(h)));
    } else {
      init(std::forward<Handler>(h));
    }
  }
  /// Runs `f()` on the connection's executor: later (post) or now if already there (dispatch).
  template <class F>
  void post_to_ex(F&& f) {
    if (strand_) {
      asio::post(*strand_, std::forward<F>(f));
    } else {
      asio::post(ioc_ex(), std::forward<F>(f));
    }
  }
  template <class F>
  void dispatch_to_ex(F&& f) {
    if (strand_) {
      asio::dispatch(*strand_, std::forward<F>(f));
    } else {
      asio::dispatch(ioc_ex(), std::forward<F>(f));
    }
  }

  socket_type& socket() noexcept { return sock_; }
  /// The TLS stream over the socket, created by start_tls().
  tls_stream* tls() noexcept { return tls_.get(); }
  tls_stream& start_tls(ssl::context& ctx);
  /// Runs the TLS handshake of start_tls()'s stream; tls_handshake_done() follows.
  void start_tls_handshake();
  transport_lifecycle& lifecycle() noexcept { return lc_; }
  const transport_lifecycle& lifecycle() const noexcept { return lc_; }
  /// Carries out what the lifecycle decided, in order.
  void run(const transport_actions& acts);
  /// Sets up the transport once TCP is connected (TCP_NODELAY, non-blocking).
  void prepare_socket();
  /// Writes the HTTP request or response; upgrade_written() follows.
  void write_upgrade(std::string bytes);
  /// The upgrade succeeded: the protocol connection starts (the owner is its handler).
  void open(proto::config cfg);
  /// Feeds frames to the connection; the bytes are unmasked in place.
  void receive_frames(char* data, std::size_t size);
  /// Reads what has already arrived, without waiting, through the thread
  /// buffer (plain TCP only). A server calls it once right after accept.
  void read_arrived();
  /// Once open: pings after `cfg.interval` of inbound silence and aborts a
  /// peer silent for interval + grace (1006, error::heartbeat_timeout, no
  /// close handshake: a dead peer cannot answer one). `u` in [0, 1) jitters
  /// the first ping. It stops when the close handshake starts.
  void start_heartbeat(const heartbeat_config& cfg, double u);
  /// A strong reference to this driver that keeps its owner alive.
  std::shared_ptr<driver> self() {
    return std::shared_ptr<driver>(owner_->shared_from_this(), this);
  }

 private:
  struct timer_block;

  // ---- driver.cpp
  [[nodiscard]] std::error_code send_now(proto::message_kind kind, std::string_view payload);
  [[nodiscard]] std::error_code send_shared_now(const std::shared_ptr<const shared_frame>& frame);
  /// Why a frame of `bytes` cannot be queued now (on the executor), or {}.
  [[nodiscard]] std::error_code check_send_now(std::size_t bytes);
  /// Why a frame of `bytes`, already counted in foreign_, cannot be posted from another thread.
  [[nodiscard]] std::error_code check_send_foreign(std::size_t bytes);
  void release_foreign(std::size_t bytes);
  [[nodiscard]] std::error_code close_now(close_code code, std::string_view reason,
                                          close_rules rules);
  [[nodiscard]] std::error_code probe_now(std::string_view payload);
  void slow_consumer();
  void after_io();
  /// The end of a turn but the read: the lifecycle catches up, the output is
  /// written, the state published. False once the connection is done.
  bool settle_turn();
  bool drained_now() const noexcept;
  void finish();
  void report_end();
  void deliver_owed_report();
  /// Runs `f(*this)` later on the executor, inside a scope.
  template <class F>
  void post_here(F&& f) {
    post_to_ex([self = self(), f = std::forward<F>(f)]() mutable {
      scope s(*self);
      f(*self);
    });
  }
  // ---- driver_read.cpp
  bool want_read() const noexcept;
  bool reading_paused() const noexcept;
  void start_read();
  void start_read_later();
  void start_plain_read();
  void on_read(const boost::system::error_code& ec, std::size_t n);
  void read_rest_now(std::size_t first);
  void release_held();
  void on_bytes(char* data, std::size_t size);
  void transport_failed(const boost::system::error_code& ec);
  void await_fin();
  // ---- driver_write.cpp
  enum class write_result : std::uint8_t { all, partly, failed };
  /// A server sends a payload this large from the caller's buffer when nothing
  /// else is queued (one writev, no copy into the output buffer).
  static constexpr std::size_t direct_send_min = 16 * 1024;
  /// At most this many bytes of queued frames may lead a direct send.
  static constexpr std::size_t direct_send_max_prefix = 1024;
  std::size_t pending_output() const noexcept;
  bool direct_send_possible() const noexcept;
  [[nodiscard]] std::error_code send_direct(proto::message_kind kind, std::string_view payload);
  void flush();
  write_result write_now();
  void write_async();
  void flush_segments();
  void on_written(const boost::system::error_code& ec);
  void drop_queued_output() noexcept;
  void tls_shutdown();
  // ---- driver_tls.cpp
  void start_tls_read();
  void read_tls_now();
  write_result write_tls_now();
  void gather_segments();
  /// Waits until the socket is as `st` asks, then runs `then(driver&, ec)` in a scope.
  template <class F>
  void tls_wait(tls_status st, F&& then);
  // ---- driver_timers.cpp
  timer_block& timers();
  void disarm(timer_kind k) noexcept;
  void sync_timer();
  void on_deadline(deadline_table::time_point fired_for);
  void heartbeat_tick();
  void arm_heartbeat();
  heartbeat* beat() noexcept;

  driver_owner* owner_;
  std::unique_ptr<strand_type> strand_;  ///< null: handlers run on the io_context directly
  socket_type sock_;
  std::unique_ptr<tls_stream> tls_;
  std::unique_ptr<timer_block> timers_;  ///< only while a deadline is armed
  std::optional<proto::connection> conn_;
  std::string wbuf_;  ///< the write in flight (swapped with conn_'s output)
  /// Output once a shared frame is queued: owned bytes and shared frames in
  /// wire order. Null (no allocation) unless a shared frame is queued.
  struct out_segment {
    std::string owned;
    std::shared_ptr<const shared_frame> shared;
    std::string_view bytes() const noexcept {
      return shared ? std::string_view(shared->bytes) : std::string_view(owned);
    }
  };
  struct segments {
    std::vector<out_segment> list;
    std::size_t inflight = 0;  ///< the first `inflight` are being written
    std::size_t bytes = 0;     ///< bytes of every segment in `list`
  };
  std::unique_ptr<segments> segs_;
  /// Plain sockets: the pending read lands here, and once it filled this
  /// buffer the rest is read at once into a per-thread buffer. A small frame
  /// costs one recv() and no epoll_ctl(); an idle connection holds no more.
  std::array<char, 64> rbuf_;
  transport_lifecycle lc_;
  std::atomic<std::size_t> buffered_{0};
  std::atomic<std::size_t> foreign_{0};  ///< bytes posted from other threads, not yet queued

  // The small fields together, so they pack (an idle connection's size matters).
  std::uint16_t held_ = 0;  ///< plain TCP: bytes read while paused, kept in rbuf_
  std::uint8_t depth_ = 0;  ///< nesting of `scope`
  bool reading_ = false;
  bool read_again_later_ = false;  ///< a read just completed: the next starts after the ready batch
  bool writing_ = false;
  bool upgrade_write_ = false;  ///< the write in flight is the HTTP request or response
  bool deflate_ = false;        ///< permessage-deflate: shared frames are re-encoded
  bool closes_slow_ = false;    ///< server: a peer that does not read is closed with 1008
  bool slow_consumer_ = false;
  bool wants_drain_ = false;
  bool drain_owed_ = false;   ///< accepted bytes were queued since the last drained()
  bool report_owed_ = false;  ///< ended() waits for sends still posted from other threads
  std::atomic<proto::state> pub_state_{proto::state::connecting};
  std::atomic<bool> detached_{false};
  std::atomic<bool> slow_posted_{false};  ///< a foreign send already asked for the 1008
  std::atomic<bool> paused_{false};
};

/// A driver's deadlines. Exists only while one is armed: an idle connection
/// without a heartbeat keeps no timer (ARCHITECTURE §6).
struct driver::timer_block {
  explicit timer_block(io_executor ex) : timer(ex) {}
  timer_type timer;
  deadline_table table;
  /// The expiry of the wait in flight (none: no wait in flight).
  deadline_table::time_point waiting_until = deadline_table::none;
  std::optional<heartbeat> beat;
};

}  // namespace closewise::net::detail

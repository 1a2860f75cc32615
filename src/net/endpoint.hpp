// closewise::net (private): the I/O engine one client or server connection runs on.
//
// It moves bytes between a socket (optionally TLS) and a proto::connection and
// runs the connection's timers. The client and the server session add their
// side of the opening handshake and their callbacks.
#pragma once

#include <atomic>
#include <chrono>
#include <cstddef>
#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <system_error>
#include <vector>

#include <array>

#include <boost/asio/any_io_executor.hpp>
#include <boost/asio/basic_stream_socket.hpp>
#include <boost/asio/basic_waitable_timer.hpp>
#include <boost/asio/bind_allocator.hpp>
#include <boost/asio/bind_executor.hpp>
#include <boost/asio/dispatch.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/post.hpp>
#include <boost/asio/ssl/context.hpp>
#include <boost/asio/ssl/stream.hpp>
#include <boost/asio/strand.hpp>

#include "closewise/close_event.hpp"
#include "closewise/error.hpp"
#include "closewise/net/endpoint_options.hpp"
#include "closewise/net/heartbeat.hpp"
#include "closewise/proto/connection.hpp"

namespace closewise::net::detail {

namespace asio = boost::asio;
namespace ssl = boost::asio::ssl;
using tcp = asio::ip::tcp;

/// Maps an Asio or OpenSSL error to the closewise::error that names it.
std::error_code map_transport_error(const boost::system::error_code& ec) noexcept;

/// The connection's executor: a strand of `ioc`, or `ioc` itself.
asio::any_io_executor make_executor(asio::io_context& ioc, bool use_strand);

/// I/O objects run on the io_context's own executor type rather than
/// any_io_executor: each then stores 8 bytes instead of 56, and a pending
/// operation carries no type-erased executor (an idle connection's only
/// pending operation is its read; ARCHITECTURE §6 gives it <= 1 KiB in all).
/// A connection that needs a strand binds its handlers to one.
using io_executor = asio::io_context::executor_type;
using socket_type = asio::basic_stream_socket<tcp, io_executor>;
using timer_type = asio::basic_waitable_timer<std::chrono::steady_clock,
                                              asio::wait_traits<std::chrono::steady_clock>,
                                              io_executor>;
using strand_type = asio::strand<io_executor>;

/// Operator new and delete, as a distinct allocator type. Bound to a handler,
/// it keeps Asio from placing the operation in a recycled block of whatever
/// size came before: the read an idle connection keeps pending is sized
/// exactly instead of inheriting the accept operation's larger block.
template <class T>
struct exact_allocator {
  using value_type = T;
  exact_allocator() noexcept = default;
  template <class U>
  exact_allocator(const exact_allocator<U>&) noexcept {}  // NOLINT: rebinding is implicit
  T* allocate(std::size_t n) { return static_cast<T*>(::operator new(n * sizeof(T))); }
  void deallocate(T* p, std::size_t) noexcept { ::operator delete(p); }
  friend bool operator==(exact_allocator, exact_allocator) noexcept { return true; }
};

/// A data frame encoded once and written to many connections (a server
/// broadcast). RFC 6455 §5.1: "A server MUST NOT mask any frames that it sends
/// to the client", so the same bytes are valid on every server connection
/// that did not negotiate permessage-deflate. Immutable once built; write
/// queues hold it by shared_ptr instead of copying it.
struct shared_frame {
  proto::message_kind kind = proto::message_kind::text;
  std::string bytes;       ///< header and payload, ready for the wire
  std::size_t header = 0;  ///< bytes of the header at the front of `bytes`
  /// The payload, for a connection that has to compress it itself.
  std::string_view payload() const noexcept { return std::string_view(bytes).substr(header); }
};

/// Encodes `payload` as one unmasked, unfragmented server frame.
std::shared_ptr<const shared_frame> make_shared_frame(proto::message_kind kind,
                                                      std::string_view payload);

/// One connection's socket, timers and protocol state.
///
/// Everything below runs on `ex_` except the public methods marked "any
/// thread", which dispatch there. Handlers hold a shared_ptr to the endpoint,
/// so it outlives every pending operation and may be released by its owner
/// at any time.
class endpoint : public proto::handler, public std::enable_shared_from_this<endpoint> {
 public:
  /// `opts` must outlive the endpoint (the derived class owns it or shares it).
  /// `use_strand`: handlers run on a strand of `ioc` (several threads may
  /// run `ioc`); otherwise directly on `ioc`, which must then be run by one
  /// thread.
  endpoint(asio::io_context& ioc, bool use_strand, proto::role role,
           const connection_options& opts);
  ~endpoint() override;
  endpoint(const endpoint&) = delete;
  endpoint& operator=(const endpoint&) = delete;

  // ---- any thread --------------------------------------------------------
  std::error_code send(proto::message_kind kind, std::string_view payload);
  /// Queues a frame shared with other connections, by reference. Errors and
  /// the write-queue bound are those of send(); the frame's full size counts
  /// against this connection's bound and buffered_amount(). A connection
  /// with permessage-deflate compresses the payload itself (RFC 7692: the
  /// compression context is per connection), so it gets its own copy.
  std::error_code send_shared(const std::shared_ptr<const shared_frame>& frame);
  std::error_code ping(std::string_view payload);
  std::error_code close(close_code code, std::string_view reason, bool endpoint_rules);
  void abort_connection();
  std::size_t buffered_amount() const noexcept;
  proto::state public_state() const noexcept { return pub_state_.load(std::memory_order_acquire); }
  /// Stops every callback from now on; the connection itself carries on.
  void detach() noexcept { detached_.store(true, std::memory_order_release); }

 protected:
  enum class phase : std::uint8_t {
    idle,            ///< nothing started
    connecting,      ///< client: resolving and connecting
    tls_handshake,   ///< TLS handshake in progress
    http_handshake,  ///< the HTTP upgrade in progress
    open,            ///< conn_ exists; data and the close handshake flow
    draining,        ///< conn_ closed; writing what is left, then TCP teardown
    lingering,       ///< client: waiting for the server to close TCP first
    done,            ///< socket closed, on_close delivered
  };
  enum class timer_use : std::uint8_t { none, connect, handshake, close, drain, linger, idle };

  /// Marks the endpoint as running on this thread; the outermost one flushes
  /// output and advances the teardown when it ends, so a burst of sends from
  /// one handler becomes one write.
  class scope {
   public:
    explicit scope(endpoint& e) noexcept;
    ~scope();
    scope(const scope&) = delete;
    scope& operator=(const scope&) = delete;

   private:
    endpoint& e_;
    const endpoint* prev_;
  };

  // ---- hooks for the client and the session (on the executor) -------------
  /// Bytes of the HTTP response (client) or request (server). They may be
  /// clobbered: what follows the HTTP message is handed to receive_frames().
  virtual void handshake_bytes(char* data, std::size_t size) = 0;
  /// A write started with write_raw() finished.
  virtual void raw_write_done() {}
  /// The attempt failed before open (transport error or timer).
  virtual void fail_before_open(std::error_code why) = 0;
  /// close() or abort() before open.
  virtual void cancel_before_open(std::error_code why) { fail_before_open(why); }
  virtual void deliver_message(proto::message_kind kind, std::string_view payload) = 0;
  virtual void deliver_pong(std::string_view /*payload*/) {}
  virtual void deliver_ping(std::string_view /*payload*/) {}
  /// A message posted from another thread was refused on arrival (error::not_sent).
  virtual void deliver_error(std::error_code /*ec*/) {}
  /// The connection ended; called once, after the socket was closed.
  virtual void deliver_close(const close_event& ev) = 0;
  /// A connect or handshake timer expired.
  virtual void handshake_timer_fired(timer_use use) = 0;
  /// Client: how long to wait for the server to close TCP first (0 for a server).
  virtual std::chrono::milliseconds close_linger() const noexcept { return {}; }
  /// Server: a peer that does not read made the queue overflow.
  virtual bool closes_slow_consumers() const noexcept { return false; }

  // ---- helpers for the derived classes (on the executor) -------------------
  bool on_executor() noexcept;
  /// The io_context's executor (the socket carries it).
  io_executor ioc_ex() noexcept { return sock_.get_executor(); }
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
  /// Runs `f()` on the connection's executor, later (post) or now if already there (dispatch).
  template <class F>
  void post_to_ex(F&& f) {
    if (strand_) asio::post(*strand_, std::forward<F>(f)); else asio::post(ioc_ex(), std::forward<F>(f));
  }
  template <class F>
  void dispatch_to_ex(F&& f) {
    if (strand_) asio::dispatch(*strand_, std::forward<F>(f)); else asio::dispatch(ioc_ex(), std::forward<F>(f));
  }
  bool detached() const noexcept { return detached_.load(std::memory_order_acquire); }
  /// Sets up the transport once TCP is connected (TCP_NODELAY, non-blocking).
  void prepare_socket();
  /// Queues bytes written before any frame (HTTP request or response).
  void write_raw(std::string bytes);
  /// The handshake succeeded: creates the protocol connection and feeds the
  /// bytes that followed the HTTP message.
  void open_connection(proto::config cfg);
  /// Feeds frames to the connection; the bytes are unmasked in place.
  void receive_frames(char* data, std::size_t size);
  void start_read();
  /// Reads what has already arrived, without waiting, through the thread
  /// buffer (plain TCP only). A server calls it once right after accept.
  void read_arrived();
  /// start_read() after the handlers already queued have run (see after_io).
  void start_read_later();
  void arm_timer(timer_use use, std::chrono::milliseconds after);
  /// Once open: pings after `cfg.interval` of inbound silence and aborts a
  /// peer silent for interval + grace (1006, error::heartbeat_timeout, no
  /// close handshake: a dead peer cannot answer one). `u` in [0, 1) jitters
  /// the first ping. The close handshake's own timer replaces it.
  void start_heartbeat(const heartbeat_config& cfg, double u);
  void cancel_timer() noexcept;
  void close_socket() noexcept;
  /// Ends the endpoint: closes the socket and delivers `ev` once.
  void finish(close_event ev);
  void set_public_state(proto::state s) noexcept { pub_state_.store(s, std::memory_order_release); }

  std::unique_ptr<strand_type> strand_;  ///< null: handlers run on ioc_ex_ directly
  const connection_options& opts_;
  socket_type sock_;
  std::unique_ptr<ssl::stream<socket_type&>> tls_;
  std::unique_ptr<char[]> tls_buf_;  ///< TLS only: the stream may hold decrypted bytes
  std::unique_ptr<timer_type> timer_;  ///< only while a timer is armed
  std::optional<proto::connection> conn_;


 private:
  // proto::handler
  void on_message(proto::message_kind kind, std::string_view payload) override;
  void on_pong(std::string_view payload) override;
  void on_ping(std::string_view payload) override;
  void on_closed(const close_event& ev) override;

  std::error_code send_now(proto::message_kind kind, std::string_view payload);
  std::error_code send_direct(proto::message_kind kind, std::string_view payload);
  std::error_code send_shared_now(const std::shared_ptr<const shared_frame>& frame);
  /// Why a frame of `bytes` cannot be queued now (on the executor), or {}.
  std::error_code check_send_now(std::size_t bytes);
  /// Why a frame of `bytes` cannot be posted from another thread, or {}.
  std::error_code check_send_foreign(std::size_t bytes);
  void heartbeat_tick();
  void arm_heartbeat();
  void flush_segments();
  std::error_code close_now(close_code code, std::string_view reason, bool endpoint_rules);
  void abort_now(std::error_code why);
  void on_read(const boost::system::error_code& ec, std::size_t n);
  void on_bytes(char* data, std::size_t size);
  void on_transport_error(const boost::system::error_code& ec);
  void on_written(const boost::system::error_code& ec);
  void on_timer();
  void after_io();
  void flush();
  void end_tcp();
  void tls_close_notify();
  /// Client, lingering: answers the server's close_notify, then waits for its FIN.
  void tls_reply_close_notify();
  /// Ends a lingering connection: the peer's EOF or reply, or the linger timer.
  void end_linger();
  void finish_from_conn();
  void slow_consumer();
  bool want_read() const noexcept;
  std::size_t pending_output() const noexcept;
  template <class F>
  void post_here(F&& f);

  std::string wbuf_;                  ///< the write in flight (swapped with conn_'s output)
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
  std::unique_ptr<heartbeat> heartbeat_;  ///< only when a heartbeat was started
  /// Plain sockets: the pending read lands here, and once it filled this
  /// buffer the rest is read at once into a per-thread buffer. A small frame
  /// costs one recv() and no epoll_ctl(); an idle connection holds no more.
  std::array<char, 64> rbuf_;
  int depth_ = 0;                     ///< nesting of `scope`
  std::uint32_t timer_gen_ = 0;       ///< ignores a timer completion that raced a re-arm

  // The small fields together, so they pack (an idle connection's size matters).
 protected:
  proto::role role_;
  phase phase_ = phase::idle;

 private:
  timer_use timer_use_ = timer_use::none;
  bool reading_ = false;
  bool read_again_later_ = false;    ///< a read just completed: start the next one after the ready batch
  bool writing_ = false;
  bool raw_write_ = false;
  bool transport_failed_ = false;     ///< no more I/O: tear down without flushing
  bool slow_consumer_ = false;
  bool deflate_ = false;              ///< permessage-deflate: shared frames are re-encoded
  bool unclean_ = false;              ///< the teardown went wrong after a clean close exchange
  bool tls_shutdown_ = false;         ///< server: close_notify sent, the TLS shutdown reads
  std::atomic<proto::state> pub_state_{proto::state::connecting};
  std::atomic<bool> detached_{false};
  std::atomic<bool> slow_posted_{false};  ///< a foreign send already asked for the 1008
  error unclean_why_ = error::aborted;
  std::atomic<std::size_t> buffered_{0};
  std::atomic<std::size_t> foreign_{0};  ///< bytes posted from other threads, not yet queued
};

}  // namespace closewise::net::detail

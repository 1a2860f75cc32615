#include "closewise/net/server.hpp"

#include <algorithm>
#include <future>
#include <mutex>
#include <optional>
#include <random>
#include <utility>

#include <boost/asio/ip/address.hpp>
#include <boost/beast/core/string.hpp>
#include <boost/asio/dispatch.hpp>
#include <boost/asio/post.hpp>
#include <boost/asio/ssl/context.hpp>

#include "closewise/error.hpp"
#include "closewise/utf8.hpp"
#include "endpoint.hpp"

namespace closewise::net {
namespace detail {

class session_impl;
struct shutdown_state;

/// What a session keeps of its upgrade: session::request() and subprotocol().
struct request_info {
  proto::upgrade_request request;
  std::string subprotocol;  ///< the one accepted (empty: none)
  bool same_as(const request_info& o) const {
    const auto& a = request;
    const auto& b = o.request;
    return subprotocol == o.subprotocol && a.method == b.method && a.target == b.target &&
           a.version == b.version && a.subprotocols == b.subprotocols &&
           a.extensions == b.extensions && a.headers.fields == b.headers.fields;
  }
};

/// A uniform draw in [0, 1) for jitter (first heartbeat ping, close spread);
/// not for security, so a per-thread PRNG seeded once from random_device.
double jitter_uniform() {
  thread_local std::minstd_rand gen{std::random_device{}()};
  return std::uniform_real_distribution<double>(0.0, 1.0)(gen);
}

/// What the server and its sessions share; sessions keep it alive, so the
/// server handle can go away while connections finish.
struct server_shared {
  server_shared(asio::io_context& io, server_config c) : ioc(io), cfg(std::move(c)) {}

  asio::io_context& ioc;
  server_config cfg;
  std::shared_ptr<ssl::context> tls_ctx;
  std::function<accept_decision(const proto::upgrade_request&)> on_connect;
  std::function<std::string(const std::vector<std::string>&)> select_subprotocol;
  std::function<void(session&)> on_open;
  std::function<void(session&, proto::message_kind, std::string_view)> on_message;
  std::function<void(session&, const close_event&)> on_close;
  std::atomic<bool> detached{false};
  std::atomic<std::uint64_t> next_id{1};
  /// Connections holding a max_connections slot (in handshake or open).
  std::atomic<std::size_t> admitted{0};
  std::atomic<std::uint64_t> shed{0};

  /// The request details of the last session opened: the next session with
  /// the same ones shares them (guarded by mu). A fleet that connects to one
  /// path then stores them once, not per connection (ARCHITECTURE §6).
  std::shared_ptr<const request_info> last_info;
  std::shared_ptr<const request_info> intern(request_info info);

  // Open sessions, an intrusive list so a session costs two pointers here.
  mutable std::mutex mu;
  session_impl* head = nullptr;
  session_impl* tail = nullptr;
  std::size_t count = 0;
  /// Set once shutdown() started (guarded by mu): no session links any more.
  std::shared_ptr<shutdown_state> shutdown;

  /// Links an accepted session, unless a shutdown started: false then.
  bool link(session_impl* s);
  /// Unlinks; returns the shutdown the session was part of, if any.
  std::shared_ptr<shutdown_state> unlink(session_impl* s);
};

/// One graceful shutdown in progress. Its fields are guarded by `mu`; session
/// calls (close, abort) are made after releasing it, because a session on the
/// caller's thread may finish at once and report back here.
struct shutdown_state : std::enable_shared_from_this<shutdown_state> {
  shutdown_state(asio::any_io_executor ex, shutdown_options o,
                 std::function<void(const shutdown_summary&)> d)
      : opts(std::move(o)), done(std::move(d)), spread_timer(ex), deadline_timer(ex) {}

  std::mutex mu;
  shutdown_options opts;
  std::function<void(const shutdown_summary&)> done;
  /// Weak: the server's shared state keeps this shutdown for good (so no
  /// session links afterwards), and must not be kept alive by it in return.
  std::weak_ptr<server_shared> shared;
  shutdown_summary sum;
  std::chrono::steady_clock::time_point start = std::chrono::steady_clock::now();
  std::vector<std::shared_ptr<session_impl>> order;  ///< the sessions, in close order
  std::size_t next_close = 0;                        ///< order[next_close..] have no close yet
  std::chrono::steady_clock::time_point next_at{};   ///< when order[next_close] gets its close
  std::size_t finished = 0;
  bool deadline_passed = false;
  bool completed = false;
  asio::steady_timer spread_timer;
  asio::steady_timer deadline_timer;

  void begin();
  void send_due_closes();
  void on_deadline();
  void on_session_end(const close_event& ev);
  void on_refused();
  /// Makes the summary once every session ended; returns it to run `done` unlocked.
  std::optional<shutdown_summary> complete_locked();

 private:
  void schedule_next_locked();
  void finish(std::optional<shutdown_summary> s);
};

class session_impl final : public session, public endpoint {
 public:
  /// `counted`: the session holds a max_connections slot; otherwise it was
  /// accepted over the limit and is only there to be turned away.
  session_impl(std::shared_ptr<server_shared> shared, socket_type sock, const tcp::endpoint& remote,
               bool counted)
      : endpoint(shared->ioc, shared->cfg.use_strand, proto::role::server, shared->cfg),
        remote_(remote),
        counted_(counted),
        shed_(!counted),
        shared_(std::move(shared)) {
    sock_ = std::move(sock);
  }

  ~session_impl() override {
    shared_->unlink(this);
    release_slot();
  }

  /// Starts the TLS and HTTP handshakes on the session's own executor.
  void launch() {
    dispatch_to_ex([self = shared_impl()] {
      scope s(*self);
      self->start();
    });
  }

 private:
  void start() {
    prepare_socket();
    arm_timer(timer_use::handshake, shared_->cfg.handshake_timeout);
    if (shared_->tls_ctx) {
      phase_ = phase::tls_handshake;
      tls_ = std::make_unique<ssl::stream<socket_type&>>(sock_, *shared_->tls_ctx);
      on_ex([this](auto h) { tls_->async_handshake(ssl::stream_base::server, std::move(h)); },
                            [self = shared_impl()](const boost::system::error_code& ec) {
                              scope s(*self);
                              if (self->phase_ != phase::tls_handshake) return;
                              if (ec) {
                                self->fail_before_open(error::tls_error);
                                return;
                              }
                              self->phase_ = phase::http_handshake;
                            });
      hs_ = std::make_unique<proto::server_handshake>(shared_->cfg.handshake_limits);
      return;
    }
    phase_ = phase::http_handshake;
    hs_ = std::make_unique<proto::server_handshake>(shared_->cfg.handshake_limits);
    // The request has usually arrived by the time a connection is accepted.
    // Read it whole now: a first read through the reactor takes only 64 bytes
    // (the connection's idle buffer), and the rest one scheduler pass later.
    read_arrived();
  }

  std::shared_ptr<session_impl> shared_impl() {
    return std::static_pointer_cast<session_impl>(shared_from_this());
  }

 public:
  std::uint64_t id_ = 0;
  /// Null until the session opened (request() is only reachable after that).
  std::shared_ptr<const request_info> info_;
  tcp::endpoint remote_;
  session_impl* prev_ = nullptr;
  session_impl* next_ = nullptr;
  bool linked_ = false;       // guarded by server_shared::mu
  bool in_shutdown_ = false;  // guarded by server_shared::mu: part of the shutdown's count

 private:
  // Beside the two above, so the flags share one word.
  bool refusing_ = false;
  bool counted_;     ///< holds a max_connections slot
  const bool shed_;  ///< accepted over max_connections: turned away

  void handshake_bytes(char* data, std::size_t size) override {
    const std::string_view bytes(data, size);
    if (refusing_) return;
    std::size_t consumed = 0;
    switch (hs_->receive(bytes, consumed)) {
      case proto::server_handshake::result::need_more: return;
      case proto::server_handshake::result::invalid:
        // RFC 6455 §4.2.1: a bad request gets an HTTP error (400, or 426 with
        // the supported version) and the server closes the connection.
        refuse(hs_->error_response());
        return;
      case proto::server_handshake::result::valid: break;
    }
    const server_config& cfg = shared_->cfg;
    if (shed_) {
      shed(data + consumed, size - consumed);
      return;
    }
    if (!origin_allowed()) {
      refuse(proto::server_handshake::refuse(403, {}, "origin not allowed"));
      return;
    }
    std::string selected;
    if (shared_->select_subprotocol && !detached())
      selected = shared_->select_subprotocol(hs_->request().subprotocols);
    accept_decision d = accept_decision::accepted(std::move(selected));
    if (shared_->on_connect && !detached()) {
      accept_decision app = shared_->on_connect(hs_->request());
      if (app.accept && app.subprotocol.empty()) app.subprotocol = std::move(d.subprotocol);
      d = std::move(app);
    }
    if (!d.accept) {
      refuse(proto::server_handshake::refuse(d.status, d.headers, d.body));
      return;
    }
    // A shutdown that started meanwhile takes no new session (linked under its lock).
    if (!shared_->link(this)) {
      refuse_503_in_shutdown();
      return;
    }
    cancel_timer();
    std::string response = hs_->accept(d.subprotocol, cfg.deflate);
    proto::config pc = shared_->cfg.protocol;
    pc.deflate = hs_->deflate();
    request_info info{hs_->request(), std::move(d.subprotocol)};
    if (!shared_->cfg.keep_request_headers) {
      info.request.headers = {};
      info.request.extensions = {};
    }
    info_ = shared_->intern(std::move(info));
    hs_.reset();
    id_ = shared_->next_id.fetch_add(1, std::memory_order_relaxed);
    write_raw(std::move(response));
    open_connection(std::move(pc));
    start_heartbeat(heartbeat_config{cfg.idle_ping_interval, cfg.idle_timeout}, jitter_uniform());
    if (shared_->on_open && !detached()) shared_->on_open(*this);
    // A client may send frames right behind its request.
    if (consumed < size) receive_frames(data + consumed, size - consumed);
  }

  void refuse(std::string response) {
    refusing_ = true;
    hs_.reset();
    release_slot();  // a refused client no longer counts against max_connections
    write_raw(std::move(response));
  }

  /// Retry-After as RFC 9110 §10.2.3 delay-seconds.
  static proto::http_headers retry_after(std::chrono::seconds s) {
    proto::http_headers h;
    h.fields.emplace_back("Retry-After", std::to_string(s.count()));
    return h;
  }

  void refuse_503_in_shutdown() {
    if (auto st = current_shutdown()) st->on_refused();
    refuse(proto::server_handshake::refuse(503, {}, "shutting down"));
  }

  std::shared_ptr<shutdown_state> current_shutdown() const {
    std::lock_guard lock(shared_->mu);
    return shared_->shutdown;
  }

  /// Turns away a connection accepted over max_connections (ARCHITECTURE §4).
  void shed(char* rest, std::size_t rest_size) {
    const auto wait = shared_->cfg.overload_retry_after;
    shared_->shed.fetch_add(1, std::memory_order_relaxed);
    if (shared_->cfg.on_overload == overload_action::http_503) {
      // RFC 9110 §15.6.4: 503 "indicates that the server is currently unable to
      // handle the request due to a temporary overload"; Retry-After says when.
      refuse(proto::server_handshake::refuse(503, retry_after(wait), "over capacity"));
      return;
    }
    // RFC 6455 §7.4.1 (IANA registry): 1013 "Try Again Later"; the reason carries
    // the wait in the form closewise's policy parses. No session events: the
    // application never saw this connection.
    cancel_timer();
    std::string response = hs_->accept({}, {});
    hs_.reset();
    write_raw(std::move(response));
    open_connection(shared_->cfg.protocol);
    (void)close_now_endpoint(close_code::try_again_later,
                             "retry-after=" + std::to_string(wait.count()));
    if (rest_size != 0) receive_frames(rest, rest_size);
  }

  std::error_code close_now_endpoint(close_code code, const std::string& reason) {
    return endpoint::close(code, reason, true);
  }

  /// RFC 6455 §10.2: the Origin check protects browsers' users from other sites.
  bool origin_allowed() const {
    const auto& allowed = shared_->cfg.allowed_origins;
    if (allowed.empty()) return true;
    const auto origin = hs_->request().headers.get("Origin");
    if (!origin) return !shared_->cfg.require_origin;
    return std::any_of(allowed.begin(), allowed.end(), [&](const std::string& a) {
      return boost::beast::iequals(a, *origin);
    });
  }

  /// Gives the max_connections slot back (idempotent; on the executor or in the destructor).
  void release_slot() noexcept {
    if (std::exchange(counted_, false)) shared_->admitted.fetch_sub(1, std::memory_order_relaxed);
  }

  void raw_write_done() override {
    if (refusing_) {
      // The refusal is out: send FIN now, but keep reading until the client
      // closes (or the handshake timer fires), so unread request bytes cannot
      // turn our close into a reset that destroys the response in flight.
      boost::system::error_code ignored;
      sock_.shutdown(tcp::socket::shutdown_send, ignored);
    }
  }

  void fail_before_open(std::error_code) override {
    // Before the 101 nothing was reported, so nothing is: just drop the socket.
    release_slot();
    hs_.reset();
    phase_ = phase::done;
    cancel_timer();
    close_socket();
  }

  void handshake_timer_fired(timer_use) override {
    // Slowloris: whoever has not finished the upgrade in time is dropped.
    if (phase_ < phase::open) fail_before_open(error::handshake_timeout);
  }

  bool closes_slow_consumers() const noexcept override { return shared_->cfg.close_slow_consumers; }

  void deliver_message(proto::message_kind kind, std::string_view payload) override {
    if (shed_) return;
    if (shared_->on_message && !shared_->detached.load(std::memory_order_acquire))
      shared_->on_message(*this, kind, payload);
  }

  void deliver_close(const close_event& ev) override {
    release_slot();
    if (shed_) return;
    auto in_shutdown = shared_->unlink(this);
    if (shared_->on_close && !shared_->detached.load(std::memory_order_acquire))
      shared_->on_close(*this, ev);
    // After on_close, so the summary comes after every session's last event.
    if (in_shutdown) in_shutdown->on_session_end(ev);
  }

  std::shared_ptr<server_shared> shared_;
  std::unique_ptr<proto::server_handshake> hs_;
};

std::shared_ptr<const request_info> server_shared::intern(request_info info) {
  std::lock_guard lock(mu);
  if (!last_info || !last_info->same_as(info))
    last_info = std::make_shared<const request_info>(std::move(info));
  return last_info;
}

#if defined(__x86_64__) && defined(__GLIBCXX__) && !defined(_GLIBCXX_DEBUG)
// An idle connection must stay under 1 KiB of user-space memory (ARCHITECTURE
// §6): the session (with its protocol state inline) is most of it, next to
// Asio's pending read (136 bytes) and descriptor state (168 bytes). The echo
// benchmark measures the whole: bench/RESULTS.md.
static_assert(sizeof(session_impl) <= 576, "an idle session grew: re-measure bench/echo idle memory");
#endif

bool server_shared::link(session_impl* s) {
  std::lock_guard lock(mu);
  if (shutdown) return false;
  s->prev_ = tail;
  s->next_ = nullptr;
  (tail ? tail->next_ : head) = s;
  tail = s;
  s->linked_ = true;
  ++count;
  return true;
}

std::shared_ptr<shutdown_state> server_shared::unlink(session_impl* s) {
  std::lock_guard lock(mu);
  if (!s->linked_) return nullptr;
  (s->prev_ ? s->prev_->next_ : head) = s->next_;
  (s->next_ ? s->next_->prev_ : tail) = s->prev_;
  s->prev_ = s->next_ = nullptr;
  s->linked_ = false;
  --count;
  return s->in_shutdown_ ? shutdown : nullptr;
}

// --------------------------------------------------------------- shutdown --

void shutdown_state::begin() {
  std::unique_lock lock(mu);
  const auto deadline = start + opts.drain_deadline;
  deadline_timer.expires_at(deadline);
  deadline_timer.async_wait([self = shared_from_this()](const boost::system::error_code& ec) {
    if (!ec) self->on_deadline();
  });
  if (opts.spread.count() > 0 && !order.empty()) {
    next_at = start + std::chrono::duration_cast<std::chrono::steady_clock::duration>(
                          opts.spread * jitter_uniform() / order.size());
    lock.unlock();
    send_due_closes();
    return;
  }
  next_close = order.size();
  auto all = order;
  lock.unlock();
  for (auto& s : all) (void)static_cast<session&>(*s).close_endpoint(opts.code, opts.reason);
}

void shutdown_state::send_due_closes() {
  std::vector<std::shared_ptr<session_impl>> due;
  {
    std::lock_guard lock(mu);
    if (completed || deadline_passed) return;
    const auto now = std::chrono::steady_clock::now();
    const std::size_t n = order.size();
    // Stratified spread: slot i of n is [i/n, (i+1)/n) of the window, with a
    // uniform point inside it, so the closes are even on the whole and random in detail.
    while (next_close < n && next_at <= now) {
      due.push_back(order[next_close]);
      ++next_close;
      if (next_close < n) {
        next_at = start + std::chrono::duration_cast<std::chrono::steady_clock::duration>(
                              opts.spread * ((static_cast<double>(next_close) + jitter_uniform()) /
                                             static_cast<double>(n)));
      }
    }
    schedule_next_locked();
  }
  for (auto& s : due) (void)static_cast<session&>(*s).close_endpoint(opts.code, opts.reason);
}

void shutdown_state::schedule_next_locked() {
  if (next_close >= order.size()) return;
  spread_timer.expires_at(next_at);
  spread_timer.async_wait([self = shared_from_this()](const boost::system::error_code& ec) {
    if (!ec) self->send_due_closes();
  });
}

void shutdown_state::on_deadline() {
  std::vector<std::shared_ptr<session_impl>> left;
  {
    std::lock_guard lock(mu);
    if (completed) return;
    deadline_passed = true;
    spread_timer.cancel();
    left = order;  // sessions that already ended ignore the abort
  }
  // RFC 6455 §7.1.1 leaves the wait for the peer's close open-ended; the drain
  // deadline bounds it for the whole server.
  for (auto& s : left) static_cast<session&>(*s).abort();
}

void shutdown_state::on_session_end(const close_event& ev) {
  std::optional<shutdown_summary> s;
  {
    std::lock_guard lock(mu);
    if (completed) return;
    ++finished;
    if (ev.was_clean) {
      ++sum.clean;
    } else if (deadline_passed) {
      ++sum.aborted;
    } else {
      ++sum.failed;
    }
    s = complete_locked();
  }
  finish(std::move(s));
}

void shutdown_state::on_refused() {
  std::lock_guard lock(mu);
  if (!completed) ++sum.refused;
}

std::optional<shutdown_summary> shutdown_state::complete_locked() {
  if (completed || finished < order.size()) return std::nullopt;
  completed = true;
  sum.elapsed = std::chrono::duration_cast<std::chrono::milliseconds>(
      std::chrono::steady_clock::now() - start);
  spread_timer.cancel();
  deadline_timer.cancel();
  return sum;
}

void shutdown_state::finish(std::optional<shutdown_summary> s) {
  if (!s) return;
  std::function<void(const shutdown_summary&)> d;
  std::vector<std::shared_ptr<session_impl>> release;
  {
    std::lock_guard lock(mu);
    d = std::move(done);
    release.swap(order);  // the sessions may go now
  }
  const auto sh = shared.lock();
  if (d && sh && !sh->detached.load(std::memory_order_acquire)) d(*s);
}

class server_impl : public std::enable_shared_from_this<server_impl> {
 public:
  server_impl(asio::io_context& ioc, server_config cfg)
      : shared_(std::make_shared<server_shared>(ioc, std::move(cfg))),
        acceptor_(make_executor(ioc, shared_->cfg.use_strand)),
        retry_(acceptor_.get_executor()) {}

  std::error_code listen(std::string_view address, std::uint16_t port) {
    if (acceptor_.is_open()) return error::invalid_argument;
    if (auto& t = shared_->cfg.tls) {
      if (t->context) {
        shared_->tls_ctx = t->context;
      } else {
        auto ctx = std::make_shared<ssl::context>(ssl::context::tls_server);
        boost::system::error_code ec;
        ctx->set_options(ssl::context::default_workarounds | ssl::context::no_sslv2 |
                             ssl::context::no_sslv3 | ssl::context::no_tlsv1 |
                             ssl::context::no_tlsv1_1,
                         ec);
        ctx->use_certificate_chain_file(t->cert_file, ec);
        if (!ec) ctx->use_private_key_file(t->key_file, ssl::context::pem, ec);
        if (ec) return error::invalid_argument;
        shared_->tls_ctx = std::move(ctx);
      }
    }
    boost::system::error_code ec;
    const auto addr = asio::ip::make_address(std::string(address), ec);
    if (ec) return error::invalid_argument;
    const tcp::endpoint ep(addr, port);
    acceptor_.open(ep.protocol(), ec);
    // The server holds TIME_WAIT after every clean close (RFC 6455 §7.1.1),
    // so a restarted server must be able to bind its port again at once.
    if (!ec) acceptor_.set_option(tcp::acceptor::reuse_address(true), ec);
    if (!ec) acceptor_.bind(ep, ec);
    if (!ec) acceptor_.listen(shared_->cfg.backlog, ec);
    if (ec) {
      boost::system::error_code ignored;
      acceptor_.close(ignored);
      return std::error_code(ec.value(), std::system_category());
    }
    port_.store(acceptor_.local_endpoint(ec).port(), std::memory_order_release);
    asio::post(acceptor_.get_executor(), [self = shared_from_this()] { self->accept_next(); });
    return {};
  }

  void stop_accepting() {
    asio::post(acceptor_.get_executor(), [self = shared_from_this()] {
      boost::system::error_code ignored;
      self->acceptor_.close(ignored);
      self->retry_.cancel();
    });
  }

  void detach_and_abort() {
    shared_->detached.store(true, std::memory_order_release);
    stop_accepting();
    for (auto& s : sessions()) s->abort();
  }

  std::vector<std::shared_ptr<session>> sessions() const {
    std::vector<std::shared_ptr<session>> out;
    std::lock_guard lock(shared_->mu);
    out.reserve(shared_->count);
    for (session_impl* s = shared_->head; s; s = s->next_) {
      // A session being destroyed has no owner left; skip it.
      if (auto sp = s->weak_from_this().lock()) out.emplace_back(sp, static_cast<session*>(s));
    }
    return out;
  }

  std::size_t session_count() const noexcept {
    std::lock_guard lock(shared_->mu);
    return shared_->count;
  }

  std::uint16_t port() const noexcept { return port_.load(std::memory_order_acquire); }

  void shutdown(shutdown_options opts, std::function<void(const shutdown_summary&)> done) {
    if (auto ec = validate_endpoint_close(opts.code, opts.reason)) {
      if (done) done(shutdown_summary{0, 0, 0, 0, 0, {}, ec});
      return;
    }
    auto st = std::make_shared<shutdown_state>(acceptor_.get_executor(), std::move(opts),
                                               std::move(done));
    st->shared = shared_;
    {
      std::lock_guard lock(shared_->mu);
      if (shared_->shutdown) {
        st->sum.error = error::already_closing;
      } else {
        shared_->shutdown = st;
        st->order.reserve(shared_->count);
        for (session_impl* s = shared_->head; s; s = s->next_) {
          // A session being destroyed has no owner left and reports nothing.
          auto sp = std::static_pointer_cast<session_impl>(s->weak_from_this().lock());
          if (!sp) continue;
          s->in_shutdown_ = true;
          st->order.push_back(std::move(sp));
        }
        st->sum.total = st->order.size();
      }
    }
    if (st->sum.error) {
      if (st->done) st->done(st->sum);
      return;
    }
    stop_accepting();
    std::optional<shutdown_summary> now;
    {
      std::lock_guard lock(st->mu);
      now = st->complete_locked();
    }
    if (now) {
      if (st->done && !shared_->detached.load(std::memory_order_acquire)) st->done(*now);
      return;
    }
    st->begin();
  }

  broadcast_result broadcast(proto::message_kind kind, std::string_view payload,
                             const std::function<bool(const session&)>* filter) {
    broadcast_result r;
    // The peer would fail us with 1007; check once, not per session.
    if (kind == proto::message_kind::text && shared_->cfg.protocol.check_outgoing_utf8 &&
        !is_valid_utf8(payload)) {
      r.error = error::invalid_utf8;
      return r;
    }
    const auto frame = make_shared_frame(kind, payload);
    for (auto& s : sessions()) {
      if (filter && !(*filter)(*s)) continue;
      auto& e = static_cast<endpoint&>(static_cast<session_impl&>(*s));
      if (e.send_shared(frame)) ++r.refused; else ++r.queued;
    }
    return r;
  }

  std::shared_ptr<server_shared> shared_;

 private:
  void accept_next() {
    if (!acceptor_.is_open()) return;
    // Accepting with the peer's address saves a getpeername() per connection.
    acceptor_.async_accept(
        shared_->ioc, peer_,
        [self = shared_from_this()](const boost::system::error_code& ec, socket_type sock) {
          self->on_accept(ec, std::move(sock));
        });
  }

  void on_accept(const boost::system::error_code& ec, socket_type sock) {
    if (ec == asio::error::operation_aborted || !acceptor_.is_open()) return;
    if (ec) {
      // Out of descriptors or memory: pause briefly instead of spinning.
      retry_.expires_after(std::chrono::milliseconds(50));
      retry_.async_wait([self = shared_from_this()](const boost::system::error_code& wec) {
        if (!wec) self->accept_next();
      });
      return;
    }
    // Count before the handshake: a burst of connects must not overshoot.
    const std::size_t limit = shared_->cfg.max_connections;
    bool counted = true;
    if (limit != 0 && shared_->admitted.fetch_add(1, std::memory_order_relaxed) >= limit) {
      shared_->admitted.fetch_sub(1, std::memory_order_relaxed);
      counted = false;
    } else if (limit == 0) {
      shared_->admitted.fetch_add(1, std::memory_order_relaxed);
    }
    std::make_shared<session_impl>(shared_, std::move(sock), peer_, counted)->launch();
    accept_next();
  }

  tcp::acceptor acceptor_;
  tcp::endpoint peer_;  ///< filled by the accept in flight (one at a time)
  asio::steady_timer retry_;
  std::atomic<std::uint16_t> port_{0};
};

}  // namespace detail

// ---------------------------------------------------------------- session --

detail::session_impl& session::impl() noexcept { return static_cast<detail::session_impl&>(*this); }
const detail::session_impl& session::impl() const noexcept {
  return static_cast<const detail::session_impl&>(*this);
}

namespace {
// session_impl is both a session and an endpoint; name the endpoint side.
detail::endpoint& ep(detail::session_impl& s) { return s; }
const detail::endpoint& ep(const detail::session_impl& s) { return s; }
}  // namespace

std::uint64_t session::id() const noexcept { return impl().id_; }
std::shared_ptr<session> session::shared() { return {ep(impl()).shared_from_this(), this}; }
std::error_code session::send_text(std::string_view text) {
  return ep(impl()).send(proto::message_kind::text, text);
}
std::error_code session::send_binary(std::string_view data) {
  return ep(impl()).send(proto::message_kind::binary, data);
}
std::error_code session::send(proto::message_kind kind, std::string_view payload) {
  return ep(impl()).send(kind, payload);
}
std::error_code session::ping(std::string_view payload) { return ep(impl()).ping(payload); }
std::error_code session::close(close_code code, std::string_view reason) {
  return ep(impl()).close(code, reason, false);
}
std::error_code session::close_endpoint(close_code code, std::string_view reason) {
  return ep(impl()).close(code, reason, true);
}
void session::abort() { ep(impl()).abort_connection(); }
std::size_t session::buffered_amount() const noexcept { return ep(impl()).buffered_amount(); }
proto::state session::state() const noexcept { return ep(impl()).public_state(); }
namespace {
const detail::request_info& info_of(const detail::session_impl& s) noexcept {
  static const detail::request_info none;
  return s.info_ ? *s.info_ : none;
}
}  // namespace

const proto::upgrade_request& session::request() const noexcept { return info_of(impl()).request; }
const std::string& session::subprotocol() const noexcept { return info_of(impl()).subprotocol; }
const boost::asio::ip::tcp::endpoint& session::remote_endpoint() const noexcept {
  return impl().remote_;
}

// ----------------------------------------------------------------- server --

server::server(boost::asio::io_context& ioc, server_config cfg)
    : impl_(std::make_shared<detail::server_impl>(ioc, std::move(cfg))) {}

server::~server() { impl_->detach_and_abort(); }

void server::on_connect(std::function<accept_decision(const proto::upgrade_request&)> f) {
  impl_->shared_->on_connect = std::move(f);
}
void server::on_select_subprotocol(
    std::function<std::string(const std::vector<std::string>& offered)> f) {
  impl_->shared_->select_subprotocol = std::move(f);
}
void server::on_open(std::function<void(session&)> f) { impl_->shared_->on_open = std::move(f); }
void server::on_message(std::function<void(session&, proto::message_kind, std::string_view)> f) {
  impl_->shared_->on_message = std::move(f);
}
void server::on_close(std::function<void(session&, const close_event&)> f) {
  impl_->shared_->on_close = std::move(f);
}
std::error_code server::listen(std::string_view address, std::uint16_t port) {
  return impl_->listen(address, port);
}
std::uint16_t server::port() const noexcept { return impl_->port(); }
void server::stop_accepting() { impl_->stop_accepting(); }
std::vector<std::shared_ptr<session>> server::sessions() const { return impl_->sessions(); }
std::size_t server::session_count() const noexcept { return impl_->session_count(); }

void server::shutdown(shutdown_options opts, std::function<void(const shutdown_summary&)> done) {
  impl_->shutdown(std::move(opts), std::move(done));
}

shutdown_summary server::shutdown_and_wait(shutdown_options opts) {
  if (impl_->shared_->ioc.get_executor().running_in_this_thread()) {
    shutdown_summary s;
    s.error = error::invalid_argument;
    return s;
  }
  auto p = std::make_shared<std::promise<shutdown_summary>>();
  auto f = p->get_future();
  impl_->shutdown(std::move(opts), [p](const shutdown_summary& s) { p->set_value(s); });
  try {
    return f.get();
  } catch (const std::future_error&) {
    // The server was destroyed during the shutdown: `done` was dropped unrun.
    shutdown_summary s;
    s.error = error::aborted;
    return s;
  }
}

broadcast_result server::broadcast(proto::message_kind kind, std::string_view payload) {
  return impl_->broadcast(kind, payload, nullptr);
}

broadcast_result server::broadcast(proto::message_kind kind, std::string_view payload,
                                   const std::function<bool(const session&)>& filter) {
  return impl_->broadcast(kind, payload, &filter);
}

std::uint64_t server::shed_count() const noexcept {
  return impl_->shared_->shed.load(std::memory_order_relaxed);
}

}  // namespace closewise::net

#include "closewise/net/session.hpp"

#include <charconv>
#include <utility>

#include "admission.hpp"
#include "health.hpp"
#include "jitter.hpp"
#include "session_impl.hpp"
#include "shutdown.hpp"

namespace closewise::net {
namespace detail {
namespace {

/// The status of a refusal closewise built (proto::server_handshake::refuse
/// and error_response): "HTTP/1.1 NNN Reason".
unsigned status_of(std::string_view response) noexcept {
  unsigned s = 0;
  if (response.size() >= 12) (void)std::from_chars(response.data() + 9, response.data() + 12, s);
  return s;
}

}  // namespace

session_impl::session_impl(std::shared_ptr<server_shared> shared, asio::io_context& ctx,
                           socket_type sock, const tcp::endpoint& remote, bool counted)
    : remote_(remote),
      counted_(counted),
      shed_(!counted),
      shared_(std::move(shared)),
      drv_(*this, ctx, shared_->session_strand(), proto::role::server, shared_->limits,
           shared_->cfg.close_slow_consumers) {
  drv_.socket() = std::move(sock);
  drv_.report_drain(static_cast<bool>(shared_->on_drain));
}

session_impl::~session_impl() {
  shared_->unlink(this);
  release_slot();
}

void session_impl::launch() {
  drv_.dispatch_to_ex([self = shared_impl()] {
    driver::scope s(self->drv_);
    self->start();
  });
}

void session_impl::start() {
  drv_.prepare_socket();
  hs_ = std::make_unique<proto::server_handshake>(shared_->cfg.handshake_limits);
  drv_.run(drv_.lifecycle().accepted(shared_->tls_ctx != nullptr));
  if (shared_->tls_ctx) {
    (void)drv_.start_tls(*shared_->tls_ctx);
    drv_.start_tls_handshake();
    return;
  }
  // The request has usually arrived by the time a connection is accepted.
  // Read it whole now: a first read through the reactor takes only 64 bytes
  // (the connection's idle buffer), and the rest one scheduler pass later.
  drv_.read_arrived();
}

void session_impl::tls_handshake_done(const boost::system::error_code& ec) {
  auto& life = drv_.lifecycle();
  if (life.state() != transport_state::tls_handshake) return;
  drv_.run(ec ? life.transport_error(error::tls_error) : life.tls_established());
}

void session_impl::upgrade_bytes(char* data, std::size_t size) {
  if (rs_ && rs_->waiting) {
    rs_->rest.append(data, size);  // the store is still answering
    return;
  }
  std::size_t consumed = 0;
  switch (hs_->receive(std::string_view(data, size), consumed)) {
    case proto::server_handshake::result::need_more:
      return;
    case proto::server_handshake::result::invalid:
      // A load balancer's plain GET of the health path is no upgrade.
      if (auto answer = health_answer(*shared_, hs_->request())) {
        refuse(std::move(*answer));
        return;
      }
      // RFC 6455 §4.2.1: a bad request gets an HTTP error (400, or 426 with
      // the supported version) and the server closes the connection.
      refuse(hs_->error_response());
      return;
    case proto::server_handshake::result::valid:
      break;
  }
  auto a = admit(*shared_, *hs_, shed_);
  switch (a.what) {
    case admission::verdict::refuse:
      refuse(std::move(a.response));
      return;
    case admission::verdict::close_1013:
      close_1013(a.reason, data + consumed, size - consumed);
      return;
    case admission::verdict::accept:
      break;
  }
  // A shutdown that started meanwhile takes no new session (linked under its lock).
  if (!shared_->link(this)) {
    proto::http_headers h;
    if (auto st = shared_->current_shutdown()) {
      st->on_refused();
      h = st->refusal_headers();
    }
    refuse(proto::server_handshake::refuse(503, h, "shutting down"));
    return;
  }
  if (shared_->cfg.resume_store) {
    if (auto o = resume::find_offer(hs_->request().extensions)) {
      negotiate_resume(std::move(*o), std::string(a.subprotocol), data + consumed, size - consumed);
      return;
    }
  }
  accept(a.subprotocol, data + consumed, size - consumed);
}

void session_impl::accept(std::string_view subprotocol, char* rest, std::size_t rest_size,
                          std::string_view extensions) {
  const server_config& cfg = shared_->cfg;
  std::string response = hs_->accept(subprotocol, cfg.deflate, extensions);
  proto::config pc = cfg.protocol;
  pc.deflate = hs_->deflate();
  if (rs_) pc.extension_control_opcodes |= resume::ack_opcode_bit;
  request_info info{hs_->request(), std::string(subprotocol)};
  if (!cfg.keep_request_headers) {
    info.request.headers = {};
    info.request.extensions = {};
  }
  info_ = shared_->intern(std::move(info));
  hs_.reset();
  id_ = shared_->next_id.fetch_add(1, std::memory_order_relaxed);
  drv_.write_upgrade(std::move(response));
  drv_.open(std::move(pc));
  if (rs_) rs_->link->start();  // docs/resume.md §4.4: the replay goes first
  drv_.start_heartbeat(heartbeat_config{cfg.idle_ping_interval, cfg.idle_timeout},
                       jitter_uniform());
  if (cfg.observer) cfg.observer->connection_opened(metrics::role::server);
  if (shared_->on_open) {
    callback_gate::scope g(shared_->gate);
    if (g.open()) shared_->on_open(*this);
  }
  if (rs_) resume_report();
  // A client may send frames right behind its request.
  if (rest_size != 0) drv_.receive_frames(rest, rest_size);
}

void session_impl::close_1013(const std::string& reason, char* rest, std::size_t rest_size) {
  // Accepted only to be closed at once; no session events: the application
  // never saw this connection.
  std::string response = hs_->accept({}, {});
  hs_.reset();
  drv_.write_upgrade(std::move(response));
  drv_.open(shared_->cfg.protocol);
  (void)drv_.close(close_code::try_again_later, reason, close_rules::endpoint);
  if (rest_size != 0) drv_.receive_frames(rest, rest_size);
}

void session_impl::refuse(std::string response) {
  if (const auto& o = shared_->cfg.observer)
    o->handshake_refused(metrics::role::server, status_of(response));
  hs_.reset();
  release_slot();  // a refused client no longer counts against max_connections
  drv_.run(drv_.lifecycle().refuse());
  drv_.write_upgrade(std::move(response));
}

void session_impl::upgrade_written() {
  // The refusal is out: the lifecycle sends our FIN and reads on to the client's.
  drv_.run(drv_.lifecycle().refusal_written());
}

void session_impl::release_slot() noexcept {
  // Idempotent; on the executor or in the destructor.
  if (std::exchange(counted_, false)) give_back_slot(*shared_);
}

void session_impl::ended_before_open(std::error_code ec, initiator who) {
  // Before the 101 nothing was reported, so nothing is: the socket is dropped.
  release_slot();
  hs_.reset();
  // A session is linked before its resume store answers (negotiate_resume),
  // so a shutdown that started meanwhile counts it and waits for its end:
  // without this, a store that answered late (or never) held the shutdown,
  // and `closewise serve`, forever.
  if (auto st = shared_->unlink(this)) {
    close_event ev;
    ev.error = ec;
    ev.initiator = who;
    st->on_session_end(ev);
  }
}

void session_impl::ended(const close_event& ev) {
  release_slot();
  if (shed_) return;
  resume_ended(ev);
  auto in_shutdown = shared_->unlink(this);
  if (const auto& o = shared_->cfg.observer) o->connection_closed(metrics::role::server, ev);
  if (shared_->on_close) {
    callback_gate::scope g(shared_->gate);
    if (g.open()) shared_->on_close(*this, ev);
  }
  // After on_close, so the summary comes after every session's last event.
  if (in_shutdown) in_shutdown->on_session_end(ev);
}

void session_impl::drained() {
  if (rs_ && rs_->link) rs_->link->drained();
  if (shed_ || !shared_->on_drain) return;
  callback_gate::scope g(shared_->gate);
  if (g.open()) shared_->on_drain(*this);
}

void session_impl::on_message(proto::message_kind kind, std::string_view payload) {
  if (shed_) return;
  resume::seq n = 0;
  resume_link* link = rs_ ? rs_->link.get() : nullptr;
  if (link && !link->on_message(payload.size(), n)) return;
  if (shared_->on_message) {
    callback_gate::scope g(shared_->gate);
    if (g.open()) shared_->on_message(*this, kind, payload);
  }
}

#if defined(__x86_64__) && defined(__GLIBCXX__) && !defined(_GLIBCXX_DEBUG)
// An idle connection must stay under 1 KiB of user-space memory (ARCHITECTURE
// §6): the session (with its protocol state inline) is most of it, next to
// Asio's pending read (136 bytes) and descriptor state (168 bytes). The echo
// benchmark measures the whole: bench/RESULTS.md.
static_assert(sizeof(session_impl) <= 576,
              "an idle session grew: re-measure bench/echo idle memory");
#endif

}  // namespace detail

// ---------------------------------------------------------------- session --

detail::session_impl& session::impl() noexcept { return static_cast<detail::session_impl&>(*this); }
const detail::session_impl& session::impl() const noexcept {
  return static_cast<const detail::session_impl&>(*this);
}

namespace {
const detail::request_info& info_of(const detail::session_impl& s) noexcept {
  static const detail::request_info none;
  return s.info_ ? *s.info_ : none;
}
}  // namespace

std::uint64_t session::id() const noexcept { return impl().id_; }
std::shared_ptr<session> session::shared() { return {impl().shared_from_this(), this}; }
std::error_code session::send_text(std::string_view text) {
  return send(proto::message_kind::text, text);
}
std::error_code session::send_binary(std::string_view data) {
  return send(proto::message_kind::binary, data);
}
std::error_code session::send(proto::message_kind kind, std::string_view payload) {
  if (auto* l = impl().resume_link_or_null()) return l->send(kind, payload);
  return impl().drv().send(kind, payload);
}
std::error_code session::send_owned(proto::message_kind kind, std::string& payload) {
  if (auto* l = impl().resume_link_or_null()) return l->send(kind, std::move(payload));
  return impl().drv().send(kind, payload);
}
std::error_code session::ping(std::string_view payload) { return impl().drv().ping(payload); }
std::error_code session::close(close_code code, std::string_view reason) {
  return impl().drv().close(code, reason, detail::close_rules::application);
}
std::error_code session::close_endpoint(close_code code, std::string_view reason) {
  return impl().drv().close(code, reason, detail::close_rules::endpoint);
}
std::error_code session::close_relay(close_code code, std::string_view reason) {
  return impl().drv().close(code, reason, detail::close_rules::relay);
}
void session::abort() { impl().drv().abort(); }
void session::pause_reading() { impl().drv().pause_reading(); }
void session::resume_reading() { impl().drv().resume_reading(); }
std::size_t session::buffered_amount() const noexcept { return impl().drv().buffered_amount(); }
proto::state session::state() const noexcept { return impl().drv().public_state(); }
const proto::upgrade_request& session::request() const noexcept { return info_of(impl()).request; }
const std::string& session::subprotocol() const noexcept { return info_of(impl()).subprotocol; }
const boost::asio::ip::tcp::endpoint& session::remote_endpoint() const noexcept {
  return impl().remote_;
}

}  // namespace closewise::net

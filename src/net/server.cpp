#include "closewise/net/server.hpp"

#include <algorithm>
#include <mutex>
#include <utility>

#include <boost/asio/ip/address.hpp>
#include <boost/asio/dispatch.hpp>
#include <boost/asio/post.hpp>
#include <boost/asio/ssl/context.hpp>

#include "closewise/error.hpp"
#include "endpoint.hpp"

namespace closewise::net {
namespace detail {

class session_impl;

/// What the server and its sessions share; sessions keep it alive, so the
/// server handle can go away while connections finish.
struct server_shared {
  server_shared(asio::io_context& io, server_config c) : ioc(io), cfg(std::move(c)) {}

  asio::io_context& ioc;
  server_config cfg;
  std::shared_ptr<ssl::context> tls_ctx;
  std::function<accept_decision(const proto::upgrade_request&)> on_connect;
  std::function<void(session&)> on_open;
  std::function<void(session&, proto::message_kind, std::string_view)> on_message;
  std::function<void(session&, const close_event&)> on_close;
  std::atomic<bool> detached{false};
  std::atomic<std::uint64_t> next_id{1};

  // Open sessions, an intrusive list so a session costs two pointers here.
  mutable std::mutex mu;
  session_impl* head = nullptr;
  session_impl* tail = nullptr;
  std::size_t count = 0;

  void link(session_impl* s);
  void unlink(session_impl* s);
};

class session_impl final : public session, public endpoint {
 public:
  session_impl(std::shared_ptr<server_shared> shared, tcp::socket sock)
      : endpoint(shared->ioc, sock.get_executor(), proto::role::server, shared->cfg),
        shared_(std::move(shared)) {
    sock_ = std::move(sock);
    boost::system::error_code ignored;
    remote_ = sock_.remote_endpoint(ignored);
  }

  ~session_impl() override { shared_->unlink(this); }

  /// Starts the TLS and HTTP handshakes on the session's own executor.
  void launch() {
    asio::dispatch(ex_, [self = shared_impl()] {
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
      tls_ = std::make_unique<ssl::stream<tcp::socket&>>(sock_, *shared_->tls_ctx);
      tls_->async_handshake(ssl::stream_base::server,
                            [self = shared_impl()](const boost::system::error_code& ec) {
                              scope s(*self);
                              if (self->phase_ != phase::tls_handshake) return;
                              if (ec) {
                                self->fail_before_open(error::tls_error);
                                return;
                              }
                              self->phase_ = phase::http_handshake;
                            });
    } else {
      phase_ = phase::http_handshake;
    }
    hs_ = std::make_unique<proto::server_handshake>(shared_->cfg.handshake_limits);
  }

  std::shared_ptr<session_impl> shared_impl() {
    return std::static_pointer_cast<session_impl>(shared_from_this());
  }

 public:
  std::uint64_t id_ = 0;
  proto::upgrade_request request_;
  std::string subprotocol_;
  tcp::endpoint remote_;
  session_impl* prev_ = nullptr;
  session_impl* next_ = nullptr;
  bool linked_ = false;  // guarded by server_shared::mu

 private:
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
    accept_decision d = accept_decision::accepted();
    if (shared_->on_connect && !detached()) d = shared_->on_connect(hs_->request());
    if (!d.accept) {
      refuse(proto::server_handshake::refuse(d.status, d.headers, d.body));
      return;
    }
    cancel_timer();
    std::string response = hs_->accept(d.subprotocol, shared_->cfg.deflate);
    proto::config pc = shared_->cfg.protocol;
    pc.deflate = hs_->deflate();
    request_ = hs_->request();
    if (!shared_->cfg.keep_request_headers) {
      request_.headers = {};
      request_.extensions = {};
    }
    subprotocol_ = std::move(d.subprotocol);
    hs_.reset();
    id_ = shared_->next_id.fetch_add(1, std::memory_order_relaxed);
    write_raw(std::move(response));
    open_connection(std::move(pc));
    shared_->link(this);
    if (shared_->on_open && !detached()) shared_->on_open(*this);
    // A client may send frames right behind its request.
    if (consumed < size) receive_frames(data + consumed, size - consumed);
  }

  void refuse(std::string response) {
    refusing_ = true;
    hs_.reset();
    write_raw(std::move(response));
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
    if (shared_->on_message && !shared_->detached.load(std::memory_order_acquire))
      shared_->on_message(*this, kind, payload);
  }

  void deliver_close(const close_event& ev) override {
    shared_->unlink(this);
    if (shared_->on_close && !shared_->detached.load(std::memory_order_acquire))
      shared_->on_close(*this, ev);
  }

  std::shared_ptr<server_shared> shared_;
  std::unique_ptr<proto::server_handshake> hs_;
  bool refusing_ = false;
};

void server_shared::link(session_impl* s) {
  std::lock_guard lock(mu);
  s->prev_ = tail;
  s->next_ = nullptr;
  (tail ? tail->next_ : head) = s;
  tail = s;
  s->linked_ = true;
  ++count;
}

void server_shared::unlink(session_impl* s) {
  std::lock_guard lock(mu);
  if (!s->linked_) return;
  (s->prev_ ? s->prev_->next_ : head) = s->next_;
  (s->next_ ? s->next_->prev_ : tail) = s->prev_;
  s->prev_ = s->next_ = nullptr;
  s->linked_ = false;
  --count;
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

  std::shared_ptr<server_shared> shared_;

 private:
  void accept_next() {
    if (!acceptor_.is_open()) return;
    acceptor_.async_accept(
        make_executor(shared_->ioc, shared_->cfg.use_strand),
        [self = shared_from_this()](const boost::system::error_code& ec, tcp::socket sock) {
          self->on_accept(ec, std::move(sock));
        });
  }

  void on_accept(const boost::system::error_code& ec, tcp::socket sock) {
    if (ec == asio::error::operation_aborted || !acceptor_.is_open()) return;
    if (ec) {
      // Out of descriptors or memory: pause briefly instead of spinning.
      retry_.expires_after(std::chrono::milliseconds(50));
      retry_.async_wait([self = shared_from_this()](const boost::system::error_code& wec) {
        if (!wec) self->accept_next();
      });
      return;
    }
    std::make_shared<session_impl>(shared_, std::move(sock))->launch();
    accept_next();
  }

  tcp::acceptor acceptor_;
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
const proto::upgrade_request& session::request() const noexcept { return impl().request_; }
const std::string& session::subprotocol() const noexcept { return impl().subprotocol_; }
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

}  // namespace closewise::net

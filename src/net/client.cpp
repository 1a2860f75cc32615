#include "closewise/net/client.hpp"

#include <utility>

#include <openssl/err.h>
#include <openssl/ssl.h>
#include <boost/asio/connect.hpp>
#include <boost/asio/ssl/error.hpp>

#include "closewise/error.hpp"
#include "closewise/net/url.hpp"
#include "driver.hpp"
#include "jitter.hpp"
#include "resume_client.hpp"
#include "tls_context.hpp"
#include "transport_error.hpp"

namespace closewise::net {
namespace detail {

namespace {

transport_limits limits_of(const client_config& c) {
  transport_limits l;
  l.connect_timeout = c.connect_timeout;
  l.handshake_timeout = c.handshake_timeout;
  l.close_timeout = c.close_timeout;
  l.close_linger = c.close_linger;
  l.max_buffered = c.max_buffered;
  return l;
}

}  // namespace

/// One client connection: DNS, TCP, TLS and the client's half of the HTTP
/// upgrade (RFC 6455 §4.1); everything after open is the driver's.
class client_impl final : public driver_owner {
 public:
  client_impl(asio::io_context& ioc, client_config cfg)
      : cfg_(std::move(cfg)),
        limits_(limits_of(cfg_)),
        drv_(*this, ioc, cfg_.use_strand, proto::role::client, limits_, false),
        resolver_(drv_.ioc_ex()) {}

  std::function<void(const open_info&)> on_open_;
  client::message_handler on_message_;
  std::function<void(std::string_view)> on_pong_;
  std::function<void(std::string_view)> on_ping_;
  std::function<void(const close_event&)> on_close_;
  std::function<void(std::error_code)> on_error_;
  std::function<void(const proto::handshake_failure&)> on_refused_;
  std::function<void(proto::message_kind, std::string_view, std::error_code)> on_undelivered_;
  std::function<void()> on_drain_;
  std::function<void(resume::client_outcome&)> on_resume_;

  driver& drv() noexcept { return drv_; }
  /// The resume link once negotiated (read from any thread by send).
  resume_link* link() const noexcept { return link_ptr_.load(std::memory_order_acquire); }

  std::error_code connect(std::string_view url_text) {
    ws_url url;
    if (auto ec = parse_ws_url(url_text, url)) return ec;
    if (started_.exchange(true)) return error::connect_in_progress;
    if (url.secure) {
      if (auto ec = make_tls_context(cfg_.tls, tls_ctx_)) {
        started_.store(false);
        return ec;
      }
    }
    drv_.post_to_ex([self = shared_impl(), url = std::move(url)]() mutable {
      driver::scope s(self->drv_);
      self->start(std::move(url));
    });
    return {};
  }

 private:
  std::shared_ptr<client_impl> shared_impl() {
    return std::static_pointer_cast<client_impl>(shared_from_this());
  }
  transport_lifecycle& life() noexcept { return drv_.lifecycle(); }
  bool live() const noexcept { return !drv_.detached(); }

  void start(ws_url url) {
    if (life().state() != transport_state::idle) return;
    url_ = std::move(url);
    drv_.run(life().start_connect());
    drv_.on_ex(
        [this](auto h) {
          resolver_.async_resolve(url_.host, std::to_string(url_.port), std::move(h));
        },
        [self = shared_impl()](const boost::system::error_code& ec,
                               tcp::resolver::results_type results) {
          driver::scope s(self->drv_);
          self->on_resolved(ec, std::move(results));
        });
  }

  void on_resolved(const boost::system::error_code& ec, tcp::resolver::results_type results) {
    if (life().state() != transport_state::connecting) return;
    if (ec) {
      drv_.run(life().transport_error(ec == asio::error::operation_aborted ? error::aborted
                                                                           : error::dns_failure));
      return;
    }
    drv_.on_ex([&](auto h) { asio::async_connect(drv_.socket(), results, std::move(h)); },
               [self = shared_impl()](const boost::system::error_code& cec, const tcp::endpoint&) {
                 driver::scope s(self->drv_);
                 self->on_connected(cec);
               });
  }

  void on_connected(const boost::system::error_code& ec) {
    if (life().state() != transport_state::connecting) return;
    if (ec) {
      drv_.run(life().transport_error(map_transport_error(ec)));
      return;
    }
    if (connected_to_itself()) {
      // Nothing listened: the kernel chose the server's own port as our
      // ephemeral port and TCP simultaneous open (RFC 9293 §3.5) joined the
      // socket to itself. It would hold the port a restarting server needs:
      // the close is an abort (RST), so no TIME_WAIT keeps it either.
      boost::system::error_code ignored;
      drv_.socket().set_option(tcp::socket::linger(true, 0), ignored);
      drv_.run(life().transport_error(error::connection_refused));
      return;
    }
    drv_.prepare_socket();
    drv_.run(life().connected(url_.secure));
    if (url_.secure) {
      start_tls();
    } else {
      start_http();
    }
  }

  bool connected_to_itself() {
    boost::system::error_code a, b;
    const auto local = drv_.socket().local_endpoint(a);
    const auto remote = drv_.socket().remote_endpoint(b);
    return !a && !b && local == remote;
  }

  void start_tls() {
    auto& tls = drv_.start_tls(*tls_ctx_);
    const std::string name = cfg_.tls.server_name.empty() ? url_.host : cfg_.tls.server_name;
    // RFC 6066 §3: SNI carries host names only, never IP literals.
    const bool sni = !url_.host_is_ip || !cfg_.tls.server_name.empty();
    tls.set_client_identity(sni ? name.c_str() : nullptr, name.c_str(),
                            url_.host_is_ip && cfg_.tls.server_name.empty(), cfg_.tls.verify);
    drv_.start_tls_handshake();
  }

  void tls_handshake_done(const boost::system::error_code& ec) override { on_tls_handshake(ec); }

  void on_tls_handshake(const boost::system::error_code& ec) {
    if (life().state() != transport_state::tls_handshake) return;
    if (ec) {
      drv_.run(life().transport_error(tls_failure(ec)));
      return;
    }
    drv_.run(life().tls_established());
    start_http();
  }

  std::error_code tls_failure(const boost::system::error_code& ec) {
    if (SSL_get_verify_result(drv_.tls()->native_handle()) != X509_V_OK)
      return error::tls_verify_failed;
    if (ec.category() == asio::error::get_ssl_category() &&
        ERR_GET_REASON(static_cast<unsigned long>(ec.value())) == SSL_R_CERTIFICATE_VERIFY_FAILED)
      return error::tls_verify_failed;
    return error::tls_error;
  }

  void start_http() {
    proto::client_request_options o;
    o.host = url_.host_header;
    o.target = url_.target;
    o.origin = cfg_.origin;
    o.subprotocols = cfg_.subprotocols;
    o.deflate = cfg_.deflate;
    o.extra_headers = cfg_.extra_headers;
    if (cfg_.resume) o.extensions = {resume_offer(*cfg_.resume)};
    hs_.emplace(std::move(o), cfg_.handshake_limits);
    drv_.write_upgrade(hs_->request());
    // The scope's end starts reading the response.
  }

  // ---- driver_owner ---------------------------------------------------------------
  void upgrade_bytes(char* data, std::size_t size) override {
    const std::string_view bytes(data, size);
    std::size_t consumed = 0;
    switch (hs_->receive(bytes, consumed)) {
      case proto::client_handshake::result::need_more:
        return;
      case proto::client_handshake::result::failed:
        if (hs_->failure() && cfg_.observer)
          cfg_.observer->handshake_refused(metrics::role::client, hs_->failure()->status);
        if (hs_->failure() && on_refused_ && live()) on_refused_(*hs_->failure());
        drv_.run(
            life().upgrade_failed(hs_->error() ? hs_->error() : std::error_code(error::bad_http)));
        return;
      case proto::client_handshake::result::accepted:
        break;
    }
    open_info info;
    info.subprotocol = hs_->subprotocol();
    info.deflate = hs_->deflate();
    info.response_headers = hs_->response_headers();
    proto::config pc = cfg_.protocol;
    pc.deflate = hs_->deflate();
    if (cfg_.resume && !negotiate_resume(pc)) return;
    hs_.reset();
    drv_.open(std::move(pc));
    if (link_) link_->start();  // docs/resume.md §4.4: the replay goes first
    drv_.start_heartbeat(cfg_.heartbeat, cfg_.uniform ? cfg_.uniform() : jitter_uniform());
    if (cfg_.observer) cfg_.observer->connection_opened(metrics::role::client);
    if (on_open_ && live()) on_open_(info);
    // Frames that arrived with the 101 answer belong to the connection.
    if (consumed < size) drv_.receive_frames(data + consumed, size - consumed);
  }

  /// docs/metrics.md, "Resume": one event per negotiation that offered a session.
  static void report_resume(metrics::observer& o, const resume::client_outcome& out) {
    using k = resume::client_outcome_kind;
    switch (out.kind) {
      case k::resumed:
        o.resumed(metrics::role::client);
        o.replayed(metrics::role::client, static_cast<std::size_t>(out.replay_out));
        return;
      case k::refused:
        o.resume_failed(metrics::role::client, resume::to_string(out.status));
        return;
      case k::not_negotiated:
        o.resume_failed(metrics::role::client, "not_supported");
        return;
      case k::failed:
        o.resume_failed(metrics::role::client, "bad_answer");
        return;
      case k::fresh:
        return;
    }
  }

  /// docs/resume.md §10, client step 2. False: the answer broke the protocol.
  bool negotiate_resume(proto::config& pc) {
    auto a = read_resume_answer(*cfg_.resume, drv_, hs_->extensions());
    if (cfg_.observer) report_resume(*cfg_.observer, a.outcome);
    if (on_resume_ && live()) on_resume_(a.outcome);
    if (a.outcome.kind == resume::client_outcome_kind::failed) {
      hs_.reset();
      drv_.run(life().upgrade_failed(a.outcome.failure));
      return false;
    }
    if (a.link) {
      pc.extension_control_opcodes |= resume::ack_opcode_bit;
      a.link->on_room = [this] { drained(); };
      link_ = std::move(a.link);
      link_ptr_.store(link_.get(), std::memory_order_release);
    }
    return true;
  }
  void stop_link() {
    if (link_) link_->stop();
  }
  void ended_before_open(std::error_code why, initiator who) override {
    stop_link();
    resolver_.cancel();
    hs_.reset();
    if (cfg_.observer) cfg_.observer->connect_failed(metrics::role::client, why);
    if (!live()) return;
    if (on_error_) on_error_(why);
    // Browsers report 1006 for every failed attempt; closewise uses 1015 for TLS (ARCHITECTURE §2).
    const bool tls = why == error::tls_verify_failed || why == error::tls_error;
    if (on_close_)
      on_close_(
          close_event{tls ? close_code::tls_handshake : close_code::abnormal, "", false, who, why});
  }

  void ended(const close_event& ev) override {
    stop_link();
    if (cfg_.observer) cfg_.observer->connection_closed(metrics::role::client, ev);
    if (on_close_ && live()) on_close_(ev);
  }

  void undelivered(proto::message_kind kind, std::string_view payload,
                   std::error_code why) override {
    if (cfg_.observer) cfg_.observer->undelivered(why, 1);
    if (!live()) return;
    if (on_undelivered_) {
      on_undelivered_(kind, payload, why);
    } else if (on_error_) {
      on_error_(error::not_sent);
    }
  }

  void drained() override {
    if (link_) link_->drained();
    if (on_drain_ && live()) on_drain_();
  }

  // ---- proto::handler: messages go straight to the application --------------------
  void on_message(proto::message_kind kind, std::string_view payload) override {
    resume::seq n = 0;
    if (link_ && !link_->on_message(payload.size(), n)) return;
    if (on_message_ && live()) on_message_(kind, payload);
  }
  void on_extension_control(std::uint8_t op, std::string_view payload) override {
    if (link_) link_->on_control(op, payload);
  }
  // docs/resume.md §5.2: what was received is acked before this side's close
  // frame, or its echo, so the server does not hand back as "maybe lost"
  // what the application here already has.
  void on_close_frame(close_code, std::string_view) override {
    if (link_) link_->before_close();
  }
  void before_local_close() override {
    if (link_) link_->before_close();
  }
  void on_ping(std::string_view payload) override {
    if (on_ping_ && live()) on_ping_(payload);
  }
  void on_pong(std::string_view payload) override {
    if (on_pong_ && live()) on_pong_(payload);
  }
  void on_closed(const close_event&) override {}  // the lifecycle takes over at the turn's end

  client_config cfg_;
  transport_limits limits_;
  driver drv_;
  asio::ip::basic_resolver<tcp, io_executor> resolver_;
  std::shared_ptr<ssl::context> tls_ctx_;
  ws_url url_;
  std::optional<proto::client_handshake> hs_;
  std::atomic<bool> started_{false};
  std::unique_ptr<resume_link> link_;
  std::atomic<resume_link*> link_ptr_{nullptr};
};

}  // namespace detail

client::client(boost::asio::io_context& ioc, client_config cfg)
    : impl_(std::make_shared<detail::client_impl>(ioc, std::move(cfg))) {}

client::~client() {
  if (!impl_) return;
  auto& d = impl_->drv();
  d.detach();
  // An open connection says goodbye (1001, RFC 6455 §7.4.1 "going away"); an
  // attempt in progress is cancelled; a close handshake in progress finishes
  // on its own (bounded by close_timeout and close_linger). The impl lives on
  // in its handlers.
  switch (d.public_state()) {
    case proto::state::open:
      // What arrived is acked first: the server then keeps nothing as "maybe
      // lost" that this side has.
      ack_now();
      (void)d.close(close_code::going_away, {}, detail::close_rules::endpoint);
      break;
    case proto::state::closed:
      break;
    default:
      d.abort();
      break;
  }
}

client::client(client&&) noexcept = default;
client& client::operator=(client&& other) noexcept {
  if (this != &other) {
    client old(std::move(*this));
    impl_ = std::move(other.impl_);
  }
  return *this;
}

void client::on_open(std::function<void(const open_info&)> f) { impl_->on_open_ = std::move(f); }
void client::on_message(message_handler f) { impl_->on_message_ = std::move(f); }
void client::on_pong(std::function<void(std::string_view)> f) { impl_->on_pong_ = std::move(f); }
void client::on_ping(std::function<void(std::string_view)> f) { impl_->on_ping_ = std::move(f); }
void client::on_close(std::function<void(const close_event&)> f) {
  impl_->on_close_ = std::move(f);
}
void client::on_error(std::function<void(std::error_code)> f) { impl_->on_error_ = std::move(f); }
void client::on_refused(std::function<void(const proto::handshake_failure&)> f) {
  impl_->on_refused_ = std::move(f);
}
void client::on_undelivered(
    std::function<void(proto::message_kind, std::string_view, std::error_code)> f) {
  impl_->on_undelivered_ = std::move(f);
}
void client::on_resume(std::function<void(resume::client_outcome&)> f) {
  impl_->on_resume_ = std::move(f);
}
void client::on_drain(std::function<void()> f) {
  impl_->drv().report_drain(static_cast<bool>(f));
  impl_->on_drain_ = std::move(f);
}

std::error_code client::connect(std::string_view url) { return impl_->connect(url); }
std::error_code client::send_text(std::string_view text) {
  return send(proto::message_kind::text, text);
}
std::error_code client::send_binary(std::string_view data) {
  return send(proto::message_kind::binary, data);
}
std::error_code client::send(proto::message_kind kind, std::string_view payload) {
  if (auto* l = impl_->link()) return l->send(kind, payload);
  return impl_->drv().send(kind, payload);
}
std::error_code client::send_owned(proto::message_kind kind, std::string& payload) {
  if (auto* l = impl_->link()) return l->send(kind, std::move(payload));
  return impl_->drv().send(kind, payload);
}
void client::ack_now() {
  if (auto* l = impl_->link()) l->ack_now();
}
std::error_code client::ping(std::string_view payload) { return impl_->drv().ping(payload); }
std::error_code client::probe(std::string_view payload) { return impl_->drv().probe(payload); }
std::error_code client::close(close_code code, std::string_view reason) {
  return impl_->drv().close(code, reason, detail::close_rules::application);
}
std::error_code client::close_relay(close_code code, std::string_view reason) {
  return impl_->drv().close(code, reason, detail::close_rules::relay);
}
void client::abort() { impl_->drv().abort(); }
void client::pause_reading() { impl_->drv().pause_reading(); }
void client::resume_reading() { impl_->drv().resume_reading(); }
std::size_t client::buffered_amount() const noexcept { return impl_->drv().buffered_amount(); }
proto::state client::state() const noexcept { return impl_->drv().public_state(); }

}  // namespace closewise::net

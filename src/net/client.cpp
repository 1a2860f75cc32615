#include "closewise/net/client.hpp"

#include <utility>

#include <boost/asio/connect.hpp>
#include <boost/asio/post.hpp>
#include <boost/asio/ssl/host_name_verification.hpp>
#include <openssl/err.h>
#include <openssl/ssl.h>
#include <openssl/x509_vfy.h>

#include "closewise/error.hpp"
#include "closewise/net/url.hpp"
#include "endpoint.hpp"

namespace closewise::net {
namespace detail {

class client_impl final : public endpoint {
 public:
  client_impl(asio::io_context& ioc, client_config cfg)
      : endpoint(ioc, cfg.use_strand, proto::role::client, cfg_),
        cfg_(std::move(cfg)),
        resolver_(ioc_ex()) {}

  std::chrono::milliseconds close_linger() const noexcept override { return cfg_.close_linger; }

  std::function<void(const open_info&)> on_open_;
  client::message_handler on_message_;
  std::function<void(std::string_view)> on_pong_;
  std::function<void(std::string_view)> on_ping_;
  std::function<void(const close_event&)> on_close_;
  std::function<void(std::error_code)> on_error_;
  std::function<void(const proto::handshake_failure&)> on_refused_;

  std::error_code connect(std::string_view url_text) {
    ws_url url;
    if (auto ec = parse_ws_url(url_text, url)) return ec;
    if (started_.exchange(true)) return error::connect_in_progress;
    if (url.secure) {
      if (auto ec = make_tls_context()) {
        started_.store(false);
        return ec;
      }
    }
    post_to_ex([self = std::static_pointer_cast<client_impl>(shared_from_this()),
                     url = std::move(url)]() mutable {
      scope s(*self);
      self->start(std::move(url));
    });
    return {};
  }

 private:
  std::error_code make_tls_context() {
    if (cfg_.tls.context) {
      tls_ctx_ = cfg_.tls.context;
      return {};
    }
    tls_ctx_ = std::make_shared<ssl::context>(ssl::context::tls_client);
    boost::system::error_code ec;
    tls_ctx_->set_options(ssl::context::default_workarounds | ssl::context::no_sslv2 |
                              ssl::context::no_sslv3 | ssl::context::no_tlsv1 |
                              ssl::context::no_tlsv1_1,
                          ec);
    if (cfg_.tls.verify) {
      if (!cfg_.tls.ca_file.empty()) {
        tls_ctx_->load_verify_file(cfg_.tls.ca_file, ec);
      } else {
        tls_ctx_->set_default_verify_paths(ec);
      }
      if (ec) return error::invalid_argument;  // an unreadable CA file is a configuration error
    }
    return {};
  }

  void start(ws_url url) {
    if (phase_ != phase::idle) return;  // aborted before it started
    url_ = std::move(url);
    phase_ = phase::connecting;
    arm_timer(timer_use::connect, cfg_.connect_timeout);
    on_ex(
        [this](auto h) { resolver_.async_resolve(url_.host, std::to_string(url_.port), std::move(h)); },
        [self = std::static_pointer_cast<client_impl>(shared_from_this())](
            const boost::system::error_code& ec, tcp::resolver::results_type results) {
          scope s(*self);
          self->on_resolved(ec, std::move(results));
        });
  }

  void on_resolved(const boost::system::error_code& ec, tcp::resolver::results_type results) {
    if (phase_ != phase::connecting) return;
    if (ec) {
      fail_before_open(ec == asio::error::operation_aborted ? error::aborted : error::dns_failure);
      return;
    }
    on_ex([&](auto h) { asio::async_connect(sock_, results, std::move(h)); },
                        [self = std::static_pointer_cast<client_impl>(shared_from_this())](
                            const boost::system::error_code& cec, const tcp::endpoint&) {
                          scope s(*self);
                          self->on_connected(cec);
                        });
  }

  void on_connected(const boost::system::error_code& ec) {
    if (phase_ != phase::connecting) return;
    if (ec) {
      fail_before_open(map_transport_error(ec));
      return;
    }
    prepare_socket();
    arm_timer(timer_use::handshake, cfg_.handshake_timeout);
    if (url_.secure) {
      start_tls();
    } else {
      start_http();
    }
  }

  void start_tls() {
    phase_ = phase::tls_handshake;
    tls_ = std::make_unique<ssl::stream<socket_type&>>(sock_, *tls_ctx_);
    const std::string name = cfg_.tls.server_name.empty() ? url_.host : cfg_.tls.server_name;
    // RFC 6066 §3: SNI carries host names only, never IP literals.
    if (!url_.host_is_ip || !cfg_.tls.server_name.empty())
      SSL_set_tlsext_host_name(tls_->native_handle(), name.c_str());
    boost::system::error_code ignored;
    if (cfg_.tls.verify) {
      tls_->set_verify_mode(ssl::verify_peer, ignored);
      tls_->set_verify_callback(
          [check = ssl::host_name_verification(name)](bool preverified,
                                                      ssl::verify_context& vc) {
            if (!check(preverified, vc)) {
              // Record why, so the handshake failure reads as a verification failure.
              if (preverified)
                X509_STORE_CTX_set_error(vc.native_handle(), X509_V_ERR_HOSTNAME_MISMATCH);
              return false;
            }
            return true;
          },
          ignored);
    } else {
      tls_->set_verify_mode(ssl::verify_none, ignored);
    }
    on_ex([this](auto h) { tls_->async_handshake(ssl::stream_base::client, std::move(h)); },
                          [self = std::static_pointer_cast<client_impl>(shared_from_this())](
                              const boost::system::error_code& ec) {
                            scope s(*self);
                            self->on_tls_handshake(ec);
                          });
  }

  void on_tls_handshake(const boost::system::error_code& ec) {
    if (phase_ != phase::tls_handshake) return;
    if (ec) {
      fail_before_open(tls_failure(ec));
      return;
    }
    start_http();
  }

  std::error_code tls_failure(const boost::system::error_code& ec) const {
    if (SSL_get_verify_result(tls_->native_handle()) != X509_V_OK) return error::tls_verify_failed;
    if (ec.category() == asio::error::get_ssl_category() &&
        ERR_GET_REASON(static_cast<unsigned long>(ec.value())) == SSL_R_CERTIFICATE_VERIFY_FAILED)
      return error::tls_verify_failed;
    return error::tls_error;
  }

  void start_http() {
    phase_ = phase::http_handshake;
    proto::client_request_options o;
    o.host = url_.host_header;
    o.target = url_.target;
    o.origin = cfg_.origin;
    o.subprotocols = cfg_.subprotocols;
    o.deflate = cfg_.deflate;
    o.extra_headers = cfg_.extra_headers;
    hs_.emplace(std::move(o), cfg_.handshake_limits);
    write_raw(hs_->request());
    // after_io() starts reading the response.
  }

  void handshake_bytes(char* data, std::size_t size) override {
    const std::string_view bytes(data, size);
    std::size_t consumed = 0;
    switch (hs_->receive(bytes, consumed)) {
      case proto::client_handshake::result::need_more: return;
      case proto::client_handshake::result::failed: {
        if (hs_->failure() && on_refused_ && !detached()) on_refused_(*hs_->failure());
        fail_before_open(hs_->error() ? hs_->error() : std::error_code(error::bad_http));
        return;
      }
      case proto::client_handshake::result::accepted: break;
    }
    cancel_timer();
    open_info info;
    info.subprotocol = hs_->subprotocol();
    info.deflate = hs_->deflate();
    info.response_headers = hs_->response_headers();
    proto::config pc = cfg_.protocol;
    pc.deflate = hs_->deflate();
    hs_.reset();
    open_connection(std::move(pc));
    if (on_open_ && !detached()) on_open_(info);
    // Frames that arrived with the 101 answer belong to the connection.
    if (consumed < size) receive_frames(data + consumed, size - consumed);
  }

  void fail_before_open(std::error_code why) override { end_before_open(why, initiator::none); }

  void cancel_before_open(std::error_code why) override { end_before_open(why, initiator::local); }

  void end_before_open(std::error_code why, initiator who) {
    if (phase_ == phase::done) return;
    boost::system::error_code ignored;
    resolver_.cancel();
    hs_.reset();
    const bool tls = why == error::tls_verify_failed || why == error::tls_error;
    if (on_error_ && !detached()) on_error_(why);
    // Browsers report 1006 for every failed attempt; closewise uses 1015 for TLS (ARCHITECTURE §2).
    finish(close_event{tls ? close_code::tls_handshake : close_code::abnormal, "", false, who, why});
  }

  void handshake_timer_fired(timer_use use) override {
    if (use == timer_use::connect && phase_ == phase::connecting) {
      fail_before_open(error::connect_timeout);
    } else if (use == timer_use::handshake &&
               (phase_ == phase::tls_handshake || phase_ == phase::http_handshake)) {
      fail_before_open(error::handshake_timeout);
    }
  }

  void deliver_message(proto::message_kind kind, std::string_view payload) override {
    if (on_message_) on_message_(kind, payload);
  }
  void deliver_ping(std::string_view payload) override {
    if (on_ping_) on_ping_(payload);
  }

  void deliver_pong(std::string_view payload) override {
    if (on_pong_) on_pong_(payload);
  }
  void deliver_error(std::error_code ec) override {
    if (on_error_ && !detached()) on_error_(ec);
  }
  void deliver_close(const close_event& ev) override {
    if (on_close_) on_close_(ev);
  }

  client_config cfg_;
  asio::ip::basic_resolver<tcp, io_executor> resolver_;
  std::shared_ptr<ssl::context> tls_ctx_;
  ws_url url_;
  std::optional<proto::client_handshake> hs_;
  std::atomic<bool> started_{false};
};

}  // namespace detail

client::client(boost::asio::io_context& ioc, client_config cfg)
    : impl_(std::make_shared<detail::client_impl>(ioc, std::move(cfg))) {}

client::~client() {
  if (!impl_) return;
  impl_->detach();
  // An open connection says goodbye (1001, RFC 6455 §7.4.1 "going away");
  // an attempt in progress is cancelled. The impl lives on in its handlers.
  if (impl_->public_state() == proto::state::open) {
    (void)impl_->close(close_code::going_away, {}, true);
  } else {
    impl_->abort_connection();
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
void client::on_close(std::function<void(const close_event&)> f) { impl_->on_close_ = std::move(f); }
void client::on_error(std::function<void(std::error_code)> f) { impl_->on_error_ = std::move(f); }
void client::on_refused(std::function<void(const proto::handshake_failure&)> f) {
  impl_->on_refused_ = std::move(f);
}

std::error_code client::connect(std::string_view url) { return impl_->connect(url); }
std::error_code client::send_text(std::string_view text) {
  return impl_->send(proto::message_kind::text, text);
}
std::error_code client::send_binary(std::string_view data) {
  return impl_->send(proto::message_kind::binary, data);
}
std::error_code client::send(proto::message_kind kind, std::string_view payload) {
  return impl_->send(kind, payload);
}
std::error_code client::ping(std::string_view payload) { return impl_->ping(payload); }
std::error_code client::close(close_code code, std::string_view reason) {
  return impl_->close(code, reason, false);
}
void client::abort() { impl_->abort_connection(); }
std::size_t client::buffered_amount() const noexcept { return impl_->buffered_amount(); }
proto::state client::state() const noexcept { return impl_->public_state(); }

}  // namespace closewise::net

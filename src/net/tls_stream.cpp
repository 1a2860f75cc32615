#include "tls_stream.hpp"

#include <sys/socket.h>

#include <cerrno>
#include <cstdint>
#include <new>
#include <string>

#include <openssl/err.h>
#include <openssl/ssl.h>
#include <openssl/x509_vfy.h>

#include <boost/asio/ssl/error.hpp>

namespace closewise::net::detail {
namespace {

// OpenSSL's own socket BIO writes with write(), which raises SIGPIPE on a
// socket the peer reset and would kill a program that did not ignore it. This
// one sends with MSG_NOSIGNAL, as Asio does; otherwise it is the same: the
// descriptor in the BIO's data, EAGAIN as a retry, 0 from recv() as EOF.
int fd_of(BIO* b) { return static_cast<int>(reinterpret_cast<std::intptr_t>(::BIO_get_data(b))); }

bool would_block_now() { return errno == EAGAIN || errno == EWOULDBLOCK || errno == EINTR; }

// While a handshake step runs, its records (a server's flight and its two
// TLS 1.3 session tickets, each flushed on its own by OpenSSL) gather here and
// leave in one send() when the step returns (tls_stream::handshake).
thread_local BIO* corked_bio = nullptr;
thread_local std::string corked;

int bio_write(BIO* b, const char* data, std::size_t len, std::size_t* written) {
  ::BIO_clear_retry_flags(b);
  if (b == corked_bio) {
    corked.append(data, len);
    *written = len;
    return 1;
  }
  const ssize_t n = ::send(fd_of(b), data, len, MSG_NOSIGNAL);
  if (n >= 0) {
    *written = static_cast<std::size_t>(n);
    return 1;
  }
  if (would_block_now()) ::BIO_set_retry_write(b);
  return 0;
}

int bio_read(BIO* b, char* data, std::size_t len, std::size_t* got) {
  ::BIO_clear_retry_flags(b);
  const ssize_t n = ::recv(fd_of(b), data, len, 0);
  if (n > 0) {
    *got = static_cast<std::size_t>(n);
    return 1;
  }
  *got = 0;
  if (n < 0 && would_block_now()) ::BIO_set_retry_read(b);
  return 0;
}

long bio_ctrl(BIO*, int cmd, long, void*) { return cmd == BIO_CTRL_FLUSH ? 1 : 0; }

const BIO_METHOD* socket_method() {
  static const BIO_METHOD* const m = [] {
    BIO_METHOD* bm = ::BIO_meth_new(BIO_get_new_index() | BIO_TYPE_SOURCE_SINK, "closewise socket");
    ::BIO_meth_set_write_ex(bm, bio_write);
    ::BIO_meth_set_read_ex(bm, bio_read);
    ::BIO_meth_set_ctrl(bm, bio_ctrl);
    return bm;
  }();
  return m;
}

}  // namespace

tls_stream::tls_stream(socket_type& sock, ssl::context& ctx, bool client)
    : ssl_(::SSL_new(ctx.native_handle())) {
  if (ssl_ == nullptr) throw std::bad_alloc();
  if (client) {
    ::SSL_set_connect_state(ssl_);
  } else {
    ::SSL_set_accept_state(ssl_);
  }
  // Record buffers only while a record is in flight (an idle connection holds
  // none). No partial writes: a write is taken whole, and a write that must
  // wait is retried with the same bytes, which may have moved.
  ::SSL_set_mode(ssl_, SSL_MODE_RELEASE_BUFFERS | SSL_MODE_ACCEPT_MOVING_WRITE_BUFFER);
  // Read whole records (and what follows) with one recv(); what OpenSSL then
  // holds is drained before the driver waits on the socket again (has_pending).
  ::SSL_set_read_ahead(ssl_, 1);
  // RFC 8446 has no renegotiation; for TLS 1.2 it is refused, so a write never
  // has to wait for a read.
  ::SSL_set_options(ssl_, SSL_OP_NO_RENEGOTIATION);
  BIO* bio = ::BIO_new(socket_method());
  if (bio == nullptr) {
    ::SSL_free(ssl_);
    throw std::bad_alloc();
  }
  ::BIO_set_data(bio, reinterpret_cast<void*>(static_cast<std::intptr_t>(sock.native_handle())));
  ::BIO_set_init(bio, 1);
  ::SSL_set_bio(ssl_, bio, bio);  // one reference for both directions
}

tls_stream::~tls_stream() { ::SSL_free(ssl_); }

void tls_stream::set_client_identity(const char* sni, const char* verify_name, bool name_is_ip,
                                     bool verify) {
  // RFC 6066 §3: SNI carries host names only, never IP literals (the caller decides).
  if (sni != nullptr && *sni != '\0') ::SSL_set_tlsext_host_name(ssl_, sni);
  if (!verify) {
    ::SSL_set_verify(ssl_, SSL_VERIFY_NONE, nullptr);
    return;
  }
  // RFC 6125: OpenSSL checks the name (or the IP address) during the chain's
  // verification, so a mismatch reads as X509_V_ERR_HOSTNAME_MISMATCH.
  X509_VERIFY_PARAM* param = ::SSL_get0_param(ssl_);
  if (name_is_ip) {
    ::X509_VERIFY_PARAM_set1_ip_asc(param, verify_name);
  } else {
    ::X509_VERIFY_PARAM_set_hostflags(param, X509_CHECK_FLAG_NO_PARTIAL_WILDCARDS);
    ::SSL_set1_host(ssl_, verify_name);
  }
  ::SSL_set_verify(ssl_, SSL_VERIFY_PEER, nullptr);
}

tls_status tls_stream::status_of(int ret, boost::system::error_code& ec, bool reading) {
  const int err = ::SSL_get_error(ssl_, ret);
  const int sys = errno;
  ec.clear();
  switch (err) {
    case SSL_ERROR_NONE:
      return tls_status::done;
    case SSL_ERROR_WANT_READ:
      return tls_status::want_read;
    case SSL_ERROR_WANT_WRITE:
      return tls_status::want_write;
    case SSL_ERROR_ZERO_RETURN:
      ec = asio::error::eof;  // the peer's close_notify
      return tls_status::done;
    case SSL_ERROR_SYSCALL:
      if (::ERR_peek_error() == 0 && sys != 0 && sys != EAGAIN) {
        ec.assign(sys, asio::error::get_system_category());
      } else {
        // TCP EOF without close_notify (OpenSSL 3 may report it either way).
        ec = reading ? boost::system::error_code(ssl::error::stream_truncated)
                     : boost::system::error_code(asio::error::broken_pipe);
      }
      break;
    default: {
      const unsigned long e = ::ERR_get_error();
      if (ERR_GET_REASON(e) == SSL_R_UNEXPECTED_EOF_WHILE_READING) {
        ec = ssl::error::stream_truncated;
      } else {
        ec.assign(static_cast<int>(e), asio::error::get_ssl_category());
      }
      break;
    }
  }
  ::ERR_clear_error();
  return tls_status::done;
}

bool tls_stream::send_unsent(boost::system::error_code& ec) {
  const int fd = fd_of(::SSL_get_wbio(ssl_));
  std::size_t off = 0;
  while (off < unsent_.size()) {
    const ssize_t n = ::send(fd, unsent_.data() + off, unsent_.size() - off, MSG_NOSIGNAL);
    if (n > 0) {
      off += static_cast<std::size_t>(n);
    } else if (n < 0 && errno == EINTR) {
      continue;
    } else if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK)) {
      break;
    } else {
      ec.assign(n < 0 ? errno : EPIPE, asio::error::get_system_category());
      unsent_.clear();
      return false;
    }
  }
  unsent_.erase(0, off);
  return true;
}

tls_status tls_stream::handshake(boost::system::error_code& ec) {
  ec.clear();
  // What an earlier step could not send goes first.
  if (!unsent_.empty()) {
    if (!send_unsent(ec)) return tls_status::done;
    if (!unsent_.empty()) return tls_status::want_write;
  }
  ::ERR_clear_error();
  errno = 0;
  corked.clear();
  corked_bio = ::SSL_get_wbio(ssl_);
  const int ret = ::SSL_do_handshake(ssl_);
  corked_bio = nullptr;
  const tls_status st = status_of(ret, ec, true);
  if (corked.empty()) return st;
  unsent_.swap(corked);
  corked.clear();
  boost::system::error_code send_ec;
  const bool sent = send_unsent(send_ec);
  if (ec) {  // a failed handshake: its alert went out as far as it could
    unsent_.clear();
    return tls_status::done;
  }
  if (!sent) {
    ec = send_ec;
    return tls_status::done;
  }
  // The flight must be out before the step counts as done or waits to read.
  return unsent_.empty() ? st : tls_status::want_write;
}

tls_status tls_stream::read(char* buf, std::size_t size, std::size_t& n,
                            boost::system::error_code& ec) {
  ::ERR_clear_error();
  errno = 0;
  n = 0;
  const int ret = ::SSL_read_ex(ssl_, buf, size, &n);
  return status_of(ret, ec, true);
}

tls_status tls_stream::write(const char* data, std::size_t size, std::size_t& n,
                             boost::system::error_code& ec) {
  ::ERR_clear_error();
  errno = 0;
  n = 0;
  const int ret = ::SSL_write_ex(ssl_, data, size, &n);
  return status_of(ret, ec, false);
}

tls_status tls_stream::shutdown(boost::system::error_code& ec) {
  ::ERR_clear_error();
  errno = 0;
  int ret = ::SSL_shutdown(ssl_);
  // 0: our close_notify left; the second call reads the peer's (and drops
  // any application data still ahead of it, as Asio's shutdown does).
  if (ret == 0) ret = ::SSL_shutdown(ssl_);
  if (ret == 1) {
    ec.clear();
    return tls_status::done;
  }
  return status_of(ret, ec, true);
}

bool tls_stream::has_pending() const noexcept { return ::SSL_has_pending(ssl_) == 1; }

}  // namespace closewise::net::detail

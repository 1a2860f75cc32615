// closewise::net (private): a thin TLS stream, OpenSSL straight on the socket.
//
// Asio's ssl::stream keeps two 17 KiB buffers in its stream_core and a BIO
// pair of 2 x 17 KiB for as long as the connection lives: 68 KiB of an idle
// wss connection's 91 KiB (bench/RESULTS.md). Here OpenSSL reads and writes
// the non-blocking descriptor itself (our BIO, no SIGPIPE), with
// SSL_MODE_RELEASE_BUFFERS, so its record buffers exist only while a record
// is in flight. The stream never waits: each call says what it needs (the
// socket readable or writable) and the driver waits for that with Asio
// (driver_tls.cpp), so the readiness wait is the only pending operation of
// an idle connection.
#pragma once

#include <cstddef>
#include <cstdint>
#include <string>

#include <boost/system/error_code.hpp>

#include "io_types.hpp"

struct ssl_st;

namespace closewise::net::detail {

/// What a call of the stream needs before it can go on.
enum class tls_status : std::uint8_t {
  done,        ///< it completed (see the error code)
  want_read,   ///< retry once the socket is readable
  want_write,  ///< retry once the socket is writable
};

/// One TLS connection over a connected, non-blocking TCP socket. Not
/// thread-safe: the driver calls it on the connection's executor only.
class tls_stream {
 public:
  /// `sock` must outlive the stream and be open; `ctx` only for the constructor.
  tls_stream(socket_type& sock, ssl::context& ctx, bool client);
  ~tls_stream();
  tls_stream(const tls_stream&) = delete;
  tls_stream& operator=(const tls_stream&) = delete;

  ssl_st* native_handle() noexcept { return ssl_; }

  /// Client: sends SNI `name` (unless empty) and, with `verify`, checks the
  /// chain and the name or IP address (RFC 6125) during the handshake.
  void set_client_identity(const char* sni, const char* verify_name, bool name_is_ip, bool verify);

  /// RFC 8446 §4: one step of the handshake, in the constructor's role. The
  /// records a step writes leave in one send() when it returns.
  tls_status handshake(boost::system::error_code& ec);
  /// Reads decrypted bytes. done with `n` > 0, or with an error: eof after the
  /// peer's close_notify, ssl::error::stream_truncated for a TCP EOF without it.
  tls_status read(char* buf, std::size_t size, std::size_t& n, boost::system::error_code& ec);
  /// Writes all `size` bytes (`n` = size when done). A call that answered
  /// want_* must be repeated with the same bytes, wherever they now are.
  tls_status write(const char* data, std::size_t size, std::size_t& n,
                   boost::system::error_code& ec);
  /// RFC 8446 §6.1: sends close_notify, then waits for the peer's. done
  /// without error once both went.
  tls_status shutdown(boost::system::error_code& ec);
  /// Decrypted or buffered bytes OpenSSL holds that the socket will not signal.
  bool has_pending() const noexcept;

 private:
  tls_status status_of(int ret, boost::system::error_code& ec, bool reading);
  /// Sends what `unsent_` holds; false (and `ec`) when the socket failed.
  bool send_unsent(boost::system::error_code& ec);

  ssl_st* ssl_;
  /// Handshake records OpenSSL counts as written that the socket did not yet
  /// take (almost always empty: a flight fits a fresh socket's send buffer).
  std::string unsent_;
};

}  // namespace closewise::net::detail

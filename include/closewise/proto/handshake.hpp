// closewise::proto: the opening handshake (RFC 6455 §4), sans-I/O.
//
// HTTP is parsed with Boost.Beast's http parser (a well-kept parser, with
// header limits), never by hand. Both sides take bytes and give bytes: the
// caller moves them over whatever transport it has.
#pragma once

#include <cstddef>
#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <system_error>
#include <utility>
#include <vector>

#include "closewise/proto/deflate.hpp"

namespace closewise::proto {

/// HTTP header fields in arrival order; lookups are case-insensitive
/// (RFC 7230 §3.2: field names are case-insensitive).
struct http_headers {
  std::vector<std::pair<std::string, std::string>> fields;
  /// The first value of `name`, or nullopt.
  std::optional<std::string_view> get(std::string_view name) const noexcept;
};

/// Limits of the handshake parser. Every size from the network is bounded.
struct handshake_limits {
  std::size_t max_header_bytes = 8 * 1024;  ///< request/status line plus headers
  std::size_t max_body_bytes = 4 * 1024;    ///< refusal body kept for the policy
};

/// RFC 6455 §4.2.2: base64(SHA-1(key + "258EAFA5-E914-47DA-95CA-C5AB0DC85B11")),
/// computed with OpenSSL. "dGhlIHNhbXBsZSBub25jZQ==" gives
/// "s3pPLMBiTxaQ9kYGzzhZRbK+xOo=" (RFC 6455 §1.3).
std::string compute_accept(std::string_view key);
/// A fresh Sec-WebSocket-Key (RFC 6455 §4.1): 16 random bytes from OpenSSL's
/// RAND_bytes, base64 encoded (24 characters).
std::string generate_key();
/// True when `key` is a valid Sec-WebSocket-Key: base64 that decodes to
/// exactly 16 bytes (RFC 6455 §4.1, §4.2.1 item 5).
bool is_valid_key(std::string_view key) noexcept;

// ---------------------------------------------------------------- client --

/// What the client puts in its upgrade request (RFC 6455 §4.1).
struct client_request_options {
  std::string host;    ///< Host header value, "host:port" (IPv6 in brackets)
  std::string target;  ///< exactly the URL's path and query, "/" when empty
  std::optional<std::string> origin;
  std::vector<std::string> subprotocols;  ///< tokens, unique, in preference order
  deflate_options deflate;                ///< offered when `deflate.enabled`
  /// More Sec-WebSocket-Extensions offers, each one complete element
  /// (`name; param=value`), sent after permessage-deflate's (RFC 6455 §9.1).
  /// The response's elements with these names are not checked here but
  /// returned by `client_handshake::extensions()`, for the layer that offered
  /// them to validate. A name that is not a token, a value with CR, LF or NUL,
  /// or a name used twice is error::invalid_argument.
  std::vector<std::string> extensions;
  /// More request headers. Names the handshake sets itself (Host, Upgrade,
  /// Connection, Sec-WebSocket-*) are refused.
  http_headers extra_headers;
  std::string key;  ///< empty: generate_key()
};

/// A non-101 answer, kept for the reconnect policy (status, Retry-After, body).
struct handshake_failure {
  unsigned status = 0;
  std::string reason_phrase;
  http_headers headers;
  std::string body;  ///< at most handshake_limits::max_body_bytes (truncated there)
};

/// The client half: builds the request, then validates the response
/// (RFC 6455 §4.1, "the client MUST validate the server's response").
///
/// Options that would make a bad request (CR, LF or NUL in a value, a target
/// not starting with '/', a subprotocol that is not a unique token, a header
/// name the handshake owns, an invalid `key`) leave `request()` empty and
/// `error()` = error::invalid_argument; `receive` then returns `failed`.
class client_handshake {
 public:
  explicit client_handshake(client_request_options opts, handshake_limits limits = {});
  ~client_handshake();
  client_handshake(const client_handshake&) = delete;
  client_handshake& operator=(const client_handshake&) = delete;
  /// A moved-from handshake may only be destroyed or assigned to.
  client_handshake(client_handshake&&) noexcept;
  client_handshake& operator=(client_handshake&&) noexcept;

  /// The request bytes to send.
  const std::string& request() const noexcept;

  enum class result { need_more, accepted, failed };
  /// Feeds response bytes; `consumed` says how many were part of the HTTP
  /// response (bytes after it are WebSocket frames for the connection).
  /// While `need_more` is returned every byte is consumed (kept internally).
  /// A non-101 status reads a body bounded by max_body_bytes (only with
  /// Content-Length or chunked encoding: a body delimited by EOF is taken as
  /// empty, so nothing waits for the server to close), then fails with
  /// error::bad_status and fills `failure()`. Once accepted or failed, later
  /// calls consume nothing and return the same result.
  [[nodiscard]] result receive(std::string_view bytes, std::size_t& consumed);

  /// Why the handshake failed (closewise::error, condition::handshake_failed).
  std::error_code error() const noexcept;
  /// Set when the server answered with a non-101 status.
  const std::optional<handshake_failure>& failure() const noexcept;
  /// The subprotocol the server picked (empty: none).
  const std::string& subprotocol() const noexcept;
  /// The negotiated permessage-deflate parameters (nullopt: not in use).
  const std::optional<deflate_params>& deflate() const noexcept;
  /// The response's Sec-WebSocket-Extensions elements named in
  /// `client_request_options::extensions`, in response order. An element
  /// naming one of them twice, or naming an extension that was not offered,
  /// fails the handshake with error::bad_extension (RFC 6455 §4.1, §9.1).
  const std::vector<std::string>& extensions() const noexcept;
  /// The response's header fields (also when the handshake failed).
  const http_headers& response_headers() const noexcept;

 private:
  struct impl;
  std::unique_ptr<impl> impl_;
};

// ---------------------------------------------------------------- server --

/// A received upgrade request.
struct upgrade_request {
  std::string method;
  std::string target;
  unsigned version = 11;  ///< 11 for HTTP/1.1
  http_headers headers;
  std::vector<std::string> subprotocols;  ///< offered, in order
  std::string extensions;  ///< raw Sec-WebSocket-Extensions (instances joined by ", ")
};

/// The server half: parses and checks the request, then builds the answer
/// (RFC 6455 §4.2).
class server_handshake {
 public:
  explicit server_handshake(handshake_limits limits = {});
  ~server_handshake();
  server_handshake(const server_handshake&) = delete;
  server_handshake& operator=(const server_handshake&) = delete;
  /// A moved-from handshake may only be destroyed or assigned to.
  server_handshake(server_handshake&&) noexcept;
  server_handshake& operator=(server_handshake&&) noexcept;

  enum class result { need_more, valid, invalid };
  /// Feeds request bytes; `consumed` is exact, so bytes after the request
  /// (early frames) stay with the caller. `invalid` means `error_response()`
  /// must be sent and the connection closed (400 with a one-line reason, or
  /// 426 with `Sec-WebSocket-Version: 13`, or 431 for oversized headers).
  /// Once valid or invalid, later calls consume nothing and return the same.
  [[nodiscard]] result receive(std::string_view bytes, std::size_t& consumed);

  /// Why the request was refused (closewise::error, condition::handshake_failed).
  std::error_code error() const noexcept;
  /// The parsed request; complete once `receive` returned `valid`.
  const upgrade_request& request() const noexcept;
  /// The answer to send after `invalid` (empty before that).
  std::string error_response() const;

  /// The 101 answer, after `valid` (empty otherwise). `subprotocol` must be
  /// one the client offered (or empty); one that was not offered is left out
  /// of the answer, since the client would fail the handshake on it.
  /// Deflate is negotiated against `deflate` and reported by `deflate()`.
  /// `extensions` holds more response elements (another layer negotiated
  /// them from `request().extensions`); they follow permessage-deflate's in
  /// Sec-WebSocket-Extensions. RFC 6455 §9.1: only extensions the client
  /// offered may be named. A value with CR, LF or NUL is left out.
  std::string accept(std::string_view subprotocol = {}, const deflate_options& deflate = {},
                     std::string_view extensions = {});
  /// The negotiated permessage-deflate parameters after `accept`.
  const std::optional<deflate_params>& deflate() const noexcept;

  /// A refusal chosen by the server (403, 503 with Retry-After, ...), with
  /// Content-Length and `Connection: close`. A status outside 200..599 becomes
  /// 500. Fields with an invalid name or a value holding CR, LF or NUL, and
  /// fields this function sets itself (Content-Length, Connection,
  /// Transfer-Encoding), are left out.
  static std::string refuse(unsigned status, const http_headers& headers = {},
                            std::string_view body = {});

 private:
  struct impl;
  std::unique_ptr<impl> impl_;
};

}  // namespace closewise::proto

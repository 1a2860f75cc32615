// closewise::proto: the opening handshake (RFC 6455 §4), sans-I/O.
//
// HTTP is parsed with Boost.Beast's http parser (a well-kept parser, with
// header limits), never by hand. Both sides take bytes and give bytes.
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

/// HTTP header fields in arrival order; lookups are case-insensitive.
struct http_headers {
  std::vector<std::pair<std::string, std::string>> fields;
  /// The first value of `name`, or nullopt.
  std::optional<std::string_view> get(std::string_view name) const noexcept;
};

/// Limits of the handshake parser.
struct handshake_limits {
  std::size_t max_header_bytes = 8 * 1024;  ///< request/status line plus headers
  std::size_t max_body_bytes = 4 * 1024;    ///< refusal body kept for the policy
};

/// RFC 6455 §4.2.2: base64(SHA-1(key + GUID)), computed with OpenSSL.
std::string compute_accept(std::string_view key);
/// A fresh random Sec-WebSocket-Key: 16 random bytes, base64 encoded.
std::string generate_key();

// ---------------------------------------------------------------- client --

struct client_request_options {
  std::string host;    ///< Host header value, "host:port" (IPv6 in brackets)
  std::string target;  ///< exactly the URL's path and query, "/" when empty
  std::optional<std::string> origin;
  std::vector<std::string> subprotocols;
  deflate_options deflate;
  http_headers extra_headers;
  std::string key;  ///< empty: generate_key()
};

/// A non-101 answer, kept for the reconnect policy (status, Retry-After, body).
struct handshake_failure {
  unsigned status = 0;
  std::string reason_phrase;
  http_headers headers;
  std::string body;  ///< at most handshake_limits::max_body_bytes
};

/// The client half: builds the request, then validates the response.
class client_handshake {
 public:
  explicit client_handshake(client_request_options opts, handshake_limits limits = {});
  ~client_handshake();

  /// The request bytes to send.
  const std::string& request() const noexcept;

  enum class result { need_more, accepted, failed };
  /// Feeds response bytes; `consumed` says how many were part of the HTTP
  /// response (bytes after it are WebSocket frames for the connection).
  /// A non-101 status waits for a bounded body, then fails with
  /// error::bad_status and fills `failure()`.
  result receive(std::string_view bytes, std::size_t& consumed);

  std::error_code error() const noexcept;
  /// Set when the server answered with a non-101 status.
  const std::optional<handshake_failure>& failure() const noexcept;
  /// The subprotocol the server picked (empty: none).
  const std::string& subprotocol() const noexcept;
  const std::optional<deflate_params>& deflate() const noexcept;
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
  std::string extensions;                 ///< raw Sec-WebSocket-Extensions
};

/// The server half: parses and checks the request, then builds the answer.
class server_handshake {
 public:
  explicit server_handshake(handshake_limits limits = {});
  ~server_handshake();

  enum class result { need_more, valid, invalid };
  /// Feeds request bytes. `invalid` means `error_response()` must be sent and
  /// the connection closed (400 with a one-line reason, or 426 with
  /// `Sec-WebSocket-Version: 13`, or 431/400 for oversized headers).
  result receive(std::string_view bytes, std::size_t& consumed);

  std::error_code error() const noexcept;
  const upgrade_request& request() const noexcept;
  std::string error_response() const;

  /// The 101 answer. `subprotocol` must be one the client offered (or empty);
  /// deflate is negotiated against `deflate` and reported by `deflate()`.
  std::string accept(std::string_view subprotocol = {}, const deflate_options& deflate = {});
  const std::optional<deflate_params>& deflate() const noexcept;

  /// A refusal chosen by the server (403, 503 with Retry-After, ...).
  static std::string refuse(unsigned status, const http_headers& headers = {},
                            std::string_view body = {});

 private:
  struct impl;
  std::unique_ptr<impl> impl_;
};

}  // namespace closewise::proto

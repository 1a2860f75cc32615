// closewise::metrics: a tiny HTTP/1.1 server that answers Prometheus scrapes.
#pragma once

#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <string_view>
#include <system_error>

#include <boost/asio/io_context.hpp>

namespace closewise::metrics {

namespace detail {
class http_endpoint_impl;
}

/// Serves `GET /metrics` (RFC 9110 §9.3.1) with the text `render` returns, as
/// `text/plain; version=0.0.4`; any other path is 404, any other method 405.
///
/// Built on Asio and Beast's HTTP parser and serializer (no WebSocket).
/// Connections are kept alive between scrapes (HTTP/1.1 persistent
/// connections, RFC 9112 §9.3). Every wait is bounded: a request must arrive
/// within 10 s of the connection or of the previous answer, its header within
/// 8 KiB and a body is refused (a scrape has none). `render` runs on the
/// io_context's thread, once per scrape; `registry::render` is safe there.
class http_endpoint {
 public:
  http_endpoint(boost::asio::io_context& ioc, std::function<std::string()> render);
  /// Stops listening and closes every connection.
  ~http_endpoint();
  http_endpoint(const http_endpoint&) = delete;
  http_endpoint& operator=(const http_endpoint&) = delete;

  /// Binds and starts accepting; `port` 0 picks a free one (read it with port()).
  /// `address` is an IPv4 or IPv6 literal.
  [[nodiscard]] std::error_code listen(std::string_view address, std::uint16_t port);
  /// The bound port (0 before listen()).
  std::uint16_t port() const noexcept;
  /// Stops accepting and closes open connections (any thread).
  void stop();

 private:
  std::shared_ptr<detail::http_endpoint_impl> impl_;
};

}  // namespace closewise::metrics

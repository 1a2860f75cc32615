// `closewise serve --metrics HOST:PORT`: the Prometheus endpoint of serve.
#pragma once

#include <boost/asio/io_context.hpp>
#include <closewise/metrics/http_endpoint.hpp>
#include <closewise/metrics/registry.hpp>

#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <string_view>

#include "output.hpp"

namespace closewise::cli {

/// "HOST:PORT" split: an IPv4 literal, or an IPv6 literal in brackets
/// ("[::1]:9464"); PORT 0 picks a free port. nullopt when malformed.
struct host_port {
  std::string host;
  std::uint16_t port = 0;
};
std::optional<host_port> parse_host_port(std::string_view text);

/// The registry serve reports to and the endpoint that serves it on /metrics.
class serve_metrics {
 public:
  serve_metrics(boost::asio::io_context& ioc, host_port where);
  std::shared_ptr<metrics::registry> registry() const { return reg_; }
  /// Binds; prints a diagnostic and returns false when it cannot.
  bool listen(const event_printer& out);
  /// Prints {"event":"metrics_listening","host":...,"port":N,"path":"/metrics"}.
  void announce(const event_printer& out) const;

 private:
  host_port where_;
  std::shared_ptr<metrics::registry> reg_;
  metrics::http_endpoint http_;
};

}  // namespace closewise::cli

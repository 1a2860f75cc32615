#include "serve_metrics.hpp"

#include <fmt/format.h>

#include <charconv>

namespace closewise::cli {

std::optional<host_port> parse_host_port(std::string_view text) {
  const auto colon = text.rfind(':');
  if (colon == std::string_view::npos || colon == 0) return std::nullopt;
  std::string_view host = text.substr(0, colon);
  const std::string_view port = text.substr(colon + 1);
  if (host.front() == '[') {
    if (host.size() < 3 || host.back() != ']') return std::nullopt;
    host = host.substr(1, host.size() - 2);
  }
  unsigned p = 0;
  const auto [end, ec] = std::from_chars(port.data(), port.data() + port.size(), p);
  if (port.empty() || ec != std::errc{} || end != port.data() + port.size() || p > 65535)
    return std::nullopt;
  return host_port{std::string(host), static_cast<std::uint16_t>(p)};
}

serve_metrics::serve_metrics(boost::asio::io_context& ioc, host_port where)
    : where_(std::move(where)),
      reg_(std::make_shared<metrics::registry>()),
      http_(ioc, [reg = reg_] { return reg->render(); }) {}

bool serve_metrics::listen(const event_printer& out) {
  if (const auto ec = http_.listen(where_.host, where_.port)) {
    out.diag(fmt::format("closewise serve: cannot serve metrics on {}:{}: {}", where_.host,
                         where_.port, ec.message()));
    return false;
  }
  return true;
}

void serve_metrics::announce(const event_printer& out) const {
  out.emit({{"event", "metrics_listening"},
            {"host", where_.host},
            {"port", http_.port()},
            {"path", "/metrics"}},
           fmt::format("metrics on http://{}:{}/metrics", where_.host, http_.port()));
}

}  // namespace closewise::cli

#include "closewise/policy/outcome.hpp"

#include <string>

#include "closewise/error.hpp"

namespace closewise::policy {

std::string_view to_string(transport_failure f) noexcept {
  switch (f) {
    case transport_failure::dns:
      return "dns";
    case transport_failure::refused:
      return "refused";
    case transport_failure::reset:
      return "reset";
    case transport_failure::timeout:
      return "timeout";
    case transport_failure::tls_verify:
      return "tls_verify";
    case transport_failure::tls_other:
      return "tls_other";
    case transport_failure::other:
      break;
  }
  return "other";
}

std::optional<transport_failure> parse_transport_failure(std::string_view name) noexcept {
  for (auto f : all_transport_failures) {
    if (to_string(f) == name) return f;
  }
  return std::nullopt;
}

std::string_view describe(transport_failure f) noexcept {
  switch (f) {
    case transport_failure::dns:
      return "DNS failure";
    case transport_failure::refused:
      return "connection refused";
    case transport_failure::reset:
      return "connection reset";
    case transport_failure::timeout:
      return "connect timeout";
    case transport_failure::tls_verify:
      return "TLS certificate verification failed";
    case transport_failure::tls_other:
      return "TLS failure";
    case transport_failure::other:
      break;
  }
  return "transport failure";
}

std::optional<transport_failure> transport_failure_from(std::error_code ec) noexcept {
  if (!ec) return std::nullopt;
  if (ec.category() == error_category()) {
    switch (static_cast<error>(ec.value())) {
      case error::dns_failure:
        return transport_failure::dns;
      case error::connection_refused:
        return transport_failure::refused;
      case error::connection_reset:
      case error::eof_without_close:
        return transport_failure::reset;
      case error::connect_timeout:
      case error::handshake_timeout:
        return transport_failure::timeout;
      case error::tls_verify_failed:
        return transport_failure::tls_verify;
      case error::tls_error:
        return transport_failure::tls_other;
      default:
        break;
    }
  }
  // Errors of other categories (Asio, OpenSSL) are classified by condition.
  if (ec == condition::tls_verification) return transport_failure::tls_verify;
  if (ec == condition::tls) return transport_failure::tls_other;
  if (ec == condition::timeout) return transport_failure::timeout;
  if (ec == std::errc::connection_refused) return transport_failure::refused;
  if (ec == std::errc::connection_reset) return transport_failure::reset;
  if (ec == std::errc::timed_out) return transport_failure::timeout;
  if (ec == condition::transport) return transport_failure::other;
  return std::nullopt;
}

std::string describe(const outcome& o) {
  if (const auto* ev = std::get_if<close_event>(&o)) {
    return std::to_string(to_int(ev->code)) + " " + std::string(name(ev->code));
  }
  if (const auto* refusal = std::get_if<http_refusal>(&o)) {
    return "HTTP " + std::to_string(refusal->status);
  }
  return std::string(describe(std::get<transport_failure>(o)));
}

bool is_application_close(const outcome& o) noexcept {
  const auto* ev = std::get_if<close_event>(&o);
  return ev != nullptr && ev->initiator == initiator::local && !ev->error;
}

}  // namespace closewise::policy

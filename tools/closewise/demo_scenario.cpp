#include "demo_scenario.hpp"

#include <fmt/format.h>

#include <utility>

namespace closewise::cli::demo {
namespace {

scenario close_with(std::uint16_t code, std::string reason) {
  scenario s;
  s.name = fmt::format("close-{}", code);
  s.code = static_cast<close_code>(code);
  s.reason = std::move(reason);
  s.label = fmt::format("{}", code);
  return s;
}

scenario named(std::string name, action_kind kind, close_code code, std::string label) {
  scenario s;
  s.name = std::move(name);
  s.kind = kind;
  s.code = code;
  s.label = std::move(label);
  return s;
}

}  // namespace

std::vector<scenario> make_scenarios(int restart_clients) {
  std::vector<scenario> v = {
      close_with(1000, "done"),
      close_with(1001, "server going away"),
      close_with(1002, "protocol error"),
      close_with(1003, "unsupported data"),
      close_with(1007, "invalid payload"),
      close_with(1008, "policy violation"),
      close_with(1009, "message too big"),
      close_with(1010, "extension required"),
      close_with(1011, "internal error"),
      close_with(1012, "restarting"),
      close_with(1013, "try again later"),
      close_with(1014, "bad gateway"),
      close_with(3000, "registered, retryable half"),
      close_with(3500, "registered, final half"),
      close_with(4000, "private, retryable half"),
      close_with(4500, "private, final half"),
  };
  v.push_back(named("drop", action_kind::drop, close_code::abnormal, "drop"));
  v.push_back(named("silent", action_kind::silent, close_code::abnormal, "silent"));

  for (const auto& [status, ra] : {std::pair<unsigned, std::optional<unsigned>>{401, std::nullopt},
                                   {429, 1u},
                                   {503, std::nullopt}}) {
    // Browsers and closewise report a refused upgrade as 1006.
    scenario s = named(fmt::format("http-{}", status), action_kind::refuse, close_code::abnormal,
                       fmt::format("HTTP {}", status));
    s.status = status;
    s.retry_after = ra;
    v.push_back(s);
  }

  scenario strikes =
      named("strikes-1002", action_kind::strikes, close_code::protocol_error, "1002 x3");
  strikes.reason = "protocol error";
  v.push_back(strikes);

  scenario refresh_close =
      named("refresh-1008", action_kind::refresh, close_code::policy_violation, "1008 + hook");
  refresh_close.reason = "token expired";
  v.push_back(refresh_close);
  scenario refresh_http =
      named("refresh-401", action_kind::refresh, close_code::abnormal, "401 + hook");
  refresh_http.status = 401;
  v.push_back(refresh_http);

  scenario shed_close =
      named("shed-1013", action_kind::shed, close_code::try_again_later, "shed 1013");
  shed_close.reason =
      "retry-after=1";  // what closewise's server sends with overload_retry_after 1 s
  shed_close.retry_after = 1;
  v.push_back(shed_close);
  scenario shed_http = named("shed-503", action_kind::shed, close_code::abnormal, "shed 503");
  shed_http.status = 503;
  shed_http.retry_after = 1;
  v.push_back(shed_http);

  scenario restart = named("restart", action_kind::restart, close_code::service_restart, "restart");
  restart.reason = "restart";
  restart.clients = restart_clients;
  v.push_back(restart);
  return v;
}

std::string_view status_phrase(unsigned status) {
  switch (status) {
    case 401:
      return "Unauthorized";
    case 429:
      return "Too Many Requests";
    case 503:
      return "Service Unavailable";
    default:
      return "";
  }
}

std::string server_action(const scenario& s, std::chrono::milliseconds restart_spread) {
  switch (s.kind) {
    case action_kind::close:
      return fmt::format("close {} \"{}\"", to_int(s.code), s.reason);
    case action_kind::drop:
      return "drop TCP without a close frame";
    case action_kind::silent:
      return "complete the handshake, then go silent (no reads, no pongs, TCP kept open)";
    case action_kind::refuse:
      return s.retry_after
                 ? fmt::format("refuse the upgrade: HTTP {} {}, Retry-After: {}", s.status,
                               status_phrase(s.status), *s.retry_after)
                 : fmt::format("refuse the upgrade: HTTP {} {}", s.status, status_phrase(s.status));
    case action_kind::strikes:
      return fmt::format("close every connection with {} \"{}\" right after it opens",
                         to_int(s.code), s.reason);
    case action_kind::refresh:
      return s.status != 0
                 ? fmt::format("refuse the upgrade with HTTP {} {} unless {} is \"{}\"", s.status,
                               status_phrase(s.status), credential_header, fresh_credentials)
                 : fmt::format("close {} \"{}\" unless {} is \"{}\"", to_int(s.code), s.reason,
                               credential_header, fresh_credentials);
    case action_kind::shed:
      return s.status != 0
                 ? fmt::format(
                       "shed load: max_connections 1 is taken; answer HTTP {}, Retry-After: {}",
                       s.status, s.retry_after.value_or(0))
                 : fmt::format(
                       "shed load: max_connections 1 is taken; accept, then close {} \"{}\"",
                       to_int(s.code), s.reason);
    case action_kind::restart:
      return fmt::format(
          "graceful restart: a new server takes the port, the old one shuts down with {} \"{}\", "
          "closes spread over {} ms ({} clients)",
          to_int(s.code), s.reason, restart_spread.count(), s.clients);
  }
  return "";
}

}  // namespace closewise::cli::demo

// `closewise demo`: the scenarios it walks through, as data.
#pragma once

#include <chrono>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include <closewise/close_code.hpp>

namespace closewise::cli::demo {

/// What the embedded server does in a scenario.
enum class action_kind {
  close,    ///< close the connection with `code` and `reason`
  drop,     ///< drop TCP without a close frame
  silent,   ///< complete the handshake, then never read or write again
  refuse,   ///< answer the upgrade with HTTP `status` (and Retry-After)
  strikes,  ///< close every connection of the client with `code`, before min_uptime
  refresh,  ///< turn away stale credentials (close `code`, or HTTP `status`), accept fresh ones
  shed,     ///< a server at max_connections turns the client away (1013, or HTTP `status` 503)
  restart,  ///< graceful restart: a new server takes the port, the old one shuts down with `code`
};

/// One scenario of the walk.
struct scenario {
  std::string name;  ///< stable JSON name: "close-1012", "drop", "http-429", "strikes-1002", ...
  action_kind kind = action_kind::close;
  /// The close code the client must report: the code sent, or 1006 when the
  /// connection never opens or ends without a close frame.
  close_code code = close_code::normal;
  std::string reason;                   ///< the close reason sent
  unsigned status = 0;                  ///< the HTTP status of a refused upgrade (0: none)
  std::optional<unsigned> retry_after;  ///< Retry-After / overload retry-after, seconds
  int clients = 1;
  std::string label;  ///< the first column of the summary table
};

/// The request header a refresh scenario checks, and its stale and fresh values.
inline constexpr std::string_view credential_header = "Authorization";
inline constexpr std::string_view stale_credentials = "Bearer expired-token";
inline constexpr std::string_view fresh_credentials = "Bearer refreshed-token";

/// The walk: every close code the policy table names, the misbehaviours, and
/// the library's own policies at work (strikes, refresh, shedding, restart).
std::vector<scenario> make_scenarios(int restart_clients);

/// "Unauthorized", "Too Many Requests", "Service Unavailable"; empty for others.
std::string_view status_phrase(unsigned status);

/// What the server will do, as a sentence fragment ("close 1012 \"restarting\"").
std::string server_action(const scenario& s, std::chrono::milliseconds restart_spread);

}  // namespace closewise::cli::demo

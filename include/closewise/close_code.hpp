// closewise: the close-code registry.
//
// RFC 6455 §7.4 and the IANA "WebSocket Close Code Number Registry" define what
// a close code means. This header holds one constexpr table that answers every
// classification question about all 65,536 values; nothing else in closewise
// hard-codes a code range.
#pragma once

#include <array>
#include <cstdint>
#include <optional>
#include <string_view>

namespace closewise {

/// A close status code as carried on the wire (RFC 6455 §5.5.1, §7.4).
///
/// It is a `uint16_t`-backed enumeration, so every value 0..65535 round-trips
/// untouched, including 3xxx and 4xxx codes that have no name here.
enum class close_code : std::uint16_t {
  normal = 1000,               ///< Normal Closure
  going_away = 1001,           ///< Going Away
  protocol_error = 1002,       ///< Protocol error
  unsupported_data = 1003,     ///< Unsupported Data
  reserved = 1004,             ///< Reserved
  no_status = 1005,            ///< No Status Rcvd (local only)
  abnormal = 1006,             ///< Abnormal Closure (local only)
  invalid_payload = 1007,      ///< Invalid frame payload data
  policy_violation = 1008,     ///< Policy Violation
  message_too_big = 1009,      ///< Message Too Big
  mandatory_extension = 1010,  ///< Mandatory Extension
  internal_error = 1011,       ///< Internal Error
  service_restart = 1012,      ///< Service Restart
  try_again_later = 1013,      ///< Try Again Later
  bad_gateway = 1014,          ///< Bad Gateway
  tls_handshake = 1015,        ///< TLS handshake (local only)
};

/// The wire value of a code.
constexpr std::uint16_t to_int(close_code c) noexcept { return static_cast<std::uint16_t>(c); }

/// Named bounds of the ranges of RFC 6455 §7.4.2 and the IANA registry.
namespace close_range {
inline constexpr std::uint16_t unused_first = 0;
inline constexpr std::uint16_t unused_last = 999;
inline constexpr std::uint16_t protocol_first = 1000;
inline constexpr std::uint16_t protocol_last = 1015;
inline constexpr std::uint16_t future_first = 1016;
inline constexpr std::uint16_t future_last = 2999;
inline constexpr std::uint16_t registered_first = 3000;
inline constexpr std::uint16_t registered_last = 3999;
inline constexpr std::uint16_t private_first = 4000;
inline constexpr std::uint16_t private_last = 4999;
inline constexpr std::uint16_t invalid_first = 5000;
inline constexpr std::uint16_t invalid_last = 65535;
/// closewise's default policy splits the open ranges in two halves: the lower
/// half is retried, the upper half is final (ARCHITECTURE §3).
inline constexpr std::uint16_t registered_final_first = 3500;
inline constexpr std::uint16_t private_final_first = 4500;
}  // namespace close_range

/// What the default reconnect policy does after receiving a code (ARCHITECTURE §3).
enum class reconnect_action : std::uint8_t {
  stop,                ///< S: do not reconnect
  retry,               ///< R: retry with normal backoff
  retry_raised_floor,  ///< RD: retry with a raised, still-jittered floor
  retry_with_strikes,  ///< RS: retry, stop after N identical short-lived closes
};

/// A refinement of the action that the policy engine applies.
enum class reconnect_qualifier : std::uint8_t {
  none,
  credential_refresh,  ///< 1008: one retry if the refresh hook yields new credentials
  dead_letter,         ///< 1009: retry if the offending outgoing message is known
  tls_verify_stops,    ///< 1015: stop on certificate verification failure, else retry
};

/// The default reconnect decision of a code or range, as data.
struct reconnect_rule {
  reconnect_action action;
  reconnect_qualifier qualifier = reconnect_qualifier::none;
  std::uint32_t floor_ms = 0;         ///< raised floor for RD (0: the backoff's own floor)
  std::uint32_t first_spread_ms = 0;  ///< first retry spread over U(0, first_spread_ms)
  std::string_view why;               ///< one line a person can read
};

/// Who may put a code in a close frame.
enum class sender : std::uint8_t {
  nobody,       ///< never on the wire
  application,  ///< `close()` of the application API (1000, 3000-4999)
  endpoint,     ///< only an endpoint/protocol path (server API, protocol failure)
};

/// One row of the registry: a single code or a contiguous range.
struct close_code_info {
  std::uint16_t first;
  std::uint16_t last;
  std::string_view name;
  std::string_view meaning;
  bool on_wire;        ///< may appear in a close frame (RFC 6455 §7.4.1, §7.4.2)
  sender sent_by;      ///< who may send it
  bool local_only;     ///< synthesized locally and never sent (1005, 1006, 1015)
  reconnect_rule reconnect;
  std::string_view peer_notes;  ///< known behaviour of other implementations

  /// The application `close()` may send it.
  constexpr bool app_sendable() const noexcept { return sent_by == sender::application; }
  /// Only an endpoint or protocol path may send it.
  constexpr bool endpoint_only() const noexcept { return sent_by == sender::endpoint; }
  /// Anyone (application or endpoint) may send it.
  constexpr bool sendable() const noexcept { return sent_by != sender::nobody; }
  constexpr bool is_range() const noexcept { return first != last; }
};

namespace detail {
inline constexpr std::string_view notes_1014 =
    "Boost.Beast, wslay and uWebSockets fail the connection on a received 1014 "
    "(they predate its registration). Chromium 156, Node ws 8.23 and python-websockets 10.4 "
    "report it faithfully (measured by the interop tests).";
inline constexpr std::string_view notes_uws_1012_1013 =
    "uWebSockets fails the connection on a received 1012 or 1013. Chromium 156, Node ws 8.23 "
    "and python-websockets 10.4 report it faithfully (measured by the interop tests).";
inline constexpr std::string_view notes_uws_3xxx =
    "uWebSockets fails the connection on every received code in 3000-3999.";
inline constexpr std::string_view notes_local =
    "Must never be sent (RFC 6455 §7.4.1); closewise fails a close frame carrying it with 1002.";

using A = reconnect_action;
using Q = reconnect_qualifier;
using S = sender;
}  // namespace detail

/// The registry, sorted by `first`, covering 0..65535 without gaps or overlaps.
inline constexpr std::array<close_code_info, 23> close_code_table = {{
    {0, 999, "Unused", "Not used as a status code", false, detail::S::nobody, false,
     {detail::A::stop, detail::Q::none, 0, 0,
      "not a close code; it can never be received from a conforming peer"},
     ""},
    {1000, 1000, "Normal Closure", "The purpose of the connection was fulfilled", true,
     detail::S::application, false,
     {detail::A::stop, detail::Q::none, 0, 0,
      "the peer finished on purpose (opt in to retry: some proxies close idle sockets with 1000)"},
     ""},
    {1001, 1001, "Going Away", "An endpoint is going away: server shutdown or page navigation",
     true, detail::S::endpoint, false,
     {detail::A::retry_raised_floor, detail::Q::none, 0, 5000,
      "the server is going away; come back later, spread out"},
     ""},
    {1002, 1002, "Protocol error", "An endpoint received a frame that violates the protocol",
     true, detail::S::endpoint, false,
     {detail::A::retry_with_strikes, detail::Q::none, 0, 0,
      "a protocol bug repeats; retry, but stop after 3 quick identical closes"},
     ""},
    {1003, 1003, "Unsupported Data", "An endpoint received a data type it cannot accept", true,
     detail::S::endpoint, false,
     {detail::A::retry_with_strikes, detail::Q::none, 0, 0,
      "the same data will be refused again; stop after 3 quick identical closes"},
     ""},
    {1004, 1004, "Reserved", "Reserved; its meaning might be defined in the future", false,
     detail::S::nobody, false,
     {detail::A::retry_with_strikes, detail::Q::none, 0, 0,
      "never valid on the wire; treated like a protocol error if ever reported"},
     ""},
    {1005, 1005, "No Status Rcvd", "A close frame arrived with no status code (local only)",
     false, detail::S::nobody, true,
     {detail::A::retry, detail::Q::none, 0, 0, "the peer gave no reason; retry with backoff"},
     detail::notes_local},
    {1006, 1006, "Abnormal Closure",
     "The connection ended without a close frame: TCP drop, timeout or dead heartbeat (local only)",
     false, detail::S::nobody, true,
     {detail::A::retry, detail::Q::none, 0, 0, "the transport failed; retry with backoff"},
     detail::notes_local},
    {1007, 1007, "Invalid frame payload data",
     "A message's data was inconsistent with its type, e.g. non-UTF-8 text", true,
     detail::S::endpoint, false,
     {detail::A::retry_with_strikes, detail::Q::none, 0, 0,
      "bad data repeats; stop after 3 quick identical closes"},
     ""},
    {1008, 1008, "Policy Violation", "A message violated the endpoint's policy", true,
     detail::S::endpoint, false,
     {detail::A::stop, detail::Q::credential_refresh, 0, 0,
      "the server refused us by policy; retry once only with refreshed credentials"},
     ""},
    {1009, 1009, "Message Too Big", "A message was too big to process", true, detail::S::endpoint,
     false,
     {detail::A::stop, detail::Q::dead_letter, 0, 0,
      "resending the same message fails again; retry only after dead-lettering it"},
     ""},
    {1010, 1010, "Mandatory Ext.", "The client expected the server to negotiate an extension",
     true, detail::S::endpoint, false,
     {detail::A::stop, detail::Q::none, 0, 0, "the extension will still be missing next time"},
     ""},
    {1011, 1011, "Internal Error", "The server hit an unexpected condition", true,
     detail::S::endpoint, false,
     {detail::A::retry_raised_floor, detail::Q::none, 0, 5000,
      "a server fault; retry, spread out so the server can recover"},
     ""},
    {1012, 1012, "Service Restart", "The service is restarting", true, detail::S::endpoint, false,
     {detail::A::retry_raised_floor, detail::Q::none, 0, 5000,
      "the service restarts; retry, spread out to avoid a reconnect storm"},
     detail::notes_uws_1012_1013},
    {1013, 1013, "Try Again Later", "The service is overloaded; try again later", true,
     detail::S::endpoint, false,
     {detail::A::retry_raised_floor, detail::Q::none, 5000, 5000,
      "the server sheds load; wait at least 5 s, jittered"},
     detail::notes_uws_1012_1013},
    {1014, 1014, "Bad Gateway", "A gateway or proxy got an invalid response upstream", true,
     detail::S::endpoint, false,
     {detail::A::retry, detail::Q::none, 0, 0, "an upstream failed; retry with backoff"},
     detail::notes_1014},
    {1015, 1015, "TLS handshake", "The TLS handshake failed, e.g. the certificate (local only)",
     false, detail::S::nobody, true,
     {detail::A::retry, detail::Q::tls_verify_stops, 0, 0,
      "stop when the certificate failed verification; retry other TLS failures"},
     detail::notes_local},
    {1016, 2999, "Reserved (future RFCs)", "Reserved for future revisions of RFC 6455", false,
     detail::S::nobody, false,
     {detail::A::retry, detail::Q::none, 0, 0, "unknown meaning; retry with backoff"}, ""},
    {3000, 3499, "Registered (library/framework)",
     "Registered with IANA by libraries and frameworks; retried by default", true,
     detail::S::application, false,
     {detail::A::retry, detail::Q::none, 0, 0, "closewise convention: 3000-3499 are retryable"},
     detail::notes_uws_3xxx},
    {3500, 3999, "Registered (library/framework)",
     "Registered with IANA by libraries and frameworks; final by default", true,
     detail::S::application, false,
     {detail::A::stop, detail::Q::none, 0, 0, "closewise convention: 3500-3999 are final"},
     detail::notes_uws_3xxx},
    {4000, 4499, "Private use", "Private use by applications; retried by default", true,
     detail::S::application, false,
     {detail::A::retry, detail::Q::none, 0, 0, "closewise convention: 4000-4499 are retryable"},
     ""},
    {4500, 4999, "Private use", "Private use by applications; final by default", true,
     detail::S::application, false,
     {detail::A::stop, detail::Q::none, 0, 0, "closewise convention: 4500-4999 are final"}, ""},
    {5000, 65535, "Invalid", "Outside every range RFC 6455 defines", false, detail::S::nobody,
     false,
     {detail::A::stop, detail::Q::none, 0, 0,
      "not a close code; it can never be received from a conforming peer"},
     ""},
}};

/// What one peer does with a code, as measured by closewise's interop tests.
struct peer_observation {
  std::string_view codes;      ///< the codes the row covers, e.g. "1012-1014"
  std::string_view peer;       ///< name and version
  std::string_view on_send;    ///< can the peer's API send it
  std::string_view on_receipt; ///< what the peer reports when closewise sends it
};

/// The per-peer matrix (code x peer x on send / on receipt). Rows with a
/// measured peer are asserted by tests/net/interop_*_test.cpp; the Beast,
/// wslay and uWebSockets rows come from their source and are not run here.
inline constexpr std::array<peer_observation, 12> peer_matrix = {{
    {"1000-1003, 1007-1014, 3000-4999", "python-websockets 10.4", "yes",
     "exact code and reason; echoes code and reason"},
    {"1000-1003, 1007-1014, 3000-4999", "Node ws 8.23", "yes",
     "exact code and reason; echoes code and reason"},
    {"1000, 3000-4999", "Chromium 156", "yes (ws.close)", "exact, wasClean=true"},
    {"1001-1003, 1007-1014", "Chromium 156", "no: InvalidAccessError (WHATWG)",
     "1001, 1008, 1011, 1012, 1013, 1014 measured: exact, wasClean=true, not rewritten"},
    {"1005, 1006, 1015", "python-websockets 10.4, Node ws 8.23, Chromium 156",
     "refused by the API", "never sent by closewise"},
    {"TCP drop", "python-websockets 10.4, Node ws 8.23", "-", "1006"},
    {"TCP drop", "Chromium 156", "-", "1006, reason \"\", wasClean=false"},
    {"1014", "Boost.Beast 1.81", "-", "fails the connection (1014 predates its code table)"},
    {"1014", "wslay", "-", "fails the connection"},
    {"1012-1014", "uWebSockets", "-", "fails the connection"},
    {"3000-3999", "uWebSockets", "-", "fails the connection"},
    {"1000-1003, 1007-1014, 3000-4999", "closewise", "1000, 3000-4999 (app); others endpoint only",
     "exact code and reason; echoes the code with no reason"},
}};

/// The registry row that covers `code`. Every value has exactly one row.
constexpr const close_code_info& info(close_code code) noexcept {
  const auto v = to_int(code);
  std::size_t lo = 0, hi = close_code_table.size();  // binary search over sorted rows
  while (hi - lo > 1) {
    const std::size_t mid = (lo + hi) / 2;
    if (close_code_table[mid].first <= v) lo = mid; else hi = mid;
  }
  return close_code_table[lo];
}

/// RFC 6455 §7.4: may this code appear in a close frame?
constexpr bool is_valid_on_wire(close_code c) noexcept { return info(c).on_wire; }
/// May the application's `close()` send it (1000, 3000-4999)?
constexpr bool is_app_sendable(close_code c) noexcept { return info(c).app_sendable(); }
/// May an endpoint/protocol path (server API, protocol failure) send it?
constexpr bool is_endpoint_sendable(close_code c) noexcept { return info(c).sendable(); }
/// Is it synthesized locally only (1005, 1006, 1015)?
constexpr bool is_local_only(close_code c) noexcept { return info(c).local_only; }

/// The registry name ("Service Restart"), or the range's name for unnamed codes.
constexpr std::string_view name(close_code c) noexcept { return info(c).name; }

/// Parses a decimal close code ("1014"); nullopt for anything else or > 65535.
constexpr std::optional<close_code> parse_close_code(std::string_view s) noexcept {
  if (s.empty() || s.size() > 5) return std::nullopt;
  std::uint32_t v = 0;
  for (char ch : s) {
    if (ch < '0' || ch > '9') return std::nullopt;
    v = v * 10 + static_cast<std::uint32_t>(ch - '0');
  }
  if (v > 65535) return std::nullopt;
  return static_cast<close_code>(v);
}

}  // namespace closewise

// closewise: the close-code registry.
//
// RFC 6455 §7.4 and the IANA "WebSocket Close Code Number Registry" define what
// a close code means. This header holds one constexpr table that answers every
// classification question about all 65,536 values; nothing else in closewise
// hard-codes a code range.
#pragma once

#include <array>
#include <chrono>
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

/// What to do after one close code, HTTP status or transport failure, as data.
///
/// The one rule type of closewise: the registry's rows (`close_code_info::reconnect`),
/// the policy's default tables and presets, and every override a user writes or
/// loads from JSON (`policy::config`) are all `reconnect_rule`. It is a literal,
/// trivially copyable type, so the tables stay `constexpr`.
///
/// `why` is a view. Static text (a literal, or a `constexpr` string) needs no
/// owner; text made at run time must outlive the rule: `policy::config` keeps
/// such text for the rules it holds (`config::texts.keep()`, which the JSON
/// loader uses).
struct reconnect_rule {
  reconnect_action action = reconnect_action::retry;
  reconnect_qualifier qualifier = reconnect_qualifier::none;
  /// Raised floor for `retry_raised_floor`: the delay is at least
  /// `floor + U(0, hint_jitter · floor)`. 0 keeps the backoff's own floor.
  std::chrono::milliseconds floor{0};
  /// When non-zero, the first retry of a streak waits
  /// `max(floor, backoff floor) + U(0, first_spread)`, so clients that lost the
  /// same server at the same moment come back spread out.
  std::chrono::milliseconds first_spread{0};
  /// One line a person can read; it ends the stop reason.
  std::string_view why = {};

  /// Transitional, the identity: call sites written when the policy had its own
  /// owning rule type (`policy::rule::from(registry_rule)`, in tests/net) still
  /// compile. Remove once they copy the rule directly.
  static constexpr reconnect_rule from(const reconnect_rule& r) noexcept { return r; }

  friend constexpr bool operator==(const reconnect_rule&, const reconnect_rule&) = default;
};

/// Who may put a code in a close frame.
enum class sender : std::uint8_t {
  nobody,       ///< never on the wire
  application,  ///< `close()` of the application API (1000, 3000-4999)
  endpoint,     ///< only an endpoint/protocol path (server API, protocol failure)
};

/// One row of the registry: a single code or a contiguous range.
struct close_code_info {
  std::uint16_t first = 0;
  std::uint16_t last = 0;
  std::string_view name = {};
  std::string_view meaning = {};
  bool on_wire = false;              ///< may appear in a close frame (RFC 6455 §7.4.1, §7.4.2)
  sender sent_by = sender::nobody;   ///< who may send it
  bool local_only = false;           ///< synthesized locally and never sent (1005, 1006, 1015)
  reconnect_rule reconnect = {};     ///< the default reconnect decision (ARCHITECTURE §3)
  std::string_view peer_notes = {};  ///< known behaviour of other implementations

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

inline constexpr std::string_view never_received =
    "not a close code; it can never be received from a conforming peer";
inline constexpr std::chrono::seconds five_s{5};
}  // namespace detail

// The registry reads like the IANA one: a row names only what is true of it;
// every field left out is false, `sender::nobody`, zero or empty.
// clang-format off
/// The registry, sorted by `first`, covering 0..65535 without gaps or overlaps.
inline constexpr std::array<close_code_info, 23> close_code_table = {{
    {.first = 0, .last = 999, .name = "Unused", .meaning = "Not used as a status code",
     .reconnect = {.action = reconnect_action::stop, .why = detail::never_received}},

    {.first = 1000, .last = 1000, .name = "Normal Closure",
     .meaning = "The purpose of the connection was fulfilled",
     .on_wire = true, .sent_by = sender::application,
     .reconnect = {.action = reconnect_action::stop,
                   .why = "the peer finished on purpose (opt in to retry: some proxies close "
                          "idle sockets with 1000)"}},

    {.first = 1001, .last = 1001, .name = "Going Away",
     .meaning = "An endpoint is going away: server shutdown or page navigation",
     .on_wire = true, .sent_by = sender::endpoint,
     .reconnect = {.action = reconnect_action::retry_raised_floor, .first_spread = detail::five_s,
                   .why = "the server is going away; come back later, spread out"}},

    {.first = 1002, .last = 1002, .name = "Protocol error",
     .meaning = "An endpoint received a frame that violates the protocol",
     .on_wire = true, .sent_by = sender::endpoint,
     .reconnect = {.action = reconnect_action::retry_with_strikes,
                   .why = "a protocol bug repeats; retry, but stop after 3 quick identical closes"}},

    {.first = 1003, .last = 1003, .name = "Unsupported Data",
     .meaning = "An endpoint received a data type it cannot accept",
     .on_wire = true, .sent_by = sender::endpoint,
     .reconnect = {.action = reconnect_action::retry_with_strikes,
                   .why = "the same data will be refused again; stop after 3 quick identical closes"}},

    {.first = 1004, .last = 1004, .name = "Reserved",
     .meaning = "Reserved; its meaning might be defined in the future",
     .reconnect = {.action = reconnect_action::retry_with_strikes,
                   .why = "never valid on the wire; treated like a protocol error if ever reported"}},

    {.first = 1005, .last = 1005, .name = "No Status Rcvd",
     .meaning = "A close frame arrived with no status code (local only)",
     .local_only = true,
     .reconnect = {.action = reconnect_action::retry,
                   .why = "the peer gave no reason; retry with backoff"},
     .peer_notes = detail::notes_local},

    {.first = 1006, .last = 1006, .name = "Abnormal Closure",
     .meaning = "The connection ended without a close frame: TCP drop, timeout or dead heartbeat "
                "(local only)",
     .local_only = true,
     .reconnect = {.action = reconnect_action::retry,
                   .why = "the transport failed; retry with backoff"},
     .peer_notes = detail::notes_local},

    {.first = 1007, .last = 1007, .name = "Invalid frame payload data",
     .meaning = "A message's data was inconsistent with its type, e.g. non-UTF-8 text",
     .on_wire = true, .sent_by = sender::endpoint,
     .reconnect = {.action = reconnect_action::retry_with_strikes,
                   .why = "bad data repeats; stop after 3 quick identical closes"}},

    {.first = 1008, .last = 1008, .name = "Policy Violation",
     .meaning = "A message violated the endpoint's policy",
     .on_wire = true, .sent_by = sender::endpoint,
     .reconnect = {.action = reconnect_action::stop,
                   .qualifier = reconnect_qualifier::credential_refresh,
                   .why = "the server refused us by policy; retry once only with refreshed "
                          "credentials"}},

    {.first = 1009, .last = 1009, .name = "Message Too Big",
     .meaning = "A message was too big to process",
     .on_wire = true, .sent_by = sender::endpoint,
     .reconnect = {.action = reconnect_action::stop,
                   .qualifier = reconnect_qualifier::dead_letter,
                   .why = "resending the same message fails again; retry only after "
                          "dead-lettering it"}},

    {.first = 1010, .last = 1010, .name = "Mandatory Ext.",
     .meaning = "The client expected the server to negotiate an extension",
     .on_wire = true, .sent_by = sender::endpoint,
     .reconnect = {.action = reconnect_action::stop,
                   .why = "the extension will still be missing next time"}},

    {.first = 1011, .last = 1011, .name = "Internal Error",
     .meaning = "The server hit an unexpected condition",
     .on_wire = true, .sent_by = sender::endpoint,
     .reconnect = {.action = reconnect_action::retry_raised_floor, .first_spread = detail::five_s,
                   .why = "a server fault; retry, spread out so the server can recover"}},

    {.first = 1012, .last = 1012, .name = "Service Restart",
     .meaning = "The service is restarting",
     .on_wire = true, .sent_by = sender::endpoint,
     .reconnect = {.action = reconnect_action::retry_raised_floor, .first_spread = detail::five_s,
                   .why = "the service restarts; retry, spread out to avoid a reconnect storm"},
     .peer_notes = detail::notes_uws_1012_1013},

    {.first = 1013, .last = 1013, .name = "Try Again Later",
     .meaning = "The service is overloaded; try again later",
     .on_wire = true, .sent_by = sender::endpoint,
     .reconnect = {.action = reconnect_action::retry_raised_floor, .floor = detail::five_s,
                   .first_spread = detail::five_s,
                   .why = "the server sheds load; wait at least 5 s, jittered"},
     .peer_notes = detail::notes_uws_1012_1013},

    {.first = 1014, .last = 1014, .name = "Bad Gateway",
     .meaning = "A gateway or proxy got an invalid response upstream",
     .on_wire = true, .sent_by = sender::endpoint,
     .reconnect = {.action = reconnect_action::retry,
                   .why = "an upstream failed; retry with backoff"},
     .peer_notes = detail::notes_1014},

    {.first = 1015, .last = 1015, .name = "TLS handshake",
     .meaning = "The TLS handshake failed, e.g. the certificate (local only)",
     .local_only = true,
     .reconnect = {.action = reconnect_action::retry,
                   .qualifier = reconnect_qualifier::tls_verify_stops,
                   .why = "stop when the certificate failed verification; retry other TLS "
                          "failures"},
     .peer_notes = detail::notes_local},

    {.first = 1016, .last = 2999, .name = "Reserved (future RFCs)",
     .meaning = "Reserved for future revisions of RFC 6455",
     .reconnect = {.action = reconnect_action::retry,
                   .why = "unknown meaning; retry with backoff"}},

    {.first = 3000, .last = 3499, .name = "Registered (library/framework)",
     .meaning = "Registered with IANA by libraries and frameworks; retried by default",
     .on_wire = true, .sent_by = sender::application,
     .reconnect = {.action = reconnect_action::retry,
                   .why = "closewise convention: 3000-3499 are retryable"},
     .peer_notes = detail::notes_uws_3xxx},

    {.first = 3500, .last = 3999, .name = "Registered (library/framework)",
     .meaning = "Registered with IANA by libraries and frameworks; final by default",
     .on_wire = true, .sent_by = sender::application,
     .reconnect = {.action = reconnect_action::stop,
                   .why = "closewise convention: 3500-3999 are final"},
     .peer_notes = detail::notes_uws_3xxx},

    {.first = 4000, .last = 4499, .name = "Private use",
     .meaning = "Private use by applications; retried by default",
     .on_wire = true, .sent_by = sender::application,
     .reconnect = {.action = reconnect_action::retry,
                   .why = "closewise convention: 4000-4499 are retryable"}},

    {.first = 4500, .last = 4999, .name = "Private use",
     .meaning = "Private use by applications; final by default",
     .on_wire = true, .sent_by = sender::application,
     .reconnect = {.action = reconnect_action::stop,
                   .why = "closewise convention: 4500-4999 are final"}},

    {.first = 5000, .last = 65535, .name = "Invalid",
     .meaning = "Outside every range RFC 6455 defines",
     .reconnect = {.action = reconnect_action::stop, .why = detail::never_received}},
}};
// clang-format on

/// What one peer does with a code, as measured by closewise's interop tests.
struct peer_observation {
  std::string_view codes;       ///< the codes the row covers, e.g. "1012-1014"
  std::string_view peer;        ///< name and version
  std::string_view on_send;     ///< can the peer's API send it
  std::string_view on_receipt;  ///< what the peer reports when closewise sends it
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
    {"1005, 1006, 1015", "python-websockets 10.4, Node ws 8.23, Chromium 156", "refused by the API",
     "never sent by closewise"},
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
    if (close_code_table[mid].first <= v)
      lo = mid;
    else
      hi = mid;
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
[[nodiscard]] constexpr std::optional<close_code> parse_close_code(std::string_view s) noexcept {
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

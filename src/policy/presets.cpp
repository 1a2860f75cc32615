#include "closewise/policy/presets.hpp"

#include <span>

namespace closewise::policy {
namespace {

using A = reconnect_action;
using Q = reconnect_qualifier;

// A preset is a name plus override tables; the engine has no preset-specific code.
struct code_row {
  std::uint16_t first;
  std::uint16_t last;
  reconnect_rule rule;
};
struct transport_row {
  transport_failure failure;
  reconnect_rule rule;
};
struct preset_data {
  std::string_view name;
  std::span<const code_row> codes;
  std::span<const status_rule_row> statuses;
  std::span<const transport_row> transports;
};

constexpr std::string_view never_why = "the 'never' preset makes exactly one attempt";
constexpr std::string_view always_why = "the 'always' preset retries every failure";

constexpr code_row never_codes[] = {{0, 65535, {A::stop, Q::none, 0, 0, never_why}}};
constexpr status_rule_row never_statuses[] = {{100, 999, {A::stop, Q::none, 0, 0, never_why}}};
constexpr transport_row never_transports[] = {
    {transport_failure::dns, {A::stop, Q::none, 0, 0, never_why}},
    {transport_failure::refused, {A::stop, Q::none, 0, 0, never_why}},
    {transport_failure::reset, {A::stop, Q::none, 0, 0, never_why}},
    {transport_failure::timeout, {A::stop, Q::none, 0, 0, never_why}},
    {transport_failure::tls_verify, {A::stop, Q::none, 0, 0, never_why}},
    {transport_failure::tls_other, {A::stop, Q::none, 0, 0, never_why}},
    {transport_failure::other, {A::stop, Q::none, 0, 0, never_why}},
};

// 'always' still spreads the codes that announce a restart or overload: retrying
// everything is no excuse for a reconnect storm.
constexpr code_row always_codes[] = {
    {0, 65535, {A::retry, Q::none, 0, 0, always_why}},
    {1001, 1001, {A::retry_raised_floor, Q::none, 0, 5000, always_why}},
    {1011, 1012, {A::retry_raised_floor, Q::none, 0, 5000, always_why}},
    {1013, 1013, {A::retry_raised_floor, Q::none, 5000, 5000, always_why}},
};
constexpr status_rule_row always_statuses[] = {
    {100, 999, {A::retry, Q::none, 0, 0, always_why}},
    {429, 429, {A::retry_raised_floor, Q::none, 5000, 5000, always_why}},
    {503, 503, {A::retry_raised_floor, Q::none, 5000, 5000, always_why}},
};
constexpr transport_row always_transports[] = {
    {transport_failure::dns, {A::retry, Q::none, 0, 0, always_why}},
    {transport_failure::refused, {A::retry, Q::none, 0, 0, always_why}},
    {transport_failure::reset, {A::retry, Q::none, 0, 0, always_why}},
    {transport_failure::timeout, {A::retry, Q::none, 0, 0, always_why}},
    {transport_failure::tls_verify, {A::retry, Q::none, 0, 0, always_why}},
    {transport_failure::tls_other, {A::retry, Q::none, 0, 0, always_why}},
    {transport_failure::other, {A::retry, Q::none, 0, 0, always_why}},
};

// Centrifugo's client protocol: 3000-3499 and 4000-4499 reconnect, 3500-3999 and
// 4500-4999 are terminal; the single codes refine how to come back.
constexpr code_row centrifugo_codes[] = {
    {3000, 3499, {A::retry, Q::none, 0, 0, "Centrifugo: a non-terminal disconnect; reconnect"}},
    {3500, 3999, {A::stop, Q::none, 0, 0, "Centrifugo: a terminal disconnect; do not reconnect"}},
    {4000, 4499, {A::retry, Q::none, 0, 0, "Centrifugo: a custom non-terminal disconnect"}},
    {4500, 4999, {A::stop, Q::none, 0, 0, "Centrifugo: a custom terminal disconnect"}},
    {3001,
     3001,
     {A::retry_raised_floor, Q::none, 0, 5000,
      "Centrifugo shutdown: the node goes away; come back spread out"}},
    {3004,
     3004,
     {A::retry_raised_floor, Q::none, 0, 5000,
      "Centrifugo internal server error: come back spread out"}},
    {3013,
     3013,
     {A::retry_raised_floor, Q::none, 5000, 5000,
      "Centrifugo too many requests: wait at least 5 s, jittered"}},
    {3500,
     3500,
     {A::stop, Q::credential_refresh, 0, 0,
      "Centrifugo invalid token: retry once only with a refreshed token"}},
};

// Discord gateway close codes 4000-4014.
constexpr code_row discord_codes[] = {
    {4000, 4000, {A::retry, Q::none, 0, 0, "Discord unknown error: reconnect"}},
    {4001,
     4001,
     {A::retry_with_strikes, Q::none, 0, 0,
      "Discord unknown opcode: our payload was wrong, and a bug repeats"}},
    {4002,
     4002,
     {A::retry_with_strikes, Q::none, 0, 0,
      "Discord decode error: our payload was wrong, and a bug repeats"}},
    {4003,
     4003,
     {A::retry_with_strikes, Q::none, 0, 0,
      "Discord not authenticated: we spoke before identifying"}},
    {4004,
     4004,
     {A::stop, Q::credential_refresh, 0, 0,
      "Discord authentication failed: retry once only with a new token"}},
    {4005,
     4005,
     {A::retry_with_strikes, Q::none, 0, 0, "Discord already authenticated: we identified twice"}},
    {4007,
     4007,
     {A::retry, Q::none, 0, 0, "Discord invalid sequence: reconnect with a new session"}},
    {4008,
     4008,
     {A::retry_raised_floor, Q::none, 5000, 5000,
      "Discord rate limited: wait at least 5 s, jittered"}},
    {4009, 4009, {A::retry, Q::none, 0, 0, "Discord session timed out: reconnect"}},
    {4010, 4010, {A::stop, Q::none, 0, 0, "Discord invalid shard: fix the shard configuration"}},
    {4011, 4011, {A::stop, Q::none, 0, 0, "Discord sharding required: shard the bot first"}},
    {4012, 4012, {A::stop, Q::none, 0, 0, "Discord invalid API version: upgrade the client"}},
    {4013, 4013, {A::stop, Q::none, 0, 0, "Discord invalid intents: fix the intents value"}},
    {4014,
     4014,
     {A::stop, Q::none, 0, 0, "Discord disallowed intents: enable them for the application first"}},
};

constexpr preset_data presets[] = {
    {"default", {}, {}, {}},
    {"never", never_codes, never_statuses, never_transports},
    {"always", always_codes, always_statuses, always_transports},
    {"centrifugo", centrifugo_codes, {}, {}},
    {"discord", discord_codes, {}, {}},
};

config build(const preset_data& data) {
  config cfg;
  cfg.name = std::string(data.name);
  for (const auto& row : data.codes)
    cfg.codes.push_back({row.first, row.last, rule::from(row.rule)});
  for (const auto& row : data.statuses) {
    cfg.statuses.push_back({row.first, row.last, rule::from(row.rule)});
  }
  for (const auto& row : data.transports)
    cfg.transports.push_back({row.failure, rule::from(row.rule)});
  return cfg;
}

}  // namespace

std::optional<config> preset(std::string_view name) {
  for (const auto& data : presets) {
    if (data.name == name) return build(data);
  }
  return std::nullopt;
}

}  // namespace closewise::policy

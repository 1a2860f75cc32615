#include "closewise/policy/presets.hpp"

#include <span>

namespace closewise::policy {
namespace {

using A = reconnect_action;
using Q = reconnect_qualifier;

// A preset is a name plus override tables; the engine has no preset-specific code.
struct preset_data {
  std::string_view name;
  std::span<const code_override> codes;
  std::span<const status_override> statuses;
  std::span<const transport_override> transports;
};

constexpr std::chrono::seconds five_s{5};
constexpr std::string_view never_why = "the 'never' preset makes exactly one attempt";
constexpr std::string_view always_why = "the 'always' preset retries every failure";
constexpr rule never_rule{.action = A::stop, .why = never_why};
constexpr rule always_rule{.action = A::retry, .why = always_why};

// clang-format off
constexpr code_override never_codes[] = {{0, 65535, never_rule}};
constexpr status_override never_statuses[] = {{100, 999, never_rule}};
constexpr transport_override never_transports[] = {
    {transport_failure::dns, never_rule},        {transport_failure::refused, never_rule},
    {transport_failure::reset, never_rule},      {transport_failure::timeout, never_rule},
    {transport_failure::tls_verify, never_rule}, {transport_failure::tls_other, never_rule},
    {transport_failure::other, never_rule},
};

// 'always' still spreads the codes that announce a restart or overload: retrying
// everything is no excuse for a reconnect storm.
constexpr code_override always_codes[] = {
    {0, 65535, always_rule},
    {1001, 1001, {.action = A::retry_raised_floor, .first_spread = five_s, .why = always_why}},
    {1011, 1012, {.action = A::retry_raised_floor, .first_spread = five_s, .why = always_why}},
    {1013, 1013, {.action = A::retry_raised_floor, .floor = five_s, .first_spread = five_s,
                  .why = always_why}},
};
constexpr status_override always_statuses[] = {
    {100, 999, always_rule},
    {429, 429, {.action = A::retry_raised_floor, .floor = five_s, .first_spread = five_s,
                .why = always_why}},
    {503, 503, {.action = A::retry_raised_floor, .floor = five_s, .first_spread = five_s,
                .why = always_why}},
};
constexpr transport_override always_transports[] = {
    {transport_failure::dns, always_rule},        {transport_failure::refused, always_rule},
    {transport_failure::reset, always_rule},      {transport_failure::timeout, always_rule},
    {transport_failure::tls_verify, always_rule}, {transport_failure::tls_other, always_rule},
    {transport_failure::other, always_rule},
};

// Centrifugo's client protocol: 3000-3499 and 4000-4499 reconnect, 3500-3999 and
// 4500-4999 are terminal; the single codes refine how to come back.
constexpr code_override centrifugo_codes[] = {
    {3000, 3499, {.action = A::retry, .why = "Centrifugo: a non-terminal disconnect; reconnect"}},
    {3500, 3999, {.action = A::stop, .why = "Centrifugo: a terminal disconnect; do not reconnect"}},
    {4000, 4499, {.action = A::retry, .why = "Centrifugo: a custom non-terminal disconnect"}},
    {4500, 4999, {.action = A::stop, .why = "Centrifugo: a custom terminal disconnect"}},
    {3001, 3001, {.action = A::retry_raised_floor, .first_spread = five_s,
                  .why = "Centrifugo shutdown: the node goes away; come back spread out"}},
    {3004, 3004, {.action = A::retry_raised_floor, .first_spread = five_s,
                  .why = "Centrifugo internal server error: come back spread out"}},
    {3013, 3013, {.action = A::retry_raised_floor, .floor = five_s, .first_spread = five_s,
                  .why = "Centrifugo too many requests: wait at least 5 s, jittered"}},
    {3500, 3500, {.action = A::stop, .qualifier = Q::credential_refresh,
                  .why = "Centrifugo invalid token: retry once only with a refreshed token"}},
};

// Discord gateway close codes 4000-4014.
constexpr code_override discord_codes[] = {
    {4000, 4000, {.action = A::retry, .why = "Discord unknown error: reconnect"}},
    {4001, 4001, {.action = A::retry_with_strikes,
                  .why = "Discord unknown opcode: our payload was wrong, and a bug repeats"}},
    {4002, 4002, {.action = A::retry_with_strikes,
                  .why = "Discord decode error: our payload was wrong, and a bug repeats"}},
    {4003, 4003, {.action = A::retry_with_strikes,
                  .why = "Discord not authenticated: we spoke before identifying"}},
    {4004, 4004, {.action = A::stop, .qualifier = Q::credential_refresh,
                  .why = "Discord authentication failed: retry once only with a new token"}},
    {4005, 4005, {.action = A::retry_with_strikes,
                  .why = "Discord already authenticated: we identified twice"}},
    {4007, 4007, {.action = A::retry,
                  .why = "Discord invalid sequence: reconnect with a new session"}},
    {4008, 4008, {.action = A::retry_raised_floor, .floor = five_s, .first_spread = five_s,
                  .why = "Discord rate limited: wait at least 5 s, jittered"}},
    {4009, 4009, {.action = A::retry, .why = "Discord session timed out: reconnect"}},
    {4010, 4010, {.action = A::stop, .why = "Discord invalid shard: fix the shard configuration"}},
    {4011, 4011, {.action = A::stop, .why = "Discord sharding required: shard the bot first"}},
    {4012, 4012, {.action = A::stop, .why = "Discord invalid API version: upgrade the client"}},
    {4013, 4013, {.action = A::stop, .why = "Discord invalid intents: fix the intents value"}},
    {4014, 4014, {.action = A::stop,
                  .why = "Discord disallowed intents: enable them for the application first"}},
};
// clang-format on

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
  cfg.codes.assign(data.codes.begin(), data.codes.end());
  cfg.statuses.assign(data.statuses.begin(), data.statuses.end());
  cfg.transports.assign(data.transports.begin(), data.transports.end());
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

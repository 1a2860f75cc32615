// closewise::policy: named policies, kept as data (override tables), not code.
#pragma once

#include <array>
#include <optional>
#include <string_view>

#include "closewise/policy/policy.hpp"

namespace closewise::policy {

/// The names of the built-in presets.
///
/// - `default`: the registry and status tables of ARCHITECTURE §3 as they are.
/// - `never`: every outcome stops, so a client makes exactly one attempt.
/// - `always`: every outcome retries with backoff (a local close still stops).
/// - `centrifugo`: Centrifugo's disconnect codes: 3000-3499 and 4000-4499
///   reconnect, 3500-3999 and 4500-4999 are terminal; its shutdown, server
///   error and too-many-requests codes back off like 1001/1011/1013, and an
///   invalid token gets one credential refresh.
/// - `discord`: Discord gateway close codes 4000-4014: an authentication
///   failure (4004) gets one credential refresh, 4010-4014 (shard, API
///   version and intent errors) stop, a rate limit (4008) backs off like
///   1013, the others reconnect.
inline constexpr std::array<std::string_view, 5> preset_names = {"default", "never", "always",
                                                                 "centrifugo", "discord"};

/// The preset called `name`, or nullopt if there is none.
[[nodiscard]] std::optional<config> preset(std::string_view name);

}  // namespace closewise::policy

// closewise::policy: backoff strategies, pure functions of (attempt, previous
// delay, a uniform random source).
//
// Every strategy keeps its jitter at the cap: at a large attempt number the
// delay is still spread over a wide window instead of piling up on exactly
// `cap`, which would re-synchronise clients into a reconnect storm.
#pragma once

#include <chrono>
#include <cstdint>
#include <functional>
#include <variant>
#include <vector>

namespace closewise::policy {

/// A source of uniform doubles in [0, 1). Injected so tests are deterministic;
/// values outside [0, 1) are clamped into it.
using uniform_source = std::function<double()>;

/// A deterministic source (std::mt19937_64 seeded with `seed`), for tests and demos.
uniform_source seeded_uniform(std::uint64_t seed);
/// A source seeded from std::random_device, for production clients.
uniform_source random_uniform();

/// Full jitter with a floor (ARCHITECTURE §3), with the jitter width clamped
/// so that it survives at the cap:
///
///   d(n) = floor + U(0, min(cap − floor, base·2ⁿ))
///
/// so `floor <= d(n) < cap` for every n, and for large n the delay is uniform
/// over [floor, cap) rather than clamped to exactly `cap`. This equals the
/// textbook `min(cap, floor + U(0, min(cap, base·2ⁿ)))` whenever
/// base·2ⁿ <= cap − floor, and differs only where the textbook form would put
/// probability mass on exactly `cap`. If floor >= cap the delay is `floor`.
struct full_jitter {
  std::chrono::milliseconds base{500};    ///< width of the first jitter window
  std::chrono::milliseconds floor{500};   ///< no retry sooner than this
  std::chrono::milliseconds cap{30'000};  ///< every delay stays below this
  friend bool operator==(const full_jitter&, const full_jitter&) = default;
};

/// Decorrelated jitter, with the upper bound clamped before the draw so the
/// jitter survives at the cap:
///
///   d = U(base, min(cap, 3·previous))   (previous = base for the first retry)
///
/// so `base <= d < cap` once 3·previous > base. The textbook
/// `min(cap, U(base, 3·previous))` sends two thirds of the draws to exactly
/// `cap` once previous reaches it.
struct decorrelated_jitter {
  std::chrono::milliseconds base{500};    ///< no retry sooner than this
  std::chrono::milliseconds cap{30'000};  ///< every delay stays below this
  friend bool operator==(const decorrelated_jitter&, const decorrelated_jitter&) = default;
};

/// A fixed table of delays: attempt n waits `delays[min(n, size − 1)]`, plus
/// U(0, jitter · that delay) so clients sharing the table do not move in step.
/// An empty table waits 0 ms.
struct fixed_delays {
  std::vector<std::chrono::milliseconds> delays{
      std::chrono::milliseconds{500},    std::chrono::milliseconds{1'000},
      std::chrono::milliseconds{2'000},  std::chrono::milliseconds{5'000},
      std::chrono::milliseconds{10'000}, std::chrono::milliseconds{30'000}};
  double jitter = 0.2;  ///< proportional jitter in [0, 1]
  friend bool operator==(const fixed_delays&, const fixed_delays&) = default;
};

/// One of the backoff strategies.
using backoff = std::variant<full_jitter, decorrelated_jitter, fixed_delays>;

/// The delay before retry number `attempt` (0 for the first retry of a streak).
///
/// `previous` is the delay actually waited before the last retry (0 if none);
/// only decorrelated jitter uses it. Never overflows: `attempt` may be any
/// value, and durations are clamped into range before any multiplication.
[[nodiscard]] std::chrono::milliseconds next_delay(const backoff& b, std::uint32_t attempt,
                                                   std::chrono::milliseconds previous,
                                                   const uniform_source& uniform);

/// The smallest delay the strategy can return at any attempt (its floor);
/// raised floors and server hints in `decide()` start from this.
std::chrono::milliseconds minimum_delay(const backoff& b) noexcept;

/// U(0, width): a whole number of milliseconds in [0, width); 0 when width <= 0.
std::chrono::milliseconds draw_uniform(std::chrono::milliseconds width,
                                       const uniform_source& uniform);

/// `value + U(0, ratio · value)`: a floor or server hint, jittered upwards
/// only, so a server's "not before" is honoured while clients still spread.
std::chrono::milliseconds jitter_above(std::chrono::milliseconds value, double ratio,
                                       const uniform_source& uniform);

}  // namespace closewise::policy

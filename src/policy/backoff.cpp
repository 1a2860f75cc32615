#include "closewise/policy/backoff.hpp"

#include <algorithm>
#include <cmath>
#include <memory>
#include <random>

namespace closewise::policy {
namespace {

using std::chrono::milliseconds;

// A broken source must not break the bounds, so values are forced into [0, 1).
double clamp01(double u) noexcept {
  if (!(u >= 0.0)) return 0.0;  // also catches NaN
  if (u >= 1.0) return std::nextafter(1.0, 0.0);
  return u;
}

milliseconds draw(milliseconds width, const uniform_source& uniform) {
  return draw_uniform(width, uniform);
}

milliseconds non_negative(milliseconds d) noexcept { return std::max(d, milliseconds{0}); }

milliseconds full_jitter_delay(const full_jitter& s, std::uint32_t attempt,
                               const uniform_source& uniform) {
  const milliseconds floor = non_negative(s.floor);
  const milliseconds cap = non_negative(s.cap);
  const milliseconds base = non_negative(s.base);
  if (floor >= cap) return floor;
  const milliseconds width = cap - floor;
  // base·2ⁿ, compared by shifting the width down so nothing overflows at any n.
  milliseconds grown = width;
  if (attempt < 62 && base.count() <= (width.count() >> attempt)) {
    grown = milliseconds{base.count() << attempt};
  }
  return floor + draw(std::min(width, grown), uniform);
}

milliseconds decorrelated_delay(const decorrelated_jitter& s, milliseconds previous,
                                const uniform_source& uniform) {
  const milliseconds cap = non_negative(s.cap);
  const milliseconds lo = std::min(non_negative(s.base), cap);
  const milliseconds prev = previous.count() > 0 ? std::min(previous, cap) : lo;
  // The bound is clamped before the draw, so at the cap the delay stays uniform.
  const milliseconds hi = prev > cap / 3 ? cap : std::min(cap, prev * 3);
  if (hi <= lo) return lo;
  return lo + draw(hi - lo, uniform);
}

milliseconds fixed_delay(const fixed_delays& s, std::uint32_t attempt,
                         const uniform_source& uniform) {
  if (s.delays.empty()) return milliseconds{0};
  const std::size_t i = std::min<std::size_t>(attempt, s.delays.size() - 1);
  return jitter_above(non_negative(s.delays[i]), s.jitter, uniform);
}

}  // namespace

milliseconds draw_uniform(milliseconds width, const uniform_source& uniform) {
  if (width.count() <= 0) return milliseconds{0};
  const double u = clamp01(uniform ? uniform() : 0.0);
  auto v = static_cast<milliseconds::rep>(u * static_cast<double>(width.count()));
  v = std::clamp<milliseconds::rep>(v, 0, width.count() - 1);
  return milliseconds{v};
}

uniform_source seeded_uniform(std::uint64_t seed) {
  auto engine = std::make_shared<std::mt19937_64>(seed);
  return [engine] { return std::generate_canonical<double, 53>(*engine); };
}

uniform_source random_uniform() {
  std::random_device device;
  const std::uint64_t seed = (std::uint64_t{device()} << 32) ^ device();
  return seeded_uniform(seed);
}

milliseconds next_delay(const backoff& b, std::uint32_t attempt, milliseconds previous,
                        const uniform_source& uniform) {
  if (const auto* s = std::get_if<full_jitter>(&b)) return full_jitter_delay(*s, attempt, uniform);
  if (const auto* s = std::get_if<decorrelated_jitter>(&b)) {
    return decorrelated_delay(*s, previous, uniform);
  }
  return fixed_delay(std::get<fixed_delays>(b), attempt, uniform);
}

milliseconds minimum_delay(const backoff& b) noexcept {
  if (const auto* s = std::get_if<full_jitter>(&b)) return non_negative(s->floor);
  if (const auto* s = std::get_if<decorrelated_jitter>(&b)) {
    return std::min(non_negative(s->base), non_negative(s->cap));
  }
  const auto& table = std::get<fixed_delays>(b).delays;
  if (table.empty()) return milliseconds{0};
  return non_negative(*std::min_element(table.begin(), table.end()));
}

milliseconds jitter_above(milliseconds value, double ratio, const uniform_source& uniform) {
  value = non_negative(value);
  if (!(ratio > 0.0)) return value;
  ratio = std::min(ratio, 1.0);
  // Widths beyond ~285,000 years are not meaningful; the bound keeps the cast defined.
  const double width = std::min(static_cast<double>(value.count()) * ratio, 9.0e15);
  const milliseconds extra = draw(milliseconds{static_cast<milliseconds::rep>(width)}, uniform);
  if (value > milliseconds::max() - extra) return milliseconds::max();  // saturate, never wrap
  return value + extra;
}

}  // namespace closewise::policy

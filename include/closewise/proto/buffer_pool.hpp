// closewise::proto: the calling thread's spare byte strings, shared by the
// receive buffers of proto::connection and the replay buffers of
// closewise::resume (docs/design-notes.md, "Zero-copy forwarding").
#pragma once

#include <cstddef>
#include <string>

namespace closewise::proto {

/// A bounded per-thread cache of strings whose capacity is worth keeping.
///
/// A buffer that is let go goes here instead of back to malloc, and the next
/// one the thread needs comes from here: a large message buffer then costs no
/// allocation and no page faults, and its memory is still warm. A string's
/// bytes are stale: whoever takes one overwrites them. The bound is per
/// thread, so idle connections keep nothing of their own.
class buffer_pool {
 public:
  static constexpr std::size_t max_strings = 64;
  static constexpr std::size_t max_bytes = std::size_t{4} << 20;  ///< sum of capacities

  /// The newest string with a capacity of at least `min_capacity`, its size
  /// and stale bytes as they were (resize within capacity: no allocation);
  /// an empty string when there is none.
  static std::string take(std::size_t min_capacity);
  /// The newest string whatever its capacity, size unchanged; an empty string
  /// when the pool is empty.
  static std::string take_any() noexcept;
  /// Keeps `s` when it fits the bounds (and holds an allocation); frees it otherwise.
  static void give(std::string&& s) noexcept;

  /// Strings held by the calling thread's pool, and the sum of their capacities.
  static std::size_t size() noexcept;
  static std::size_t bytes() noexcept;
};

}  // namespace closewise::proto

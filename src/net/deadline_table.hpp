// closewise::net (private): one deadline per timed job of a connection.
//
// Each job (connect, handshake, close, drain, linger, heartbeat) has its own
// deadline, so arming one never clobbers another. The driver keeps one Asio
// timer waiting for the earliest deadline; when it fires, the table says which
// jobs are due. The table is the only truth: a timer completion that raced a
// change finds nothing due and does nothing, with no generation counter.
#pragma once

#include <array>
#include <chrono>
#include <optional>

#include "transport_lifecycle.hpp"

namespace closewise::net::detail {

class deadline_table {
 public:
  using clock = std::chrono::steady_clock;
  using time_point = clock::time_point;
  /// The deadline of a job that is not armed.
  static constexpr time_point none = time_point::max();

  void arm(timer_kind k, time_point at) noexcept { at_[index(k)] = at; }
  void disarm(timer_kind k) noexcept { at_[index(k)] = none; }
  bool armed(timer_kind k) const noexcept { return at_[index(k)] != none; }
  time_point deadline(timer_kind k) const noexcept { return at_[index(k)]; }
  bool empty() const noexcept { return earliest() == none; }

  /// The earliest deadline of all jobs (none when nothing is armed).
  time_point earliest() const noexcept {
    time_point t = none;
    for (const auto at : at_) t = at < t ? at : t;
    return t;
  }

  /// The first job due at `now` (in timer_kind order), disarmed as it is returned.
  std::optional<timer_kind> take_due(time_point now) noexcept {
    for (std::size_t i = 0; i < at_.size(); ++i) {
      if (at_[i] != none && at_[i] <= now) {
        at_[i] = none;
        return static_cast<timer_kind>(i);
      }
    }
    return std::nullopt;
  }

 private:
  static constexpr std::size_t index(timer_kind k) noexcept { return static_cast<std::size_t>(k); }
  std::array<time_point, timer_kinds> at_{none, none, none, none, none, none};
};

}  // namespace closewise::net::detail

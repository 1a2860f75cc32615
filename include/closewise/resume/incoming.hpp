// closewise::resume: the receiving half of one direction (docs/resume.md §5):
// counts delivered messages and decides when to acknowledge them.
#pragma once

#include <chrono>
#include <cstddef>
#include <optional>
#include <system_error>

#include "closewise/resume/message.hpp"

namespace closewise::resume {

/// When the receiver acks (docs/resume.md §5.2). Any trigger suffices.
struct ack_policy {
  std::size_t every_messages = 64;                  ///< unacked messages
  std::size_t every_bytes = std::size_t{64} << 10;  ///< unacked payload bytes
  std::chrono::milliseconds delay{50};  ///< since the first unacked message was committed
};

/// The receiver of one direction.
///
/// Positions, always `acked <= committed <= received`:
/// - received: messages delivered to the application;
/// - committed: how many a durable store holds as received (equal to
///   received when no commit is needed): an ack never goes beyond it
///   (docs/resume.md §7.2 rule 1);
/// - acked: the last value acknowledged to the peer (by an ack frame or by
///   the resume handshake).
class incoming {
 public:
  explicit incoming(ack_policy policy = {}, seq received = 0, bool needs_commit = false);

  /// A data message of `bytes` payload bytes arrived; `out` is its seq. A peer
  /// that sends past max_seq is error::bad_resume_ack (fail with 1002).
  /// (Inline, with the two below: they run for every received message.)
  std::error_code on_message(std::size_t bytes, time_point now, seq& out) noexcept {
    if (received_ >= max_seq) return bad_seq();
    out = ++received_;
    unacked_bytes_ += bytes;
    if (!needs_commit_) mark_committed(received_, now);
    return {};
  }

  /// A durable store now holds `n` (at most received) as received.
  void mark_committed(seq n, time_point now) noexcept {
    n = n < received_ ? n : received_;
    if (n <= committed_) return;
    committed_ = n;
    // The delay counts from the first message that could have been acked.
    if (!first_unacked_) first_unacked_ = now;
  }

  /// Something is committed and not acked yet.
  bool ack_pending() const noexcept { return committed_ > acked_; }
  /// A pending ack's delay is running (it started when the first unacked
  /// message was committed): a deadline is set, and ack_due() can become
  /// true by time alone.
  bool ack_timed() const noexcept { return first_unacked_.has_value(); }
  /// Send an ack now? (count, bytes or delay reached)
  bool ack_due(time_point now) const noexcept {
    if (!ack_pending()) return false;
    return committed_ - acked_ >= policy_.every_messages || unacked_bytes_ >= policy_.every_bytes ||
           (first_unacked_ && now >= *first_unacked_ + policy_.delay);
  }
  /// When ack_due() becomes true by time alone (nullopt: nothing pending).
  std::optional<time_point> ack_deadline() const noexcept {
    if (!ack_pending() || !first_unacked_) return std::nullopt;
    return *first_unacked_ + policy_.delay;
  }
  /// The value to send in an ack frame; records it as acked.
  seq take_ack() noexcept;

  /// The resume handshake announced `committed()` to the peer: that is an ack.
  void on_resumed() noexcept;

  seq received() const noexcept { return received_; }
  seq committed() const noexcept { return committed_; }
  seq acked() const noexcept { return acked_; }
  const ack_policy& policy() const noexcept { return policy_; }
  bool needs_commit() const noexcept { return needs_commit_; }

 private:
  static std::error_code bad_seq() noexcept;

  // What every received message touches first, in one cache line.
  seq received_;
  seq committed_;
  seq acked_;
  std::size_t unacked_bytes_ = 0;
  std::optional<time_point> first_unacked_;  // when the oldest unacked message was committed
  bool needs_commit_;
  ack_policy policy_;
};

}  // namespace closewise::resume

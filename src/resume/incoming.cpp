#include "closewise/resume/incoming.hpp"

#include <algorithm>

#include "closewise/error.hpp"

namespace closewise::resume {

incoming::incoming(ack_policy policy, seq received, bool needs_commit)
    : policy_(policy),
      needs_commit_(needs_commit),
      received_(received),
      committed_(received),
      acked_(received) {}

std::error_code incoming::on_message(std::size_t bytes, time_point now, seq& out) noexcept {
  if (received_ >= max_seq) return error::bad_resume_ack;
  out = ++received_;
  unacked_bytes_ += bytes;
  if (!needs_commit_) mark_committed(received_, now);
  return {};
}

void incoming::mark_committed(seq n, time_point now) noexcept {
  n = std::min(n, received_);
  if (n <= committed_) return;
  committed_ = n;
  // The delay counts from the first message that could have been acked.
  if (!first_unacked_) first_unacked_ = now;
}

bool incoming::ack_due(time_point now) const noexcept {
  if (!ack_pending()) return false;
  return committed_ - acked_ >= policy_.every_messages || unacked_bytes_ >= policy_.every_bytes ||
         (first_unacked_ && now >= *first_unacked_ + policy_.delay);
}

std::optional<time_point> incoming::ack_deadline() const noexcept {
  if (!ack_pending() || !first_unacked_) return std::nullopt;
  return *first_unacked_ + policy_.delay;
}

seq incoming::take_ack() noexcept {
  acked_ = committed_;
  // Bytes of messages delivered but not yet committed still wait for an ack;
  // they are not tracked per message, so they count again from zero (an ack
  // at most every_bytes late is harmless).
  unacked_bytes_ = 0;
  first_unacked_.reset();
  return acked_;
}

void incoming::on_resumed() noexcept {
  // The handshake told the peer `committed` (session::position): an ack.
  acked_ = committed_;
  unacked_bytes_ = 0;
  first_unacked_.reset();
}

}  // namespace closewise::resume

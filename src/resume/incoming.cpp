#include "closewise/resume/incoming.hpp"

#include "closewise/error.hpp"

namespace closewise::resume {

incoming::incoming(ack_policy policy, seq received, bool needs_commit)
    : received_(received),
      committed_(received),
      acked_(received),
      needs_commit_(needs_commit),
      policy_(policy) {}

std::error_code incoming::bad_seq() noexcept { return error::bad_resume_ack; }

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

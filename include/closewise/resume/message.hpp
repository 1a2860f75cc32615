// closewise::resume: a numbered message of one direction of a session
// (docs/resume.md §1).
#pragma once

#include <chrono>
#include <cstdint>
#include <string>
#include <string_view>

#include "closewise/proto/connection.hpp"

namespace closewise::resume {

/// A message's position in its direction: the n-th data message a sender sends
/// in a session has seq n, counting from 1. Never on the wire (docs/resume.md §1).
using seq = std::uint64_t;

/// The largest seq: 2^53 - 1, exact in every store (a Lua number in Redis).
inline constexpr seq max_seq = (seq{1} << 53) - 1;

/// The resume core takes time as an argument; it never reads a clock.
using clock_type = std::chrono::steady_clock;
using time_point = clock_type::time_point;

/// One message kept in a replay buffer.
struct message {
  seq number = 0;
  proto::message_kind kind = proto::message_kind::text;
  std::string payload;
  time_point sent_at{};  ///< when the application sent it (the age bound counts from here)

  friend bool operator==(const message&, const message&) = default;
};

/// A message held in a replay buffer, seen in place: the payload views the
/// buffer's bytes and is valid until the buffer's next non-const call.
struct message_view {
  seq number = 0;
  proto::message_kind kind = proto::message_kind::text;
  std::string_view payload;
  time_point sent_at{};

  message to_message() const { return {number, kind, std::string(payload), sent_at}; }
  friend bool operator==(const message_view&, const message_view&) = default;
};

}  // namespace closewise::resume

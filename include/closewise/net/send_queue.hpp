// closewise::net: the reconnecting client's bounded send queue (ARCHITECTURE §4).
//
// While the connection is not open, messages wait here. The queue is bounded
// by count and by bytes, and no message ever vanishes: whatever it cannot keep
// is handed back to the caller.
#pragma once

#include <cstddef>
#include <cstdint>
#include <deque>
#include <string>
#include <system_error>
#include <vector>

#include "closewise/proto/connection.hpp"

namespace closewise::net {

/// What a full queue does with one more message.
enum class overflow_policy : std::uint8_t {
  reject,       ///< refuse the new message with error::queue_full (the default)
  drop_oldest,  ///< make room by handing back the oldest queued messages
  drop_newest,  ///< hand the new message back with error::message_dropped
};

/// One message waiting to be sent.
struct queued_message {
  proto::message_kind kind = proto::message_kind::text;
  std::string data;
  std::uint64_t id = 0;  ///< assigned by the queue, increasing in send order
};

/// Bounds of a send queue.
struct send_queue_limits {
  std::size_t max_messages = 1024;
  std::size_t max_bytes = std::size_t{4} << 20;
  overflow_policy overflow = overflow_policy::reject;
};

/// A FIFO of messages bounded by count and by payload bytes.
///
/// Not thread-safe: the owning client serializes access.
class send_queue {
 public:
  explicit send_queue(send_queue_limits limits = {}) : limits_(limits) {}

  /// Appends a message. On success returns {} and may move messages that
  /// drop_oldest evicted into `evicted` (oldest first). On failure the message
  /// is moved into `evicted` and the error says why: error::queue_full
  /// (reject, or a message larger than max_bytes) or error::message_dropped
  /// (drop_newest). Either way, every message ends up queued or in `evicted`.
  std::error_code push(queued_message msg, std::vector<queued_message>& evicted);

  bool empty() const noexcept { return items_.empty(); }
  std::size_t size() const noexcept { return items_.size(); }
  std::size_t bytes() const noexcept { return bytes_; }
  const queued_message& front() const { return items_.front(); }
  /// Removes and returns the oldest message.
  queued_message pop();
  /// Puts a message back at the front (a send that could not start), keeping its id.
  /// It is never refused: the message was counted once already, and handing it
  /// back because newer ones filled the queue would break the send order.
  void push_front(queued_message msg);
  /// Reserves the next id for a message placed with push_front that never went
  /// through push (a reconnecting client's on_reconnected messages), so every
  /// message the application gets back still has a unique id.
  std::uint64_t reserve_id() noexcept { return next_id_++; }
  /// Removes and returns every message, oldest first.
  std::vector<queued_message> take_all();
  const send_queue_limits& limits() const noexcept { return limits_; }

 private:
  send_queue_limits limits_;
  std::deque<queued_message> items_;
  std::size_t bytes_ = 0;
  std::uint64_t next_id_ = 1;
};

}  // namespace closewise::net

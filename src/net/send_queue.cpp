#include "closewise/net/send_queue.hpp"

#include "closewise/error.hpp"

namespace closewise::net {

std::error_code send_queue::push(queued_message msg, std::vector<queued_message>& evicted) {
  msg.id = next_id_++;
  const std::size_t n = msg.data.size();
  // A message that can never fit is refused whatever the policy: evicting
  // everything else would still not make room.
  if (n > limits_.max_bytes || limits_.max_messages == 0) {
    evicted.push_back(std::move(msg));
    return error::queue_full;
  }
  const auto fits = [&] {
    return items_.size() < limits_.max_messages && bytes_ + n <= limits_.max_bytes;
  };
  if (!fits()) {
    switch (limits_.overflow) {
      case overflow_policy::reject:
        evicted.push_back(std::move(msg));
        return error::queue_full;
      case overflow_policy::drop_newest:
        evicted.push_back(std::move(msg));
        return error::message_dropped;
      case overflow_policy::drop_oldest:
        while (!fits()) evicted.push_back(pop());
        break;
    }
  }
  bytes_ += n;
  items_.push_back(std::move(msg));
  return {};
}

queued_message send_queue::pop() {
  queued_message m = std::move(items_.front());
  items_.pop_front();
  bytes_ -= m.data.size();
  return m;
}

void send_queue::push_front(queued_message msg) {
  bytes_ += msg.data.size();
  items_.push_front(std::move(msg));
}

std::vector<queued_message> send_queue::take_all() {
  std::vector<queued_message> out;
  out.reserve(items_.size());
  for (auto& m : items_) out.push_back(std::move(m));
  items_.clear();
  bytes_ = 0;
  return out;
}

}  // namespace closewise::net

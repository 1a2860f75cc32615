#include "closewise/net/heartbeat.hpp"

#include <algorithm>

namespace closewise::net {

void heartbeat::start(clock::time_point now, double u) noexcept {
  last_inbound_ = now;
  timed_out_ = false;
  held_ = false;
  probe_deadline_ = clock::time_point::max();
  const double f = 1.0 - cfg_.first_jitter * std::clamp(u, 0.0, 1.0);
  next_ping_ = now + std::chrono::duration_cast<clock::duration>(cfg_.interval * f);
}

void heartbeat::on_inbound(clock::time_point now) noexcept {
  last_inbound_ = now;
  next_ping_ = now + cfg_.interval;
  probe_deadline_ = clock::time_point::max();
}

void heartbeat::probe(clock::time_point now) noexcept {
  if (!cfg_.enabled() || timed_out_) return;
  probe_deadline_ = std::min(probe_deadline_, now + cfg_.grace);
  next_ping_ = now + cfg_.interval;  // the probe is this round's ping
}

void heartbeat::release(clock::time_point now) noexcept {
  held_ = false;
  on_inbound(now);
}

heartbeat::action heartbeat::poll(clock::time_point now) noexcept {
  if (!cfg_.enabled() || timed_out_) return action::none;
  if (!held_ && (now >= last_inbound_ + cfg_.interval + cfg_.grace || now >= probe_deadline_)) {
    timed_out_ = true;
    return action::timeout;
  }
  if (now >= next_ping_) {
    next_ping_ = now + cfg_.interval;
    return action::send_ping;
  }
  return action::none;
}

heartbeat::clock::time_point heartbeat::next_wakeup() const noexcept {
  if (held_) return next_ping_;
  return std::min({next_ping_, last_inbound_ + cfg_.interval + cfg_.grace, probe_deadline_});
}

}  // namespace closewise::net

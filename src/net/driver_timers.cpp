// The driver's deadlines: one per timed job (deadline_table.hpp), one Asio
// timer waiting for the earliest, and the idle heartbeat, the same for a
// client and a server session.
#include "driver.hpp"

#include <algorithm>

#include "closewise/error.hpp"

namespace closewise::net::detail {

driver::timer_block& driver::timers() {
  if (!timers_) timers_ = std::make_unique<timer_block>(ioc_ex());
  return *timers_;
}

heartbeat* driver::beat() noexcept { return timers_ && timers_->beat ? &*timers_->beat : nullptr; }

void driver::disarm(timer_kind k) noexcept {
  if (!timers_) return;
  timers_->table.disarm(k);
  if (k == timer_kind::heartbeat) timers_->beat.reset();  // it never restarts
}

void driver::sync_timer() {
  if (!timers_) return;
  auto& b = *timers_;
  const auto next = b.table.earliest();
  if (next == deadline_table::none) {
    timers_.reset();  // destroying the timer completes its wait with operation_aborted
    return;
  }
  if (next == b.waiting_until) return;  // the wait in flight ends then already
  b.waiting_until = next;
  b.timer.expires_at(next);  // cancels the wait in flight, if any
  on_ex([this](auto h) { timers_->timer.async_wait(std::move(h)); },
        [self = self(), next](const boost::system::error_code& ec) {
          if (ec == asio::error::operation_aborted) return;
          scope s(*self);
          self->on_deadline(next);
        });
}

void driver::on_deadline(deadline_table::time_point fired_for) {
  if (!timers_) return;
  // A wait that completed just before a re-arm could cancel it still lands
  // here; the table, not the wait, says what is due, so it does no harm.
  if (timers_->waiting_until == fired_for) timers_->waiting_until = deadline_table::none;
  const auto now = deadline_table::clock::now();
  while (timers_ && lc_.state() != transport_state::done) {
    const auto due = timers_->table.take_due(now);
    if (!due) break;
    if (*due == timer_kind::heartbeat) {
      heartbeat_tick();
    } else {
      run(lc_.timer_fired(*due));
    }
  }
  sync_timer();
}

// -------------------------------------------------------------- heartbeat --

void driver::start_heartbeat(const heartbeat_config& cfg, double u) {
  if (!cfg.enabled() || lc_.state() != transport_state::open) return;
  auto& hb = timers().beat.emplace(cfg);
  hb.start(heartbeat::clock::now(), u);
  if (paused_.load(std::memory_order_relaxed)) hb.hold();
  arm_heartbeat();
}

void driver::arm_heartbeat() {
  auto* hb = beat();
  if (!hb) return;
  timers_->table.arm(timer_kind::heartbeat, hb->next_wakeup());
  sync_timer();
}

void driver::heartbeat_tick() {
  auto* hb = beat();
  // Once a close frame went either way, the close timer bounds the rest.
  if (!hb || lc_.state() != transport_state::open || conn_->get_state() != proto::state::open)
    return;
  switch (hb->poll(heartbeat::clock::now())) {
    case heartbeat::action::timeout:
      // ARCHITECTURE §4: drop the dead peer without a close handshake (it
      // cannot answer one); it is reported locally as 1006, heartbeat_timeout.
      run(lc_.abort(error::heartbeat_timeout));
      return;
    case heartbeat::action::send_ping:
      (void)conn_->ping({});
      break;
    case heartbeat::action::none:
      break;
  }
  timers_->table.arm(timer_kind::heartbeat, hb->next_wakeup());
}

std::error_code driver::probe_now(std::string_view payload) {
  if (!conn_ || lc_.state() != transport_state::open) return error::not_open;
  if (auto ec = conn_->ping(payload)) return ec;
  if (auto* hb = beat()) {
    hb->probe(heartbeat::clock::now());
    arm_heartbeat();
  }
  return {};
}

}  // namespace closewise::net::detail

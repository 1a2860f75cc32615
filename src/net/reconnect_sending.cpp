// Handing the reconnecting client's queued messages to its connection, and
// accounting for them when the connection ends (docs/reconnect.md, "Queued
// messages"). No polling: net::client says when its write buffer drained
// (on_drain) and hands back what a close refused (on_undelivered).
#include "closewise/error.hpp"
#include "reconnecting_client_impl.hpp"

namespace closewise::net::detail {

/// Hands queued messages to the open connection, oldest first, while the
/// unconfirmed window has room; starts the close once close() drained it.
/// A full window or a full write queue simply stops here: the connection's
/// next on_drain calls it again.
void reconnecting_client_impl::pump_locked(actions& a) {
  const auto att = cur_;
  if (!att || !att->opened || att->ended) return;
  // While on_reconnected/on_open run, their messages are not in the queue yet
  // and must go first: opened() pumps once they are in.
  if (in_hooks_) return;
  while (!queue_.empty()) {
    if (att->handed_bytes >= cfg_.max_unconfirmed_bytes) return;
    if (att->conn->state() != proto::state::open) return;  // its close will account
    if (att->resume_active) {
      // The resume session's replay buffer keeps the queued string itself,
      // and replays it if need be (docs/resume.md §4).
      queued_message m = queue_.pop();
      const auto ec = att->conn->send(m.kind, std::move(m.data));
      if (!ec) continue;
      queue_.push_front(std::move(m));  // untouched: not taken
      // A full write queue or replay buffer: the drain or the ack that makes
      // room pumps again. Closing: it goes on the next connection.
      return;
    }
    const queued_message& m = queue_.front();
    const auto ec = att->conn->send(m.kind, m.data);
    // Full: the drain pumps again. Closing: it stays for the next connection.
    if (ec) return;
    queued_message sent = queue_.pop();
    att->handed_bytes += sent.data.size();
    att->handed.push_back(std::move(sent));
  }
  if (st_ == state::closing && !close_started_) start_close_locked(a);
}

/// Forgets the messages handed to a connection whose write buffer is empty
/// and which has no send still posted to it: they are in the kernel's hands.
void reconnecting_client_impl::trim_locked(attempt& att) {
  if (att.handed.empty() || att.refused != 0) return;
  // Read on the connection's executor (from on_drain), so the count is exact:
  // a message handed meanwhile from another thread is still counted in it.
  if (att.conn->state() != proto::state::open || att.conn->buffered_amount() != 0) return;
  att.handed.clear();
  att.handed_bytes = 0;
}

void reconnecting_client_impl::drained(const std::shared_ptr<attempt>& att) {
  actions a;
  {
    std::lock_guard lock(mu_);
    if (!att || cur_ != att || att->ended) return;
    trim_locked(*att);
    if (st_ == state::open || st_ == state::closing) pump_locked(a);
  }
  run(a);
}

void reconnecting_client_impl::handed_back(const std::shared_ptr<attempt>& att) {
  std::lock_guard lock(mu_);
  if (att && !att->ended) ++att->refused;
}

/// Settles the messages handed to a connection that ended: those it handed
/// back go to the front of the queue in order; after a clean close the others
/// reached the peer; after an unclean one, those closewise had not seen leave
/// its buffer are handed back to the application.
void reconnecting_client_impl::account_handed_locked(actions& a, attempt& att, bool clean) {
  std::deque<queued_message>& h = att.handed;
  const std::size_t back = std::min(att.refused, h.size());
  for (std::size_t i = 0; i < back; ++i) {
    queue_.push_front(std::move(h.back()));
    h.pop_back();
  }
  if (att.refused > back) {
    // Cannot happen while messages are only trimmed after the buffer drained
    // with nothing posted; if it ever does, the application is told.
    a.push_back([this] {
      if (on_error_) on_error_(error::not_sent);
    });
  }
  if (!clean && !h.empty()) {
    std::vector<queued_message> lost(std::make_move_iterator(h.begin()),
                                     std::make_move_iterator(h.end()));
    undelivered_locked(a, std::move(lost), error::not_sent);
  }
  h.clear();
  att.handed_bytes = 0;
  att.refused = 0;
}

void reconnecting_client_impl::start_close_locked(actions& a) {
  close_started_ = true;
  cancel(drain_timer_, drain_gen_);
  a.push_back([att = cur_, code = close_code_, reason = close_reason_] {
    if (att) (void)att->conn->close(code, reason);
  });
}

void reconnecting_client_impl::undelivered_locked(actions& a, std::vector<queued_message> msgs,
                                                  std::error_code why) {
  if (msgs.empty()) return;
  if (obs_) obs_->undelivered(why, msgs.size());
  a.push_back([this, m = std::move(msgs), why]() mutable {
    if (on_undelivered_) on_undelivered_(std::move(m), why);
  });
}

}  // namespace closewise::net::detail

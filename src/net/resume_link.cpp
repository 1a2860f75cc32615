#include "resume_link.hpp"

#include <time.h>

#include <string>
#include <utility>

#include "closewise/error.hpp"
#include "closewise/resume/wire.hpp"

namespace closewise::net::detail {
namespace {
/// The precise clock, for timers and commits: a deadline that fired is due.
resume::time_point now() { return resume::clock_type::now(); }

/// The clock of the per-message paths (send, receive). CLOCK_MONOTONIC_COARSE
/// is steady_clock's own clock (CLOCK_MONOTONIC) as of the last tick: never
/// ahead of now(), at most one tick (4 ms at HZ=250) behind, and read from the
/// vDSO without the TSC: 5 ns against 28 ns here, which at three reads per
/// echoed message was a fifth of resume's cost at 32 B (docs/design-notes.md).
/// A stamp a tick early only makes an ack or an age bound fire a tick early.
resume::time_point stamp() noexcept {
  timespec ts{};
  ::clock_gettime(CLOCK_MONOTONIC_COARSE, &ts);
  return resume::time_point(std::chrono::duration_cast<resume::clock_type::duration>(
      std::chrono::seconds(ts.tv_sec) + std::chrono::nanoseconds(ts.tv_nsec)));
}
}  // namespace

resume_link::resume_link(driver& d, std::mutex& mu, resume::session& s,
                         const resume::client_session* cs)
    : d_(d), mu_(mu), s_(&s), cs_(cs) {}

std::error_code resume_link::send(proto::message_kind kind, std::string_view payload) {
  std::unique_lock lock(mu_);
  if (!usable_locked()) return error::not_open;
  // The replay buffer owns the payload until it is acked: a copy, unless the
  // payload is the message this connection is delivering, whose buffer it
  // then takes (docs/design-notes.md, "Zero-copy forwarding").
  struct take_delivered final : resume::outgoing::swapper {
    explicit take_delivered(driver& d) : d_(d) {}
    bool swap(std::string_view p, std::string& spare) noexcept override {
      return d_.take_delivered(p, spare);
    }
    driver& d_;
  } take(d_);
  if (auto ec = s_->out().push_copy(kind, payload, stamp(), &take)) {
    if (ec == error::replay_buffer_full) refused_ = true;
    return ec;
  }
  return pushed_locked(lock, payload);
}

std::error_code resume_link::send(proto::message_kind kind, std::string&& payload) {
  std::unique_lock lock(mu_);
  if (!usable_locked()) return error::not_open;
  if (auto ec = s_->out().push(kind, std::move(payload), stamp())) {
    if (ec == error::replay_buffer_full) refused_ = true;
    return ec;
  }
  // The replay buffer holds the caller's own bytes (or a slot's copy of a
  // short payload): the write reads them from there.
  return pushed_locked(lock, {});
}

/// A message was pushed: commit it, or write it (`newest`: its bytes in the
/// caller's buffer, see write_locked).
std::error_code resume_link::pushed_locked(std::unique_lock<std::mutex>& lock,
                                           std::string_view newest) {
  if (store_) {
    want_commit_locked();  // written once committed (rule 2)
    return {};
  }
  if (d_.on_executor()) {
    driver::scope sc(d_);
    write_locked(newest);
    // The age bound follows the oldest unacked message: it is this one only
    // when it is alone (an ack or the timer re-arms for the others).
    if (s_->out().size() == 1) arm_for_locked(s_->out().age_deadline());
    return {};
  }
  lock.unlock();
  d_.post_to_ex([self = d_.self(), this] {
    driver::scope sc(*self);
    std::lock_guard l(mu_);
    if (!usable_locked()) return;
    write_locked();
    arm_locked();
  });
  return {};
}

bool resume_link::usable_locked() const noexcept {
  // A client's session may have been ended (and freed) by its owner meanwhile.
  return !stopped_ && (!cs_ || (cs_->has_session() && &cs_->current() == s_));
}

void resume_link::start() {
  std::lock_guard lock(mu_);
  if (!usable_locked()) return;
  write_locked();
  arm_locked();  // a replay is unacked from the start
}

/// Writes every message the connection has not carried yet, in seq order; a
/// full write queue stops it until the next drain or ack. `newest`: the bytes
/// of the message just pushed, still in the caller's buffer and warm in cache;
/// they go out from there, so the replay copy is read only by a replay.
void resume_link::write_locked(std::string_view newest) {
  while (const auto m = s_->out().next_to_write()) {
    const bool is_newest = newest.data() != nullptr && m->number == s_->out().sent();
    if (d_.send(m->kind, is_newest ? newest : m->payload)) return;
    s_->out().mark_written();
  }
}

bool resume_link::on_message(std::size_t size, resume::seq& n) {
  std::error_code ec;
  {
    // What this touches (the receiving half, the timer, the ack frame) is the
    // executor's alone, except where another thread may be in the link: a
    // client's owner may end the session, and with a durable store any send
    // schedules the commit. A server link in memory takes no lock per
    // received message (docs/design-notes.md, "Resume's per-message cost").
    std::unique_lock lock(mu_, std::defer_lock);
    if (cs_ != nullptr || store_ != nullptr) lock.lock();
    if (!usable_locked()) return true;
    // The clock is read only to start an ack's delay. While one runs, its
    // deadline is armed already, and the count and bytes need no time.
    const bool timed = s_->in().ack_timed();
    const auto t = timed ? resume::time_point::min() : stamp();
    ec = s_->in().on_message(size, t, n);
    // Counted as delivered: the application sees it next, on this thread, so
    // the ack can be queued now.
    if (!ec) {
      if (store_) want_commit_locked();
      if (s_->in().ack_due(t)) {
        ack_locked();
      } else if (!timed) {
        arm_for_locked(s_->in().ack_deadline());  // a receive moves only the ack deadline
      }
    }
  }
  if (ec) (void)d_.close(close_code::protocol_error, "resume seq overflow", close_rules::endpoint);
  return !ec;
}

void resume_link::on_control(std::uint8_t op, std::string_view payload) {
  resume::seq n = 0;
  std::error_code ec = op == resume::ack_opcode ? resume::decode_ack(payload, n)
                                                : std::error_code(error::bad_opcode);
  bool room = false;
  {
    std::lock_guard lock(mu_);
    if (!usable_locked()) return;
    if (!ec) ec = s_->out().on_ack(n);
    if (!ec) {
      room = std::exchange(refused_, false);
      write_locked();
    }
  }
  // docs/resume.md §3: a bad ack fails the connection with 1002.
  if (ec) (void)d_.close(close_code::protocol_error, "bad resume ack", close_rules::endpoint);
  if (room && on_room) on_room();
}

void resume_link::before_close() {
  std::lock_guard lock(mu_);
  send_owed_locked();
  if (usable_locked() && s_->in().ack_pending()) ack_locked();
}

void resume_link::ack_now() {
  std::lock_guard lock(mu_);
  if (!usable_locked() || !s_->in().ack_pending()) return;
  if (d_.on_executor()) {
    driver::scope sc(d_);
    ack_locked();
    return;
  }
  // Taken now: the session may end before the executor gets to it. Sent by
  // whichever comes first there, this post or a close (before_close), so it
  // always precedes the close frame.
  owed_ack_ = s_->in().take_ack();
  d_.post_to_ex([self = d_.self(), this] {
    driver::scope sc(*self);
    std::lock_guard l(mu_);
    send_owed_locked();
  });
}

void resume_link::send_owed_locked() {
  if (!owed_ack_) return;
  const auto p = resume::encode_ack(*owed_ack_);
  owed_ack_.reset();
  (void)d_.send_extension_control(resume::ack_opcode, std::string_view(p.data(), p.size()));
}

void resume_link::drained() {
  std::lock_guard lock(mu_);
  if (usable_locked()) write_locked();
}

void resume_link::stop() {
  std::lock_guard lock(mu_);
  stopped_ = true;
  if (timer_) timer_->cancel();
}

void resume_link::ack_locked() {
  owed_ack_.reset();  // a newer ack covers it (acks are cumulative, never lower)
  const auto p = resume::encode_ack(s_->in().take_ack());
  (void)d_.send_extension_control(resume::ack_opcode, std::string_view(p.data(), p.size()));
}

/// One timer per resumed connection, at the earlier of the ack deadline of a
/// trickle (docs/resume.md §5.2: 50 ms by default) and the time the oldest
/// unacked sent message reaches max_age (§4.3: 120 s by default).
void resume_link::arm_locked() {
  auto when = s_->in().ack_deadline();
  if (const auto age = s_->out().age_deadline(); age && (!when || *age < *when)) when = age;
  arm_for_locked(when);
}

/// Arms the timer for `when` unless it is already armed as early.
void resume_link::arm_for_locked(std::optional<resume::time_point> when) {
  if (!when || (armed_for_ && *armed_for_ <= *when)) return;
  if (!timer_) timer_.emplace(d_.ioc_ex());
  armed_for_ = when;
  timer_->expires_at(*when);
  d_.on_ex([this](auto h) { timer_->async_wait(std::move(h)); },
           [self = d_.self(), this](const boost::system::error_code& ec) {
             driver::scope sc(*self);
             on_timer(ec);
           });
}

void resume_link::on_timer(const boost::system::error_code& ec) {
  {
    std::lock_guard lock(mu_);
    if (ec || !usable_locked()) return;
    armed_for_.reset();
    const auto t = now();
    if (!s_->out().too_old(t)) {
      if (s_->in().ack_due(t)) ack_locked();
      arm_locked();
      return;
    }
  }
  // docs/resume.md §4.3: a peer that acknowledges nothing for max_age while
  // the connection is open is not reading. A server keeps the session through
  // the 1006; a client's is then past max_age and expires at its next attempt.
  d_.abort(error::resume_ack_timeout);
}

}  // namespace closewise::net::detail

namespace closewise::net::detail {

/// At most one commit is scheduled at a time: it runs at the end of the
/// executor's current turn, so every message read and sent in the turn
/// shares it (docs/resume.md §7.2).
void resume_link::want_commit_locked() {
  if (commit_posted_) return;
  commit_posted_ = true;
  d_.post_to_ex([self = d_.self(), this] {
    driver::scope sc(*self);
    commit_now();
  });
}

void resume_link::commit_now() {
  std::lock_guard lock(mu_);
  commit_posted_ = false;
  if (!usable_locked() || !s_->commit_needed()) return;
  const resume::commit_batch b = s_->take_commit();
  // The batch's views die with the next push; the completion needs only its positions.
  resume::commit_batch pos;
  pos.first = b.first;
  pos.received = b.received;
  pos.messages.resize(b.messages.size());
  store_->commit(b, [self = d_.self(), this, pos = std::move(pos)](std::error_code ec) mutable {
    // The store completes on its own thread: back to the connection's executor.
    self->post_to_ex([self, this, ec, pos = std::move(pos)] {
      driver::scope sc(*self);
      on_committed(ec, pos);
    });
  });
}

void resume_link::on_committed(std::error_code ec, const resume::commit_batch& pos) {
  {
    std::lock_guard lock(mu_);
    if (!usable_locked()) return;
    if (!ec) {
      s_->committed(pos, now());
      write_locked();
      if (s_->in().ack_due(now())) ack_locked();
      arm_locked();
      return;
    }
  }
  // docs/resume.md §7.2: after a failed commit the session issues no more;
  // the next resume starts from what the store holds (1006 keeps it).
  d_.abort();
}

}  // namespace closewise::net::detail

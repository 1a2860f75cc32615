#include "closewise/resume/session.hpp"

#include <algorithm>
#include <cassert>
#include <utility>

#include "closewise/error.hpp"

namespace closewise::resume {

std::string_view to_string(session_state s) noexcept {
  switch (s) {
    case session_state::attached:
      return "attached";
    case session_state::detached:
      return "detached";
    case session_state::ended:
      return "ended";
  }
  return "unknown";
}

session::session(session_id id, session_settings settings, bool needs_commit)
    : id_(id),
      settings_(settings),
      out_(settings.replay, needs_commit),
      in_(settings.acks, 0, needs_commit) {}

session session::restore(session_record rec, session_settings settings, bool needs_commit) {
  session s(rec.id, settings, needs_commit);
  s.epoch_ = rec.epoch;
  s.out_ =
      outgoing::restore(settings.replay, needs_commit, rec.acked, std::move(rec.buffer), rec.sent);
  s.in_ = incoming(settings.acks, rec.received, needs_commit);
  s.issued_sent_ = s.out_.sent();
  s.issued_received_ = rec.received;
  s.issued_acked_ = s.out_.acked();
  s.issued_evicted_ = s.out_.evicted_through();
  return s;
}

resume_point session::position() const noexcept {
  // A durable side announces only what its store holds (docs/resume.md §7.2 rule 1).
  return resume_point{id_, in_.committed(), out_.sent(), out_.oldest()};
}

resume_result session::resume(const resume_point& peer, bool check_peer_replay) {
  resume_result r;
  const seq ours = in_.committed();
  std::error_code ec;
  // docs/resume.md §2.6 check 2, our direction in check_rewind, theirs here.
  if (ours > peer.sent)
    ec = error::resume_invalid;
  else
    ec = out_.check_rewind(peer.received);
  // §2.6 check 4: the peer must be able to replay everything after `ours`.
  if (!ec && check_peer_replay && peer.replay_from > ours + 1) ec = error::resume_overflowed;
  if (ec) {
    r.status = *status_of(ec);
    if (r.status == resume_status::overflowed) {
      // The positions are consistent, so what the peer received is known to have arrived.
      r.handed_back = out_.take_unacked_above(peer.received);
      r.gap = peer.sent - ours;
    } else {
      r.handed_back = out_.take_unacked();
    }
    state_ = session_state::ended;
    return r;
  }
  r.status = resume_status::resumed;
  r.replay_out = out_.sent() - peer.received;
  r.replay_in = peer.sent - ours;
  const auto rewound = out_.rewind(peer.received);
  assert(!rewound);
  (void)rewound;
  in_.on_resumed();
  state_ = session_state::attached;
  return r;
}

void session::detach() noexcept {
  if (state_ == session_state::attached) state_ = session_state::detached;
}

void session::attach() noexcept {
  if (state_ == session_state::detached) state_ = session_state::attached;
}

std::vector<message> session::end() {
  state_ = session_state::ended;
  return out_.take_unacked();
}

bool session::commit_needed() const noexcept {
  return in_.received() > issued_received_ || out_.sent() > issued_sent_ ||
         out_.acked() > issued_acked_ || out_.evicted_through() > issued_evicted_;
}

commit_batch session::take_commit() {
  commit_batch b;
  b.id = id_;
  b.epoch = epoch_;
  b.received = in_.received();
  b.acked = out_.acked();
  b.evicted_through = out_.evicted_through();
  // With needs_commit, messages after the last batch are never acked or evicted
  // yet: both touch only written messages, and nothing uncommitted is written.
  // Without it (a memory-store session, where commits are not used) they may
  // be gone already; the batch then starts at the oldest one still held, and a
  // durable store would refuse it as discontinuous rather than lose its place.
  b.first = std::max(issued_sent_ + 1, out_.oldest());
  b.messages.reserve(static_cast<std::size_t>(out_.sent() + 1 - b.first));
  for (seq n = b.first; n <= out_.sent(); ++n) {
    const auto m = out_.find(n);
    if (!m) break;
    b.messages.push_back(message_ref{m->kind, m->payload});
  }
  issued_sent_ = out_.sent();
  issued_received_ = b.received;
  issued_acked_ = b.acked;
  issued_evicted_ = b.evicted_through;
  return b;
}

void session::committed(const commit_batch& b, time_point now) noexcept {
  out_.mark_committed(b.last());
  in_.mark_committed(b.received, now);
}

}  // namespace closewise::resume

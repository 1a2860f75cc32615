// closewise::resume: one session, both directions (docs/resume.md §1, §2.6, §6, §7).
//
// A session outlives connections: it is attached to one connection at a time,
// detached when a connection ends with a close that keeps it, and ended by a
// close that does not. Sans-I/O: the caller moves frames and talks to the store.
#pragma once

#include <cstdint>
#include <deque>
#include <optional>
#include <string_view>
#include <system_error>
#include <vector>

#include "closewise/resume/incoming.hpp"
#include "closewise/resume/message.hpp"
#include "closewise/resume/outgoing.hpp"
#include "closewise/resume/session_id.hpp"
#include "closewise/resume/wire.hpp"

namespace closewise::resume {

/// How a session behaves; the same for every session of an endpoint.
struct session_settings {
  replay_limits replay;  ///< this side's sending direction
  ack_policy acks;       ///< this side's receiving direction
};

/// A session's life (docs/resume.md §6).
enum class session_state : std::uint8_t {
  attached,  ///< a connection carries it
  detached,  ///< no connection; kept for a resume
  ended,     ///< over: buffers handed back, never resumed
};

std::string_view to_string(session_state s) noexcept;

/// What a store keeps of a session (docs/resume.md §7.1), minus the owner.
struct session_record {
  session_id id;
  std::uint64_t epoch = 0;
  seq received = 0;            ///< peer -> this side, committed
  seq sent = 0;                ///< this side -> peer
  seq acked = 0;               ///< of this side's direction
  std::deque<message> buffer;  ///< this side's messages `sent - buffer.size() + 1 .. sent`
};

/// A view of one message in a commit: valid until the session changes.
struct message_ref {
  proto::message_kind kind;
  std::string_view payload;
};

/// Everything a durable store must hold since the previous batch
/// (docs/resume.md §7.2). Payload views point into the session's buffer:
/// pass the batch to `session_store::commit` before touching the session again.
struct commit_batch {
  session_id id;
  std::uint64_t epoch = 0;
  seq received = 0;         ///< peer -> us, delivered
  seq acked = 0;            ///< our direction, acked by the peer
  seq evicted_through = 0;  ///< our direction, evicted (0: none)
  seq first = 0;            ///< the seq of messages.front() (sent + 1 of the previous batch)
  std::vector<message_ref> messages;

  /// The highest seq in the batch (first - 1 when it carries no message).
  seq last() const noexcept { return first + messages.size() - 1; }
};

/// The result of checking the peer's position against ours (docs/resume.md §2.6).
struct resume_result {
  resume_status status = resume_status::resumed;  ///< resumed, overflowed or invalid
  seq replay_out = 0;                             ///< messages this side writes again
  seq replay_in = 0;                              ///< messages the peer writes again
  /// On refusal: this side's messages the peer may not have (overflowed: the
  /// ones above the peer's received; invalid: every unacked one). The session
  /// has ended; give them to the application with to_error(status).
  std::vector<message> handed_back;
  /// On refusal: how many of the peer's messages this side never received
  /// (nullopt: unknown), for "the application is told that a gap exists".
  std::optional<seq> gap;
};

/// One session: both directions, its id and its state.
class session {
 public:
  /// A new session, attached, at seq 0 both ways.
  session(session_id id, session_settings settings = {}, bool needs_commit = false);
  /// A session rebuilt from a store record (attached, epoch from the record).
  static session restore(session_record rec, session_settings settings, bool needs_commit);

  const session_id& id() const noexcept { return id_; }
  std::uint64_t epoch() const noexcept { return epoch_; }
  void set_epoch(std::uint64_t e) noexcept { epoch_ = e; }
  session_state state() const noexcept { return state_; }

  outgoing& out() noexcept { return out_; }
  const outgoing& out() const noexcept { return out_; }
  incoming& in() noexcept { return in_; }
  const incoming& in() const noexcept { return in_; }

  /// This side's position, for an offer (client) or for checks.
  resume_point position() const noexcept;

  /// Checks the peer's position (docs/resume.md §2.6 checks 2-4) and, when it
  /// fits, rewinds the sender and counts the announcement as an ack: state
  /// attached, status resumed. Otherwise the session ends and the result says
  /// why and what goes back. `check_peer_replay` is false on a client reading
  /// an answer (the server checked its own buffer).
  resume_result resume(const resume_point& peer, bool check_peer_replay = true);

  /// The connection ended with a close that keeps the session.
  void detach() noexcept;
  /// A new connection carries the (detached) session; the caller then runs resume().
  void attach() noexcept;
  /// Ends the session: every unacked message, oldest first, to hand back.
  std::vector<message> end();

  // ---- durable stores (docs/resume.md §7.2) -----------------------------------------
  /// Something delivered, sent, acked or evicted is not in a batch yet.
  bool commit_needed() const noexcept;
  /// The next batch: everything since the previous batch. Batches may be in
  /// flight together; they must complete (committed()) in order.
  commit_batch take_commit();
  /// The store holds `b`: its messages become writable and its received ackable.
  void committed(const commit_batch& b, time_point now) noexcept;

  const session_settings& settings() const noexcept { return settings_; }

 private:
  session_id id_;
  session_settings settings_;
  std::uint64_t epoch_ = 1;
  session_state state_ = session_state::attached;
  outgoing out_;
  incoming in_;
  // What the batches taken so far cover.
  seq issued_sent_ = 0;
  seq issued_received_ = 0;
  seq issued_acked_ = 0;
  seq issued_evicted_ = 0;
};

}  // namespace closewise::resume

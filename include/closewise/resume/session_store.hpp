// closewise::resume: where a server keeps sessions between connections
// (docs/resume.md §8).
//
// Asynchronous with completion callbacks, because an Asio server must never
// block an I/O thread on a remote store. A callback may run on the calling
// thread before the call returns (memory store) or on the store's own thread
// (Redis store): the caller posts it to the connection's strand. Every call
// completes its callback exactly once, also when the store is destroyed.
#pragma once

#include <chrono>
#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <system_error>
#include <utility>
#include <vector>

#include "closewise/resume/session.hpp"
#include "closewise/resume/session_id.hpp"

namespace closewise::resume {

/// Server-side session settings every store needs.
struct store_options {
  session_settings session;  ///< for the sessions the store creates or rebuilds
  /// A session no connection holds expires this long after its last detach,
  /// commit or touch (docs/resume.md §6.2).
  std::chrono::milliseconds ttl{120'000};
  /// How long an expired or ended session is still answered `expired` /
  /// `ended` rather than `unknown`.
  std::chrono::milliseconds tombstone{600'000};
};

/// The store interface. Errors: resume_unknown, resume_expired, resume_ended
/// (attach), resume_superseded (a stale epoch), resume_store_unavailable
/// (unreachable, full, or shutting down), resume_invalid (a batch that does
/// not follow the stored state).
class session_store {
 public:
  using session_ptr = std::unique_ptr<session>;
  using open_handler = std::function<void(std::error_code, session_ptr)>;
  using done_handler = std::function<void(std::error_code)>;
  /// Detach's completion: on error, the session's messages the store could not
  /// keep, oldest first, for the application (nothing is lost silently).
  using detach_handler = std::function<void(std::error_code, std::vector<message>)>;
  /// Asks the connection holding a session to let it go (abort it with 1006
  /// and detach). Called from any thread, outside the store's locks.
  using preempt_handler = std::function<void()>;

  virtual ~session_store() = default;

  /// True when commits must complete before what they hold is written or
  /// acked (docs/resume.md §7.2). False for the memory store: it keeps the
  /// live session object, so the caller never commits.
  virtual bool durable() const noexcept = 0;

  /// A new session for `owner`, stored before it is handed out (attached,
  /// epoch 1). `preempt` as for attach: a first connection can be half-open too.
  virtual void create(std::string owner, preempt_handler preempt, open_handler done) = 0;
  /// Takes the session for a new connection: checks the owner and the state,
  /// bumps the epoch (fencing any earlier holder) and hands out the session.
  /// `preempt` is kept with the session and called if a later attach arrives
  /// while this connection still holds it (memory store; a durable store
  /// fences by epoch instead).
  virtual void attach(const session_id& id, std::string owner, preempt_handler preempt,
                      open_handler done) = 0;
  /// attach() for an offer that counts its attempts (docs/resume.md §6.1):
  /// when `attempt` is not above the last one the store took for the session,
  /// it is the late handshake of an attempt its client gave up on, and the
  /// call fails with resume_stale_attempt and changes nothing (no preempt, no
  /// epoch). Otherwise the store records `attempt` and attaches. 0: no attempt
  /// was offered, a plain attach(). This default keeps no attempts and
  /// refuses nothing, so a store written before attempts still works.
  virtual void attach_attempt(const session_id& id, seq attempt, std::string owner,
                              preempt_handler preempt, open_handler done) {
    (void)attempt;
    attach(id, std::move(owner), std::move(preempt), std::move(done));
  }
  /// Persists a batch (durable stores only; the memory store completes at once).
  virtual void commit(const commit_batch& batch, done_handler done) = 0;
  /// The connection ended with a close that keeps the session: the TTL starts.
  /// A durable store first commits whatever the session has not committed.
  /// On error the session is gone (ended, expired, superseded, or its last
  /// commit failed) and `done` gets the messages that may not reach the
  /// client: those never committed, or, when the session itself is lost,
  /// every unacked one.
  virtual void detach(session_ptr s, detach_handler done) = 0;
  /// Ends the session: frees its buffers and leaves a tombstone.
  virtual void end(const session_id& id, std::uint64_t epoch, done_handler done) = 0;
  /// Refreshes an attached session's deadline (every ttl / 3); reports
  /// resume_superseded when a newer connection took the session.
  virtual void touch(const session_id& id, std::uint64_t epoch, done_handler done) = 0;
};

}  // namespace closewise::resume

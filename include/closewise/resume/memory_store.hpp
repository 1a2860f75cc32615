// closewise::resume: the default session store, in memory (docs/resume.md §8.2).
//
// A parked session is the live `session` object itself, moved in on detach and
// out on attach: nothing is copied or serialized. It survives connection loss,
// not the death of the process.
#pragma once

#include <cstddef>
#include <functional>
#include <memory>
#include <string>

#include "closewise/resume/session_store.hpp"

namespace closewise::resume {

struct memory_store_options : store_options {
  /// Sessions held at once (attached or parked); `create` over it is
  /// resume_store_unavailable (the server answers 503).
  std::size_t max_sessions = 100'000;
  /// Tombstones of expired and ended sessions kept (the oldest go first).
  std::size_t max_tombstones = 100'000;
  /// The clock: injected by tests. Default steady_clock::now.
  std::function<time_point()> clock;
};

/// Sessions in a map under one mutex. Thread-safe. Callbacks run on the
/// calling thread before the call returns, except an attach that waits for a
/// preempted holder: it completes from that holder's detach or end.
class memory_store final : public session_store {
 public:
  explicit memory_store(memory_store_options opts = {});
  ~memory_store() override;
  memory_store(const memory_store&) = delete;
  memory_store& operator=(const memory_store&) = delete;

  bool durable() const noexcept override { return false; }
  void create(std::string owner, preempt_handler preempt, open_handler done) override;
  void attach(const session_id& id, std::string owner, preempt_handler preempt,
              open_handler done) override;
  void attach_attempt(const session_id& id, seq attempt, std::string owner, preempt_handler preempt,
                      open_handler done) override;
  void commit(const commit_batch& batch, done_handler done) override;
  void detach(session_ptr s, detach_handler done) override;
  void end(const session_id& id, std::uint64_t epoch, done_handler done) override;
  void touch(const session_id& id, std::uint64_t epoch, done_handler done) override;

  /// Releases parked sessions past their deadline (they become `expired`
  /// tombstones) and forgets tombstones past theirs. Call it from a timer;
  /// attach checks deadlines itself, so a late sweep never revives a session.
  /// Returns how many sessions it released.
  std::size_t sweep();

  /// Sessions held (attached or parked) and tombstones, for tests and metrics.
  std::size_t sessions() const;
  std::size_t tombstones() const;

 private:
  struct impl;
  std::unique_ptr<impl> impl_;
};

}  // namespace closewise::resume

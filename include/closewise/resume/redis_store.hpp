// closewise::resume: a session store in Redis, through hiredis
// (docs/resume.md §8.3). It survives kill -9 of the server process, and a
// session can resume on another server process that uses the same Redis.
//
// One connection on the store's own thread: calls queue a request whose
// command is formatted at once (payloads are copied once, on the caller's
// thread); the thread writes every queued command in one pipeline, reads the
// replies in order and runs the callbacks on that thread.
#pragma once

#include <chrono>
#include <cstddef>
#include <cstdint>
#include <memory>
#include <string>

#include "closewise/resume/session_store.hpp"

namespace closewise::resume {

struct redis_store_options : store_options {
  std::string host = "127.0.0.1";
  std::uint16_t port = 6379;
  /// Key prefix; keys are PREFIX{id}:m and PREFIX{id}:q.
  std::string prefix = "closewise:resume:";
  std::chrono::milliseconds connect_timeout{1000};
  /// A reply slower than this breaks the connection (every pending request
  /// fails with resume_store_unavailable) and the store reconnects.
  std::chrono::milliseconds command_timeout{2000};
  /// Requests queued at once; beyond it calls fail at once with
  /// resume_store_unavailable, so a dead Redis never grows the server's memory.
  std::size_t max_pending = 65'536;
  /// Backoff between reconnect attempts.
  std::chrono::milliseconds reconnect_delay{100};
  std::chrono::milliseconds max_reconnect_delay{2000};
};

class redis_store final : public session_store {
 public:
  /// Starts the store's thread; it connects in the background (calls made
  /// before it is connected wait in the queue, within command_timeout).
  explicit redis_store(redis_store_options opts);
  /// Stops the thread; requests still queued fail with resume_store_unavailable.
  ~redis_store() override;
  redis_store(const redis_store&) = delete;
  redis_store& operator=(const redis_store&) = delete;

  bool durable() const noexcept override { return true; }
  void create(std::string owner, preempt_handler preempt, open_handler done) override;
  void attach(const session_id& id, std::string owner, preempt_handler preempt,
              open_handler done) override;
  void attach_attempt(const session_id& id, seq attempt, std::string owner, preempt_handler preempt,
                      open_handler done) override;
  void commit(const commit_batch& batch, done_handler done) override;
  void detach(session_ptr s, detach_handler done) override;
  void end(const session_id& id, std::uint64_t epoch, done_handler done) override;
  void touch(const session_id& id, std::uint64_t epoch, done_handler done) override;

  /// Connected to Redis right now (for health checks).
  bool connected() const noexcept;

 private:
  struct impl;
  std::unique_ptr<impl> impl_;
};

}  // namespace closewise::resume

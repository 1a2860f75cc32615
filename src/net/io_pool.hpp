// closewise::net (private): the threads a server runs itself
// (server_config::threads): one io_context per thread.
#pragma once

#include <atomic>
#include <cstddef>
#include <memory>
#include <optional>
#include <thread>
#include <vector>

#include <boost/asio/executor_work_guard.hpp>

#include "io_types.hpp"

namespace closewise::net::detail {

/// N io_contexts, each run by exactly one thread of its own, so connections
/// on it need no strand and share no scheduler lock with other threads
/// (docs/design-notes.md "Fleet (issue 14)" has the measurement).
///
/// The contexts are shared: a session that outlives the server (an
/// application holding its handle) keeps its context alive, so its socket
/// never refers to a destroyed one. The threads belong to whoever called
/// start() and are joined by join().
class io_pool {
 public:
  explicit io_pool(std::size_t threads);
  ~io_pool();
  io_pool(const io_pool&) = delete;
  io_pool& operator=(const io_pool&) = delete;

  /// Starts the threads (once).
  void start();
  /// Lets each context run out of work, then joins its thread. Call it after
  /// every connection was aborted; a thread never joins itself (a call from a
  /// pool thread detaches that thread instead).
  void join();

  /// The context for the next connection: round-robin, so connections spread
  /// evenly over the threads in number.
  asio::io_context& next() noexcept;
  std::size_t size() const noexcept { return contexts_.size(); }
  asio::io_context& at(std::size_t i) noexcept { return *contexts_[i]; }
  /// True on one of the pool's threads.
  bool running_in_this_thread() const noexcept;

 private:
  using guard_type = asio::executor_work_guard<asio::io_context::executor_type>;
  std::vector<std::unique_ptr<asio::io_context>> contexts_;
  std::vector<std::optional<guard_type>> guards_;
  std::vector<std::thread> threads_;
  std::atomic<std::size_t> next_{0};
};

}  // namespace closewise::net::detail

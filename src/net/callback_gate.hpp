// closewise::net (private): the gate every server callback passes, so that
// destroying the server waits for callbacks running on other threads.
#pragma once

#include <atomic>
#include <cstdint>

namespace closewise::net::detail {

/// `server.hpp` promises that destroying the server stops all callbacks. A
/// flag alone cannot keep that promise: a callback that passed its check on an
/// io thread would go on running after `~server` returned, over application
/// state the caller is about to destroy. So each callback holds the gate while
/// it runs, and `close()` (from `~server`) waits until none is held by another
/// thread. A callback that destroys its own server is not waited for (it would
/// wait for itself); its own thread's other servers' callbacks neither.
///
/// Cost per callback: two uncontended atomic read-modify-writes and a
/// thread_local pointer swap.
class callback_gate {
 public:
  /// Holds the gate for one callback; `open()` says whether it may run.
  class scope {
   public:
    explicit scope(callback_gate& g) noexcept : g_(g), prev_(innermost_) {
      g_.active_.fetch_add(1, std::memory_order_seq_cst);
      // Checked after the increment: close() sets the flag before it reads the
      // count, so one of the two sees the other (both sequentially consistent).
      open_ = !g_.closed_.load(std::memory_order_seq_cst);
      innermost_ = this;
    }
    ~scope() {
      innermost_ = prev_;
      g_.active_.fetch_sub(1, std::memory_order_seq_cst);
      // Only a closing gate has a waiter; an open one pays no wake-up.
      if (g_.closed_.load(std::memory_order_seq_cst)) g_.active_.notify_all();
    }
    scope(const scope&) = delete;
    scope& operator=(const scope&) = delete;

    bool open() const noexcept { return open_; }

   private:
    friend class callback_gate;
    callback_gate& g_;
    scope* prev_;
    bool open_ = false;
  };

  /// No callback starts after this returns, and none is still running on
  /// another thread.
  void close() noexcept {
    closed_.store(true, std::memory_order_seq_cst);
    std::int64_t mine = 0;  // scopes of this gate on this thread's stack
    for (const scope* s = innermost_; s != nullptr; s = s->prev_)
      if (&s->g_ == this) ++mine;
    for (;;) {
      const auto n = active_.load(std::memory_order_seq_cst);
      if (n <= mine) return;
      active_.wait(n, std::memory_order_seq_cst);
    }
  }

  bool closed() const noexcept { return closed_.load(std::memory_order_acquire); }

 private:
  std::atomic<std::int64_t> active_{0};
  std::atomic<bool> closed_{false};
  static inline thread_local scope* innermost_ = nullptr;
};

}  // namespace closewise::net::detail

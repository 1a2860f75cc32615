#include "io_pool.hpp"

#include <algorithm>

namespace closewise::net::detail {

io_pool::io_pool(std::size_t threads) {
  const std::size_t n = std::max<std::size_t>(threads, 1);
  contexts_.reserve(n);
  guards_.reserve(n);
  for (std::size_t i = 0; i < n; ++i) {
    // Concurrency hint 1: exactly one thread runs each context, so Asio
    // may skip the scheduler's locking.
    contexts_.push_back(std::make_unique<asio::io_context>(1));
    guards_.emplace_back(asio::make_work_guard(*contexts_.back()));
  }
}

io_pool::~io_pool() { join(); }

void io_pool::start() {
  if (!threads_.empty()) return;
  threads_.reserve(contexts_.size());
  for (auto& c : contexts_) threads_.emplace_back([ctx = c.get()] { ctx->run(); });
}

void io_pool::join() {
  for (auto& g : guards_) g.reset();
  const auto self = std::this_thread::get_id();
  for (auto& t : threads_) {
    if (!t.joinable()) continue;
    if (t.get_id() == self) {
      t.detach();
    } else {
      t.join();
    }
  }
  threads_.clear();
}

asio::io_context& io_pool::next() noexcept {
  return *contexts_[next_.fetch_add(1, std::memory_order_relaxed) % contexts_.size()];
}

bool io_pool::running_in_this_thread() const noexcept {
  return std::any_of(contexts_.begin(), contexts_.end(),
                     [](const auto& c) { return c->get_executor().running_in_this_thread(); });
}

}  // namespace closewise::net::detail

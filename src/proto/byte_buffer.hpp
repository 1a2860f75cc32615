// closewise::proto (private): the buffer a message is assembled in.
#pragma once

#include <algorithm>
#include <cstddef>
#include <cstring>
#include <string>
#include <string_view>
#include <utility>

#include "closewise/proto/buffer_pool.hpp"

namespace closewise::proto::detail {

/// A growable byte buffer for a message being assembled, so a large payload
/// can be read from the socket straight into it (receive_window). Its storage
/// is a std::string whose size() is the writable region (stale bytes past
/// size()): growth and release go through the thread's buffer_pool, so a
/// buffer is rarely zero-filled, and take_delivered can hand the storage to a
/// replay buffer without a copy (docs/design-notes.md, "Zero-copy forwarding").
class byte_buffer {
 public:
  char* data() noexcept { return s_.data(); }
  std::size_t size() const noexcept { return size_; }
  std::size_t capacity() const noexcept { return s_.size(); }
  std::string_view view() const noexcept { return {s_.data(), size_}; }
  void clear() noexcept { size_ = 0; }
  /// Room for `more` bytes after size(), growing geometrically.
  void make_room(std::size_t more) {
    if (more <= s_.size() - size_) return;
    const std::size_t n = std::max(size_ + more, s_.size() * 2);
    std::string q = buffer_pool::take(n);
    if (q.capacity() < n) {
      s_.resize(n);  // keeps the bytes so far; zero-fills the rest once
      return;
    }
    // Never shrink it: past size() its stale bytes are writable as they are,
    // and a string cut to a few bytes here would be zero-filled by the next
    // growth (a 50-byte header remnant, then the 64 KiB payload).
    if (q.size() < n) q.resize(n);  // within capacity: zero-fills only the gap
    if (size_ != 0) std::memcpy(q.data(), s_.data(), size_);
    buffer_pool::give(std::exchange(s_, std::move(q)));
  }
  void append(const void* d, std::size_t n) {
    make_room(n);
    std::memcpy(s_.data() + size_, d, n);
    size_ += n;
  }
  void commit(std::size_t n) noexcept { size_ += n; }
  void release_above(std::size_t keep) noexcept {
    if (s_.size() > keep) {
      buffer_pool::give(std::move(s_));
      s_ = std::string();
      size_ = 0;
    }
  }
  /// The bytes are in an allocation of their own: a std::string holding a few
  /// bytes keeps them inside itself, and a swap would move them.
  bool allocated() const noexcept { return s_.capacity() > std::string().capacity(); }
  /// Gives the bytes (exactly size(), at the same address) to `out` and keeps
  /// what `out` held as the storage to fill next; size() is 0 after. Never
  /// zero-fills: a spare that held a payload of this size is reused as is.
  void swap_out(std::string& out) noexcept {
    s_.resize(size_);  // shrinks: no allocation, nothing moves
    s_.swap(out);      // writable: out's old size(), typically the last payload's
    size_ = 0;
  }

 private:
  std::string s_;
  std::size_t size_ = 0;
};

}  // namespace closewise::proto::detail

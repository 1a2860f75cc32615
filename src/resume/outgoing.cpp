#include "closewise/resume/outgoing.hpp"

#include <algorithm>
#include <cstdint>
#include <cstring>
#include <new>
#include <utility>

#if defined(__SSE2__)
#include <emmintrin.h>
#endif

#include "closewise/error.hpp"
#include "closewise/proto/buffer_pool.hpp"

namespace closewise::resume {
namespace {

/// From this size a replay copy bypasses the cache (docs/design-notes.md,
/// "The replay copy"): the connection writes a message from the caller's
/// buffer, so its replay copy is read only if a resume replays it. Below it the
/// copy stays in cache as plain memcpy does, which is cheaper for small ones.
constexpr std::size_t stream_copy_min = std::size_t{16} << 10;

/// memcpy with non-temporal stores: no read-for-ownership of cold
/// destination lines, and no eviction of the connection's hot data.
void stream_copy(char* dst, const char* src, std::size_t n) noexcept {
#if defined(__SSE2__)
  while (n != 0 && (reinterpret_cast<std::uintptr_t>(dst) & 15) != 0) {
    *dst++ = *src++;
    --n;
  }
  for (; n >= 64; n -= 64, dst += 64, src += 64) {
    const auto* s = reinterpret_cast<const __m128i*>(src);
    auto* d = reinterpret_cast<__m128i*>(dst);
    const __m128i a = _mm_loadu_si128(s), b = _mm_loadu_si128(s + 1);
    const __m128i c = _mm_loadu_si128(s + 2), e = _mm_loadu_si128(s + 3);
    _mm_stream_si128(d, a);
    _mm_stream_si128(d + 1, b);
    _mm_stream_si128(d + 2, c);
    _mm_stream_si128(d + 3, e);
  }
  _mm_sfence();  // the streamed stores are ordered before anything after the copy
#endif
  std::memcpy(dst, src, n);
}

}  // namespace

std::size_t outgoing::thread_spares() noexcept { return proto::buffer_pool::size(); }

outgoing::outgoing(replay_limits limits, bool needs_commit)
    : limits_(limits), needs_commit_(needs_commit) {}

outgoing outgoing::restore(replay_limits limits, bool needs_commit, seq acked,
                           std::deque<message> buffer, seq sent) {
  outgoing o(limits, needs_commit);
  o.sent_ = sent;
  o.committed_ = sent;  // a store's record is committed by definition
  o.acked_ = std::min(acked, sent);
  // Messages at or below acked are not replayable; a record never holds them,
  // but a lazily trimmed one may.
  while (!buffer.empty() && buffer.front().number <= o.acked_) buffer.pop_front();
  o.buffer_ = std::move(buffer);
  for (const auto& m : o.buffer_) o.bytes_ += m.payload.size();
  // Anything missing between acked and the buffer was evicted.
  o.evicted_through_ = o.oldest() > o.acked_ + 1 ? o.oldest() - 1 : 0;
  o.written_ = o.acked_;  // nothing is written to the new connection yet
  return o;
}

std::error_code outgoing::push(proto::message_kind kind, std::string payload, time_point now) {
  if (sent_ >= max_seq) return error::invalid_argument;
  if (auto ec = make_room(payload.size())) return ec;
  bytes_ += payload.size();
  buffer_.push_back(message{++sent_, kind, std::move(payload), now});
  if (!needs_commit_) committed_ = sent_;
  return {};
}

std::error_code outgoing::push_copy(proto::message_kind kind, std::string_view payload,
                                    time_point now, swapper* swap) {
  // Room first: once a swapper took the payload's buffer, the push must not fail.
  if (sent_ >= max_seq) return error::invalid_argument;
  if (auto ec = make_room(payload.size())) return ec;
  std::string s = take_spare();
  if (swap == nullptr || !swap->swap(payload, s)) {
    if (payload.size() >= stream_copy_min && s.size() >= payload.size()) {
      s.resize(payload.size());  // shrinks: nothing is written
      stream_copy(s.data(), payload.data(), payload.size());
    } else {
      s.assign(payload);
    }
  }
  bytes_ += payload.size();
  buffer_.push_back(message{++sent_, kind, std::move(s), now});
  if (!needs_commit_) committed_ = sent_;
  return {};
}

std::string outgoing::take_spare() noexcept {
  if (spare_.empty()) return proto::buffer_pool::take_any();
  std::string s = std::move(spare_.back());
  spare_.pop_back();
  spare_capacity_ -= s.capacity();
  return s;
}

std::error_code outgoing::make_room(std::size_t n) {
  // A message larger than the whole buffer can never be held, whatever the policy.
  if (n > limits_.max_bytes || limits_.max_messages == 0) return error::replay_buffer_full;
  auto fits = [&] {
    return buffer_.size() < limits_.max_messages && bytes_ + n <= limits_.max_bytes;
  };
  if (fits()) return {};
  if (limits_.overflow == overflow_policy::refuse) return error::replay_buffer_full;
  // evict_oldest: only written messages may go. An unwritten one would leave a
  // hole in the numbering of the live connection (docs/resume.md §4.3). Check
  // first that eviction can make room, so a refusal changes nothing.
  std::size_t count = buffer_.size(), bytes = bytes_, i = 0;
  while (!(count < limits_.max_messages && bytes + n <= limits_.max_bytes)) {
    if (i == buffer_.size() || buffer_[i].number > written_) return error::replay_buffer_full;
    bytes -= buffer_[i].payload.size();
    --count;
    ++i;
  }
  for (; i != 0; --i) {
    bytes_ -= buffer_.front().payload.size();
    evicted_through_ = buffer_.front().number;
    evicted_.push_back(std::move(buffer_.front()));
    buffer_.pop_front();
  }
  return {};
}

const message* outgoing::next_to_write() const noexcept {
  if (written_ >= committed_) return nullptr;
  // The common case, a stream: the one message just pushed (no deque indexing).
  if (written_ + 1 == sent_) return &buffer_.back();
  return find(written_ + 1);
}

void outgoing::mark_written() noexcept {
  if (written_ < committed_) ++written_;
}

std::error_code outgoing::on_ack(seq n) {
  // docs/resume.md §3: a cumulative ack never goes back, and the peer cannot
  // have received what was not written to it.
  if (n < acked_ || n > written_) return error::bad_resume_ack;
  drop_through(n);
  acked_ = n;
  return {};
}

void outgoing::drop_through(seq n) noexcept {
  while (!buffer_.empty() && buffer_.front().number <= n) {
    std::string& p = buffer_.front().payload;
    bytes_ -= p.size();
    const std::size_t cap = p.capacity();
    // A spare keeps what the buffer held: spares and unacked payload stay
    // within max_bytes, so a session never holds more than its bound allows.
    if (spare_.size() < spare_count && spare_capacity_ + cap + bytes_ <= limits_.max_bytes) {
      try {
        spare_.push_back(std::move(p));
        spare_capacity_ += cap;
      } catch (const std::bad_alloc&) {  // a spare is an optimisation only
      }
    } else {
      proto::buffer_pool::give(std::move(p));
    }
    buffer_.pop_front();
  }
  if (buffer_.empty()) {
    // Nothing unacked: the session keeps no spare; the thread keeps a few.
    for (std::string& p : spare_) proto::buffer_pool::give(std::move(p));
    std::vector<std::string>().swap(spare_);
    spare_capacity_ = 0;
  }
}

std::error_code outgoing::check_rewind(seq peer_received) const noexcept {
  // docs/resume.md §2.6 check 2: nobody receives more than was sent (and
  // nothing uncommitted was ever written); a peer that now claims less than it
  // acked lost state, or a store went back.
  if (peer_received > committed_ || peer_received < acked_) return error::resume_invalid;
  // §2.6 checks 3 and 4: everything after peer_received must still be here.
  if (peer_received + 1 < oldest()) return error::resume_overflowed;
  return {};
}

std::error_code outgoing::rewind(seq peer_received) {
  if (auto ec = check_rewind(peer_received)) return ec;
  drop_through(peer_received);
  acked_ = peer_received;
  // docs/resume.md §4.4: the peer expects peer_received + 1 next.
  written_ = peer_received;
  return {};
}

std::vector<message> outgoing::take_evicted() {
  std::vector<message> out;
  out.swap(evicted_);
  return out;
}

std::vector<message> outgoing::take_unacked() { return take_unacked_above(acked_); }

std::vector<message> outgoing::take_unacked_above(seq delivered) {
  std::vector<message> out;
  out.reserve(buffer_.size());
  for (auto& m : buffer_)
    if (m.number > delivered) out.push_back(std::move(m));
  buffer_.clear();
  bytes_ = 0;
  acked_ = written_ = committed_ = sent_;
  return out;
}

const message* outgoing::find(seq n) const noexcept {
  const seq first = oldest();
  if (n < first || n > sent_) return nullptr;
  return &buffer_[static_cast<std::size_t>(n - first)];
}

void outgoing::mark_committed(seq n) noexcept {
  committed_ = std::max(committed_, std::min(n, sent_));
}

std::optional<time_point> outgoing::age_deadline() const noexcept {
  if (buffer_.empty() || limits_.max_age <= std::chrono::milliseconds::zero()) return std::nullopt;
  return buffer_.front().sent_at + limits_.max_age;
}

bool outgoing::too_old(time_point now) const noexcept {
  const auto d = age_deadline();
  return d && now >= *d;
}

}  // namespace closewise::resume

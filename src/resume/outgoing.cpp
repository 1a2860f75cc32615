#include "closewise/resume/outgoing.hpp"

#include <algorithm>
#include <bit>
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

/// A free slot's payload is a spare exactly when it holds an allocation.
bool spare(const std::string& s) noexcept { return s.capacity() > std::string().capacity(); }

/// To the thread's pool if it takes it, else freed: `s` is left empty.
void release(std::string& s) noexcept {
  proto::buffer_pool::give(std::move(s));
  std::string().swap(s);
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
  if (!buffer.empty()) {
    const std::size_t n = std::bit_ceil(std::max(buffer.size(), idle_slots));
    o.ring_.resize(n);
    // The record holds oldest .. sent in order: fill() numbers them so.
    o.sent_ = buffer.front().number - 1;
    for (auto& m : buffer) {
      const std::size_t i = o.count_, size = m.payload.size();
      o.store(i, std::move(m.payload));
      o.fill(i, m.kind, size, m.sent_at);
    }
    o.sent_ = o.committed_ = sent;
  }
  // Anything missing between acked and the buffer was evicted.
  o.evicted_through_ = o.oldest() > o.acked_ + 1 ? o.oldest() - 1 : 0;
  o.written_ = o.acked_;  // nothing is written to the new connection yet
  return o;
}

void outgoing::fill(std::size_t i, proto::message_kind kind, std::size_t size,
                    time_point now) noexcept {
  slot& s = ring_[i];
  s.number = ++sent_;
  s.kind = kind;
  s.size = size;
  s.sent_at = now;
  bytes_ += size;
  pushed_bytes_ += size;
  s.through = pushed_bytes_;
  if (!s.in_slot) ++big_count_;
  ++count_;
  if (!needs_commit_) committed_ = sent_;
}

void outgoing::store(std::size_t i, std::string&& payload) {
  slot& s = ring_[i];
  s.in_slot = payload.size() <= inline_bytes;
  if (s.in_slot) {
    if (!payload.empty()) std::memcpy(s.bytes, payload.data(), payload.size());
    return;
  }
  std::string& b = big(i);
  if (spare(b)) {  // the payload brings its own buffer: the spare goes to the pool
    --spares_;
    spare_capacity_ -= b.capacity();
    release(b);
  }
  b = std::move(payload);
}

std::error_code outgoing::push(proto::message_kind kind, std::string&& payload, time_point now) {
  if (sent_ >= max_seq) return error::invalid_argument;
  const std::size_t n = payload.size();
  if (auto ec = make_room(n)) return ec;
  const std::size_t i = tail_index();
  store(i, std::move(payload));
  fill(i, kind, n, now);
  return {};
}

std::error_code outgoing::push_copy(proto::message_kind kind, std::string_view payload,
                                    time_point now, swapper* swap) {
  // Room first: once a swapper took the payload's buffer, the push must not fail.
  if (sent_ >= max_seq) return error::invalid_argument;
  if (auto ec = make_room(payload.size())) return ec;
  const std::size_t i = tail_index();
  slot& sl = ring_[i];
  sl.in_slot = payload.size() <= inline_bytes;
  if (sl.in_slot) {
    if (!payload.empty()) std::memcpy(sl.bytes, payload.data(), payload.size());
  } else {
    std::string s = take_spare(i);
    if (swap == nullptr || !swap->swap(payload, s)) {
      if (payload.size() >= stream_copy_min && s.size() >= payload.size()) {
        s.resize(payload.size());  // shrinks: nothing is written
        stream_copy(s.data(), payload.data(), payload.size());
      } else {
        s.assign(payload);
      }
    }
    big_[i] = std::move(s);
  }
  fill(i, kind, payload.size(), now);
  // The next push reuses the next slot, last touched a lap of the ring ago
  // and by now out of cache: start fetching its header line.
  if (count_ < ring_.size()) __builtin_prefetch(&ring_[index(count_)], 1);
  return {};
}

std::size_t outgoing::tail_index() {
  if (count_ == ring_.size()) {
    // Full: twice the slots, in seq order from 0; the free places (and the
    // spares big_ keeps in them) follow. Moving a string keeps its heap
    // bytes where they are; a short payload moves with its slot.
    const std::size_t n = std::max(ring_.size() * 2, idle_slots);
    std::vector<slot> next(n);
    for (std::size_t k = 0; k < ring_.size(); ++k) next[k] = ring_[index(k)];
    if (!big_.empty()) {
      std::vector<std::string> next_big(n);
      for (std::size_t k = 0; k < ring_.size(); ++k) next_big[k] = std::move(big_[index(k)]);
      big_.swap(next_big);
    }
    ring_.swap(next);
    head_ = 0;
  }
  return index(count_);
}

std::string outgoing::take_spare(std::size_t tail) {
  std::string* from = &big(tail);
  if (!spare(*from) && spares_ != 0) {
    // A place the ring just grew into, or one whose string was let go: the
    // newest acked places, just before head_, may keep one. A few are looked
    // at, not all: the thread's pool is the fallback.
    const std::size_t stop = std::max(count_ + 1, ring_.size() > 4 ? ring_.size() - 4 : 0);
    for (std::size_t k = ring_.size(); k-- > stop;) {
      if (spare(big_[index(k)])) {
        from = &big_[index(k)];
        break;
      }
    }
  }
  if (!spare(*from)) return proto::buffer_pool::take_any();
  --spares_;
  spare_capacity_ -= from->capacity();
  return std::move(*from);
}

void outgoing::keep_or_release(std::string& p) noexcept {
  // A spare keeps what the buffer held: spares and unacked payload stay
  // within max_bytes, so a session never holds more than its bound allows.
  const std::size_t cap = p.capacity();
  if (spare(p) && spare_capacity_ + cap + bytes_ <= limits_.max_bytes) {
    ++spares_;
    spare_capacity_ += cap;
  } else {
    release(p);
  }
}

void outgoing::go_idle() noexcept {
  // Nothing unacked: the session keeps no spare; the thread keeps a few. The
  // newest spares sit just before head_, so the walk back stops soon.
  for (std::size_t k = ring_.size(); spares_ != 0 && k != 0; --k) {
    std::string& p = big_[index(k - 1)];
    if (!spare(p)) continue;
    --spares_;
    release(p);
  }
  spares_ = 0;
  spare_capacity_ = 0;
  if (ring_.size() > idle_slots) {
    std::vector<slot>().swap(ring_);
    std::vector<std::string>().swap(big_);
    head_ = 0;
  }
}

std::string& outgoing::big(std::size_t i) {
  if (big_.empty()) big_.resize(ring_.size());  // the first long payload
  return big_[i];
}

message outgoing::take_message(std::size_t k) {
  const std::size_t i = index(k);
  const slot& s = ring_[i];
  message m{s.number, s.kind, {}, s.sent_at};
  if (s.in_slot) {
    m.payload.assign(s.bytes, s.size);
  } else {
    m.payload = std::move(big_[i]);
    release(big_[i]);  // moved from: empty
    --big_count_;
  }
  return m;
}

std::error_code outgoing::make_room(std::size_t n) {
  // A message larger than the whole buffer can never be held, whatever the policy.
  if (n > limits_.max_bytes || limits_.max_messages == 0) return error::replay_buffer_full;
  auto fits = [&] { return count_ < limits_.max_messages && bytes_ + n <= limits_.max_bytes; };
  if (fits()) return {};
  if (limits_.overflow == overflow_policy::refuse) return error::replay_buffer_full;
  // evict_oldest: only written messages may go. An unwritten one would leave a
  // hole in the numbering of the live connection (docs/resume.md §4.3). Check
  // first that eviction can make room, so a refusal changes nothing.
  std::size_t count = count_, bytes = bytes_, i = 0;
  while (!(count < limits_.max_messages && bytes + n <= limits_.max_bytes)) {
    if (i == count_ || ring_[index(i)].number > written_) return error::replay_buffer_full;
    bytes -= ring_[index(i)].size;
    --count;
    ++i;
  }
  for (; i != 0; --i) {
    evicted_.push_back(take_message(0));
    bytes_ -= evicted_.back().payload.size();
    evicted_through_ = evicted_.back().number;
    head_ = index(1);
    --count_;
  }
  return {};
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
  // Slots are numbered in order from oldest(), so what goes is known without
  // reading them, and the bytes that stay from the last one that goes: an
  // ack of 64 short messages reads one slot, not 64 (docs/design-notes.md,
  // "Short payloads in the slot"). Only long payloads need each slot read.
  if (count_ != 0 && n >= oldest()) {
    const std::size_t k = static_cast<std::size_t>(std::min<seq>(n + 1 - oldest(), count_));
    bytes_ = pushed_bytes_ - ring_[index(k - 1)].through;
    for (std::size_t j = 0; big_count_ != 0 && j < k; ++j) {
      const std::size_t i = index(j);
      if (ring_[i].in_slot) continue;
      --big_count_;
      keep_or_release(big_[i]);
    }
    head_ = index(k);
    count_ -= k;
  }
  if (count_ == 0) go_idle();
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
  out.reserve(count_);
  for (std::size_t k = 0; k < count_; ++k) {
    if (ring_[index(k)].number > delivered) {
      out.push_back(take_message(k));
    } else if (!ring_[index(k)].in_slot) {
      release(big_[index(k)]);
    }
  }
  head_ = ring_.empty() ? 0 : index(count_);
  count_ = 0;
  bytes_ = 0;
  big_count_ = 0;
  go_idle();
  acked_ = written_ = committed_ = sent_;
  return out;
}

std::optional<message_view> outgoing::find(seq n) const noexcept {
  const seq first = oldest();
  if (n < first || n > sent_) return std::nullopt;
  return view(static_cast<std::size_t>(n - first));
}

void outgoing::mark_committed(seq n) noexcept {
  committed_ = std::max(committed_, std::min(n, sent_));
}

std::optional<time_point> outgoing::age_deadline() const noexcept {
  if (count_ == 0 || limits_.max_age <= std::chrono::milliseconds::zero()) return std::nullopt;
  return ring_[head_].sent_at + limits_.max_age;
}

bool outgoing::too_old(time_point now) const noexcept {
  const auto d = age_deadline();
  return d && now >= *d;
}

}  // namespace closewise::resume

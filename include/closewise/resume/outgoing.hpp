// closewise::resume: the sending half of one direction (docs/resume.md §4).
//
// Assigns seqs, keeps unacknowledged messages in a bounded replay buffer,
// processes acks, and says what to (re)write after a resume. Sans-I/O: time is
// passed in, and the caller moves the frames.
#pragma once

#include <chrono>
#include <cstddef>
#include <cstdint>
#include <deque>
#include <optional>
#include <string>
#include <string_view>
#include <system_error>
#include <vector>

#include "closewise/proto/buffer_pool.hpp"
#include "closewise/resume/message.hpp"

namespace closewise::resume {

/// What a full replay buffer does with a new message (docs/resume.md §4.3).
enum class overflow_policy : std::uint8_t {
  /// Refuse it with error::replay_buffer_full; the caller still holds it (backpressure).
  refuse,
  /// Evict the oldest *written* unacked messages until it fits; they go back to
  /// the application with error::resume_evicted, and a resume that needs them
  /// is refused with `overflowed`.
  evict_oldest,
};

/// Bounds of a replay buffer (docs/resume.md §4.3).
struct replay_limits {
  std::size_t max_messages = 4096;
  std::size_t max_bytes = std::size_t{4} << 20;  ///< payload bytes
  /// Open: an unacked message this old means the peer stopped acking
  /// (error::resume_ack_timeout). Detached: the session expired on this side.
  /// Zero or less turns the age bound off (a message may wait for its ack
  /// as long as the session lives).
  std::chrono::milliseconds max_age{120'000};
  overflow_policy overflow = overflow_policy::refuse;
};

/// The sender of one direction.
///
/// Positions, always `acked <= written <= committed <= sent` (and the buffer
/// holds `oldest() .. sent()`, `oldest() > acked()` only after evictions):
/// - sent: the highest seq assigned;
/// - committed: the highest seq a durable store holds (equal to sent when no
///   commit is needed): only committed messages may be written;
/// - written: the highest seq written to the current connection;
/// - acked: the highest seq the peer acknowledged.
class outgoing {
 public:
  /// `needs_commit`: a durable store must hold a message before it is written
  /// (docs/resume.md §7.2 rule 2); otherwise messages are writable at once.
  explicit outgoing(replay_limits limits = {}, bool needs_commit = false);

  /// Rebuilds a sender from a store: `buffer` holds `oldest .. sent`, in order,
  /// all committed; nothing is written on the new connection yet.
  static outgoing restore(replay_limits limits, bool needs_commit, seq acked,
                          std::deque<message> buffer, seq sent);

  /// Assigns the next seq to a message and keeps a copy. Errors:
  /// replay_buffer_full (a bound is hit under `refuse`, or nothing written is
  /// left to evict under `evict_oldest`, or the message alone is over
  /// max_bytes), invalid_argument (seq would pass max_seq). On error nothing
  /// changed and `payload` is untouched: the caller still holds the message.
  /// On success the buffer keeps the payload's own string (a payload of at
  /// most inline_bytes is copied into its slot instead).
  std::error_code push(proto::message_kind kind, std::string&& payload, time_point now);
  /// Takes the payload's buffer instead of copying it (zero-copy forwarding,
  /// docs/design-notes.md): swap() gets a spare string and may exchange it
  /// for a string that already holds exactly `payload` at `payload`'s address
  /// (proto::connection::take_delivered); false leaves `spare` as it was.
  struct swapper {
    virtual bool swap(std::string_view payload, std::string& spare) noexcept = 0;

   protected:
    ~swapper() = default;
  };
  /// The same, copying `payload` into a string recycled from an acked message
  /// when one is spare: no allocation in a steady stream. With a `swap` that
  /// takes the payload's own buffer, nothing is copied. Errors are checked
  /// before `swap` is called, so a buffer it took is always kept.
  std::error_code push_copy(proto::message_kind kind, std::string_view payload, time_point now,
                            swapper* swap = nullptr);

  /// The next message to write to the connection, or nullopt when every
  /// committed message is written. Its payload is valid until the next
  /// non-const call (a push may move the slots, and a short payload with them).
  std::optional<message_view> next_to_write() const noexcept {
    if (written_ >= committed_) return std::nullopt;
    // The common case, a stream: the one message just pushed.
    if (written_ + 1 == sent_) return view(count_ - 1);
    return find(written_ + 1);
  }
  /// The message returned by next_to_write() was written.
  void mark_written() noexcept {
    if (written_ < committed_) ++written_;
  }

  /// A received ack (docs/resume.md §3). Below `acked` or above `written` is
  /// error::bad_resume_ack (the peer cannot have received more than was
  /// written): fail the connection with 1002. Equal to `acked`: no change.
  std::error_code on_ack(seq n);

  /// The peer announced `peer_received` in a resume handshake: treat it as an
  /// ack and write everything after it again (docs/resume.md §4.4). Errors
  /// (nothing changes): resume_invalid (above committed, or below acked: the peer
  /// claims less than it acknowledged), resume_overflowed (the buffer no
  /// longer starts at peer_received + 1).
  std::error_code rewind(seq peer_received);
  /// Can rewind(peer_received) succeed? Same errors, no change.
  std::error_code check_rewind(seq peer_received) const noexcept;

  /// Messages evicted by `evict_oldest` since the last call, oldest first.
  std::vector<message> take_evicted();
  /// Every message still held, oldest first; the buffer is left empty and
  /// acked = sent (nothing will be replayed). For handing back.
  std::vector<message> take_unacked();
  /// Like take_unacked, but only messages above `delivered` (those up to it
  /// are known to have arrived and are dropped).
  std::vector<message> take_unacked_above(seq delivered);

  // ---- durable stores -------------------------------------------------------------
  /// The message with seq `n`, if the buffer holds it; its payload is valid
  /// until the next non-const call.
  std::optional<message_view> find(seq n) const noexcept;
  /// A store now holds every message up to `n` (at most sent).
  void mark_committed(seq n) noexcept;

  // ---- age ------------------------------------------------------------------------
  /// The time the oldest unacked message reaches max_age (nullopt: none
  /// held, or max_age <= 0, which turns the bound off).
  std::optional<time_point> age_deadline() const noexcept;
  /// The oldest unacked message is at least max_age old.
  bool too_old(time_point now) const noexcept;

  // ---- observers ------------------------------------------------------------------
  seq sent() const noexcept { return sent_; }
  seq committed() const noexcept { return committed_; }
  seq written() const noexcept { return written_; }
  seq acked() const noexcept { return acked_; }
  /// The lowest seq still held (sent + 1 when empty).
  seq oldest() const noexcept { return sent_ + 1 - count_; }
  /// The highest seq evicted by evict_oldest (0: none).
  seq evicted_through() const noexcept { return evicted_through_; }
  std::size_t size() const noexcept { return count_; }
  std::size_t bytes() const noexcept { return bytes_; }
  /// Acked long payloads' strings kept for push_copy to reuse.
  std::size_t spares() const noexcept { return spares_; }

  /// A short payload (up to inline_bytes) lives in its slot and needs no
  /// string. A longer one's string, once acked, is kept in its place for
  /// push_copy (and for the receive buffer that zero-copy forwarding swaps
  /// out), as long as the
  /// spares' capacity and the unacked payload together stay within
  /// limits().max_bytes: a stream keeps the memory it just used, never more
  /// than its bound (a 64 KiB string freed and allocated again costs glibc a
  /// trim and 16 page faults, and a receive buffer a zero-fill). Their count
  /// is at most the ring's free slots. All are let go when nothing is unacked,
  /// so an idle session keeps none.
  ///
  /// Acked strings past that bound go to the calling thread's
  /// proto::buffer_pool, up to thread_spare_count strings and
  /// thread_spare_bytes of capacity, and push_copy on that thread takes from
  /// it when its buffer has no spare of its own: a session that sends one
  /// message at a time (each acked before the next) reuses memory instead of
  /// allocating and faulting in every message. The pool is per thread, so
  /// idle sessions still keep nothing. Receive buffers share it.
  static constexpr std::size_t thread_spare_count = proto::buffer_pool::max_strings;
  static constexpr std::size_t thread_spare_bytes = proto::buffer_pool::max_bytes;
  /// Strings in the calling thread's pool.
  static std::size_t thread_spares() noexcept;
  const replay_limits& limits() const noexcept { return limits_; }
  bool needs_commit() const noexcept { return needs_commit_; }

 private:
  /// One message's place in the ring: two cache lines, the first holding the
  /// header and, for a short payload, its first 32 bytes. A payload of up to
  /// inline_bytes is held in the slot itself; a longer one in the string at
  /// the same index of big_ (docs/design-notes.md, "Short payloads in the slot").
  static constexpr std::size_t slot_size = 128;
  struct alignas(64) slot {
    seq number = 0;
    time_point sent_at{};
    std::size_t size = 0;     ///< payload bytes
    std::size_t through = 0;  ///< pushed_bytes_ once this message was pushed
    proto::message_kind kind = proto::message_kind::text;
    bool in_slot = false;  ///< the payload is in `bytes`, else in the big_ string
    char bytes[slot_size - 2 * sizeof(seq) - 2 * sizeof(std::size_t) - 8];
  };
  static_assert(sizeof(slot) == slot_size);

 public:
  /// Payloads up to this size are copied into their slot: no string, no
  /// allocation, and one cache line per short message.
  static constexpr std::size_t inline_bytes = sizeof(slot::bytes);

 private:
  std::error_code make_room(std::size_t payload_size);
  void drop_through(seq n) noexcept;
  /// The index of the slot the next message goes in (the ring grows when full).
  std::size_t tail_index();
  /// A spare for big_[tail]: its own, else the newest acked big_ string that
  /// kept one, else the thread's pool, else empty; the donor keeps none.
  std::string take_spare(std::size_t tail);
  /// An acked long payload: kept in place as a spare if the bounds allow.
  void keep_or_release(std::string& payload) noexcept;
  /// Nothing unacked: the spares go to the thread's pool, and a ring grown
  /// past idle_slots is freed.
  void go_idle() noexcept;
  /// Puts a payload in slot `i`: in the slot itself when short, else in
  /// big_[i] (a spare there goes to the thread's pool).
  void store(std::size_t i, std::string&& payload);
  /// Fills slot `i` (a ring index) as message `sent_ + 1`; store() came first.
  void fill(std::size_t i, proto::message_kind kind, std::size_t size, time_point now) noexcept;
  /// big_[i], big_ allocated beside the ring on first use: a session that
  /// sends only short payloads has no strings.
  std::string& big(std::size_t i);
  /// The held message at position `k` (0: the oldest) as an owning message;
  /// a long payload's string is moved out.
  message take_message(std::size_t k);
  std::size_t index(std::size_t k) const noexcept { return (head_ + k) & (ring_.size() - 1); }
  message_view view(std::size_t k) const noexcept {
    const std::size_t i = index(k);
    const slot& s = ring_[i];
    return {s.number, s.kind,
            s.in_slot ? std::string_view(s.bytes, s.size) : std::string_view(big_[i]), s.sent_at};
  }

  /// The slots an idle session keeps (512 bytes).
  static constexpr std::size_t idle_slots = 4;

  // A ring of slots (a power of two, or none): positions 0 .. count_ - 1 from
  // head_ hold oldest() .. sent_. big_ runs beside it, index for index: the
  // long payloads, and in free places (or under a short message) spares, an
  // acked message's string kept for reuse: spares_ of them, spare_capacity_
  // in all. A stream reuses each slot, and its string, in place: no
  // allocation and no moves per message (docs/design-notes.md).
  // What every message touches comes first.
  std::vector<slot> ring_;
  std::size_t head_ = 0;
  std::size_t count_ = 0;
  std::size_t spares_ = 0;
  std::size_t spare_capacity_ = 0;
  std::size_t bytes_ = 0;
  std::size_t pushed_bytes_ = 0;  ///< payload bytes ever pushed (mod 2^64)
  std::size_t big_count_ = 0;     ///< held messages whose payload is in big_
  seq sent_ = 0;
  seq committed_ = 0;
  seq written_ = 0;
  seq acked_ = 0;
  replay_limits limits_;
  bool needs_commit_;
  std::vector<std::string> big_;
  seq evicted_through_ = 0;
  std::vector<message> evicted_;
};

}  // namespace closewise::resume

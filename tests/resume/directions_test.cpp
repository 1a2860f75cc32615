// The two halves of a direction (docs/resume.md §4, §5): the sender's replay
// buffer, its bounds and its positions; the receiver's count and its ack
// coalescing with an injected clock.
#include "closewise/resume/outgoing.hpp"

#include <gtest/gtest.h>

#include <algorithm>
#include <string>
#include <thread>
#include <vector>

#include "closewise/error.hpp"
#include "closewise/resume/incoming.hpp"

namespace closewise::resume {
namespace {

using namespace std::chrono_literals;
using proto::message_kind;

const time_point t0 = time_point{} + std::chrono::hours(1);

std::vector<seq> numbers(const std::vector<message>& v) {
  std::vector<seq> out;
  for (const auto& m : v) out.push_back(m.number);
  return out;
}

/// Writes every writable message; returns their seqs.
std::vector<seq> write_all(outgoing& o) {
  std::vector<seq> out;
  while (const auto m = o.next_to_write()) {
    out.push_back(m->number);
    o.mark_written();
  }
  return out;
}

}  // namespace

// ---- outgoing ---------------------------------------------------------------------

TEST(outgoing, assigns_seqs_from_one_and_keeps_copies) {
  outgoing o;
  EXPECT_EQ(o.oldest(), 1u);
  ASSERT_FALSE(o.push(message_kind::text, "a", t0));
  ASSERT_FALSE(o.push(message_kind::binary, "bb", t0 + 1ms));
  EXPECT_EQ(o.sent(), 2u);
  EXPECT_EQ(o.committed(), 2u) << "no store: committed at once";
  EXPECT_EQ(o.size(), 2u);
  EXPECT_EQ(o.bytes(), 3u);
  const auto m = o.find(2);
  ASSERT_TRUE(m);
  EXPECT_EQ(m->to_message(), (message{2, message_kind::binary, "bb", t0 + 1ms}));
  EXPECT_FALSE(o.find(0));
  EXPECT_FALSE(o.find(3));
  EXPECT_EQ(write_all(o), (std::vector<seq>{1, 2}));
  EXPECT_FALSE(o.next_to_write());
}

TEST(outgoing, push_copy_reuses_acked_payloads_and_keeps_none_when_idle) {
  outgoing o;
  const std::string a(300, 'a'), b(300, 'b'), c(140, 'c');
  ASSERT_FALSE(o.push_copy(message_kind::text, a, t0));
  ASSERT_FALSE(o.push_copy(message_kind::text, b, t0));
  const char* a_bytes = o.find(1)->payload.data();
  EXPECT_EQ(write_all(o), (std::vector<seq>{1, 2}));
  EXPECT_EQ(o.spares(), 0u);
  ASSERT_FALSE(o.on_ack(1));
  EXPECT_EQ(o.spares(), 1u) << "message 1's string is kept while 2 is unacked";
  ASSERT_FALSE(o.push_copy(message_kind::binary, c, t0 + 1ms));
  EXPECT_EQ(o.spares(), 0u);
  const auto m = o.find(3);
  ASSERT_TRUE(m);
  EXPECT_EQ(m->to_message(), (message{3, message_kind::binary, c, t0 + 1ms}));
  EXPECT_EQ(m->payload.data(), a_bytes) << "no allocation: message 1's buffer holds message 3";
  EXPECT_EQ(o.bytes(), 440u);
  EXPECT_EQ(write_all(o), (std::vector<seq>{3}));
  ASSERT_FALSE(o.on_ack(2));
  EXPECT_EQ(o.spares(), 1u);
  ASSERT_FALSE(o.on_ack(3));
  EXPECT_EQ(o.spares(), 0u) << "nothing unacked: an idle session keeps no spare memory";
}

TEST(outgoing, a_session_that_trickles_reuses_its_acked_string_through_the_threads_pool) {
  // Each message acked before the next: the buffer empties every time, so the
  // session itself keeps no spare, and the thread's pool carries the string.
  outgoing o;
  const std::string a(1000, 'a'), b(900, 'b');
  ASSERT_FALSE(o.push_copy(message_kind::binary, a, t0));
  const char* bytes = o.find(1)->payload.data();
  write_all(o);
  const std::size_t pooled = outgoing::thread_spares();
  ASSERT_FALSE(o.on_ack(1));
  EXPECT_EQ(o.spares(), 0u) << "nothing unacked: the session keeps no spare";
  ASSERT_EQ(outgoing::thread_spares(), std::min(pooled + 1, outgoing::thread_spare_count));
  ASSERT_FALSE(o.push_copy(message_kind::binary, b, t0 + 1ms));
  EXPECT_EQ(o.find(2)->payload, b);
  EXPECT_EQ(o.find(2)->payload.data(), bytes)
      << "message 1's buffer, through the pool, holds message 2";
  EXPECT_EQ(outgoing::thread_spares(), std::min(pooled + 1, outgoing::thread_spare_count) - 1);

  // Another thread has a pool of its own.
  std::size_t elsewhere = 1;
  std::thread([&] { elsewhere = outgoing::thread_spares(); }).join();
  EXPECT_EQ(elsewhere, 0u);
}

TEST(outgoing, the_threads_pool_is_bounded_by_count_and_capacity) {
  std::thread([] {
    // 100 sessions go idle at once, each with one 100 KiB string: 4 MiB of
    // pool capacity holds 40 of them.
    const std::string big(std::size_t{100} << 10, 'x');
    std::vector<outgoing> sessions(100);
    for (auto& o : sessions) {
      ASSERT_FALSE(o.push_copy(message_kind::binary, big, t0));
      write_all(o);
    }
    for (auto& o : sessions) ASSERT_FALSE(o.on_ack(1));
    EXPECT_EQ(outgoing::thread_spares(), outgoing::thread_spare_bytes / big.size());
    // Small strings: at most thread_spare_count.
    std::thread([] {
      std::vector<outgoing> small(100);
      for (auto& o : small) {
        ASSERT_FALSE(o.push_copy(message_kind::text, std::string(200, 's'), t0));
        write_all(o);
      }
      for (auto& o : small) ASSERT_FALSE(o.on_ack(1));
      EXPECT_EQ(outgoing::thread_spares(), outgoing::thread_spare_count);
    }).join();
  }).join();
}

TEST(outgoing, spares_are_bounded_by_count_and_by_the_buffers_own_bytes) {
  // Spares plus unacked payload stay within max_bytes: a 100 KiB string is
  // kept while 100 KiB more are unacked (200 of 250 KiB), a second is not.
  replay_limits lim;
  lim.max_bytes = std::size_t{250} << 10;
  outgoing o(lim);
  const std::string big(std::size_t{100} << 10, 'x');
  ASSERT_FALSE(o.push_copy(message_kind::binary, big, t0));
  ASSERT_FALSE(o.push_copy(message_kind::binary, big, t0));
  write_all(o);
  ASSERT_FALSE(o.on_ack(1));
  EXPECT_EQ(o.spares(), 1u) << "100 KiB spare + 100 KiB unacked: within 250 KiB";
  // A string whose capacity is over the bound is never kept by the session.
  std::string wide;
  wide.reserve(std::size_t{200} << 10);
  wide = "small payload, wide string";
  ASSERT_FALSE(o.push(message_kind::text, std::move(wide), t0));
  write_all(o);
  ASSERT_FALSE(o.on_ack(3));
  EXPECT_EQ(o.spares(), 0u) << "nothing unacked: all went to the thread's pool";
  std::thread([&] {  // a thread of its own: its pool starts empty
    // Strings past inline_bytes: no bound but the bytes (each stays in its place).
    outgoing many(lim);
    for (int i = 0; i < 100; ++i)
      ASSERT_FALSE(many.push_copy(message_kind::text, std::string(200, 'y'), t0));
    ASSERT_FALSE(many.push(message_kind::binary, std::string(big), t0));
    write_all(many);
    ASSERT_FALSE(many.on_ack(many.sent() - 1));
    EXPECT_EQ(many.spares(), 100u);
    // Short payloads (held in their slots, no string) are never spares.
    outgoing shorts;
    for (int i = 0; i < 3; ++i) ASSERT_FALSE(shorts.push(message_kind::text, "sso", t0));
    ASSERT_FALSE(
        shorts.push_copy(message_kind::text, std::string(outgoing::inline_bytes, 'i'), t0));
    write_all(shorts);
    ASSERT_FALSE(shorts.on_ack(3));
    EXPECT_EQ(shorts.spares(), 0u);
    EXPECT_EQ(shorts.find(4)->payload, std::string(outgoing::inline_bytes, 'i'));
  })
      .join();
}

TEST(outgoing, push_copy_streams_large_payloads_byte_exactly) {
  // Large payloads are copied with non-temporal stores into a reused string:
  // an unaligned source, a length that is not a multiple of 64, and a spare
  // both larger and smaller than the payload.
  outgoing o;
  std::string src(std::size_t{70} << 10, '\0');
  for (std::size_t i = 0; i < src.size(); ++i) src[i] = static_cast<char>(i * 131 + (i >> 9));
  ASSERT_FALSE(o.push_copy(message_kind::binary, src, t0));
  ASSERT_FALSE(o.push_copy(message_kind::binary, std::string(200, 'k'), t0));  // keeps it non-empty
  write_all(o);
  ASSERT_FALSE(o.on_ack(1));
  ASSERT_EQ(o.spares(), 1u);
  const std::string_view smaller = std::string_view(src).substr(3, (std::size_t{64} << 10) + 37);
  ASSERT_FALSE(o.push_copy(message_kind::binary, smaller, t0));
  EXPECT_EQ(o.find(3)->payload, smaller);
  write_all(o);
  ASSERT_FALSE(o.on_ack(2));
  ASSERT_EQ(o.spares(), 1u) << "message 2's short string";
  ASSERT_FALSE(o.push_copy(message_kind::binary, src, t0));
  EXPECT_EQ(o.find(4)->payload, src) << "a spare smaller than the payload grows";
  EXPECT_EQ(o.bytes(), smaller.size() + src.size());
}

TEST(outgoing, a_refused_push_copy_keeps_its_spare_and_changes_nothing) {
  std::thread([] {  // a thread of its own: its pool starts empty, so the spare is one of ours
    replay_limits lim;
    lim.max_bytes = 1000;
    outgoing o(lim);
    ASSERT_FALSE(o.push_copy(message_kind::text, std::string(300, 'a'), t0));
    ASSERT_FALSE(o.push_copy(message_kind::text, std::string(600, 'b'), t0));
    write_all(o);
    ASSERT_FALSE(o.on_ack(1));
    ASSERT_EQ(o.spares(), 1u);
    EXPECT_EQ(o.push_copy(message_kind::text, std::string(500, 'c'), t0),
              error::replay_buffer_full);
    EXPECT_EQ(o.spares(), 1u) << "the refused copy leaves the spare spare";
    EXPECT_EQ(o.sent(), 2u);
    EXPECT_EQ(o.size(), 1u);
    EXPECT_EQ(o.bytes(), 600u);
    EXPECT_FALSE(o.next_to_write());
    ASSERT_FALSE(o.push_copy(message_kind::text, std::string(400, 'd'), t0));
    EXPECT_EQ(o.spares(), 0u);
    EXPECT_EQ(o.find(3)->payload, std::string(400, 'd'));
  })
      .join();
}

TEST(outgoing, a_stream_wraps_and_grows_its_ring_keeping_every_message_exact) {
  // A model of the replay buffer: seqs and payloads held must be exactly
  // acked + 1 .. sent, whatever the ring's wrap, growth and evictions.
  replay_limits lim;
  lim.max_messages = 40;
  lim.overflow = overflow_policy::evict_oldest;
  outgoing o(lim);
  // Sizes on both sides of inline_bytes: in the slot, and in a string beside it.
  auto payload = [](seq n) {
    return std::string(20 + (n * 37) % 211, static_cast<char>('a' + n % 26));
  };
  std::vector<seq> evicted;
  // Pushed per round: 3, then 13 (grows past 4 and 8 slots), then 45 (over
  // max_messages: evicts), then 5 again; the ring wraps many times at each size.
  for (const std::size_t window : {3u, 13u, 45u, 5u}) {
    for (int round = 0; round < 50; ++round) {
      for (std::size_t k = 0; k < window; ++k) {
        const seq n = o.sent() + 1;
        if (n % 3 == 0) {
          ASSERT_FALSE(o.push(message_kind::binary, payload(n), t0 + std::chrono::milliseconds(n)));
        } else {
          ASSERT_FALSE(
              o.push_copy(message_kind::text, payload(n), t0 + std::chrono::milliseconds(n)));
        }
        write_all(o);
      }
      for (const auto& m : o.take_evicted()) evicted.push_back(m.number);
      ASSERT_LE(o.size(), lim.max_messages);
      ASSERT_EQ(o.oldest(), o.sent() + 1 - o.size());
      std::size_t bytes = 0;
      for (seq n = o.oldest(); n <= o.sent(); ++n) {
        const auto m = o.find(n);
        ASSERT_TRUE(m) << n;
        ASSERT_EQ(m->number, n);
        ASSERT_EQ(m->payload, payload(n)) << n;
        ASSERT_EQ(m->kind, n % 3 == 0 ? message_kind::binary : message_kind::text);
        bytes += m->payload.size();
      }
      ASSERT_EQ(o.bytes(), bytes);
      if (o.size() > 0) {
        ASSERT_EQ(*o.age_deadline(), t0 + std::chrono::milliseconds(o.oldest()) + lim.max_age);
      }
      ASSERT_LE(o.spares() + o.size(), 128u);
      // Ack all but two (or all, every seventh round: the ring goes idle).
      const seq to = round % 7 == 6 ? o.written() : o.written() - 2;
      ASSERT_FALSE(o.on_ack(std::max(to, o.acked())));
      if (o.size() == 0) {
        EXPECT_EQ(o.spares(), 0u) << "an idle session keeps no spare";
      }
    }
  }
  // Evictions happen only in the window over max_messages, oldest first.
  EXPECT_FALSE(evicted.empty());
  EXPECT_TRUE(std::is_sorted(evicted.begin(), evicted.end()));
  EXPECT_EQ(o.evicted_through(), evicted.back());
  const seq sent = o.sent(), oldest = o.oldest();
  const auto back = o.take_unacked();
  ASSERT_EQ(numbers(back).size(), sent + 1 - oldest);
  for (std::size_t i = 0; i < back.size(); ++i) {
    EXPECT_EQ(back[i].number, oldest + i);
    EXPECT_EQ(back[i].payload, payload(back[i].number));
  }
  EXPECT_EQ(o.size(), 0u);
  EXPECT_EQ(o.spares(), 0u);
}

TEST(outgoing, a_short_payload_lives_in_its_slot_and_a_longer_one_in_a_string) {
  std::thread([] {  // a thread of its own: its pool starts empty
    outgoing o;
    const std::string in_slot(outgoing::inline_bytes, 's');
    const std::string longer(outgoing::inline_bytes + 1, 'l');
    ASSERT_FALSE(o.push_copy(message_kind::text, in_slot, t0));
    ASSERT_FALSE(o.push_copy(message_kind::binary, longer, t0));
    ASSERT_FALSE(o.push(message_kind::text, std::string(in_slot), t0));
    ASSERT_FALSE(o.push(message_kind::binary, std::string(longer), t0));
    ASSERT_FALSE(o.push_copy(message_kind::text, "", t0));
    EXPECT_EQ(o.bytes(), 2 * in_slot.size() + 2 * longer.size());
    EXPECT_EQ(write_all(o), (std::vector<seq>{1, 2, 3, 4, 5}));
    EXPECT_EQ(o.find(1)->payload, in_slot);
    EXPECT_EQ(o.find(2)->payload, longer);
    EXPECT_EQ(o.find(5)->payload, "");
    ASSERT_FALSE(o.on_ack(4));
    EXPECT_EQ(o.spares(), 2u) << "only the two longer payloads leave a string behind";
    EXPECT_EQ(o.bytes(), 0u);
    EXPECT_EQ(o.size(), 1u);
    EXPECT_EQ(outgoing::thread_spares(), 0u);
    // A short message in a place that keeps a spare leaves the spare alone.
    for (int i = 0; i < 6; ++i) ASSERT_FALSE(o.push_copy(message_kind::text, in_slot, t0));
    EXPECT_EQ(o.spares(), 2u);
    write_all(o);
    const auto back = o.take_unacked();
    ASSERT_EQ(back.size(), 7u);
    EXPECT_EQ(back.front().payload, "");
    EXPECT_EQ(back.back().payload, in_slot);
    EXPECT_EQ(o.spares(), 0u);
    EXPECT_EQ(outgoing::thread_spares(), 2u) << "idle: the spares went to the thread's pool";
  })
      .join();
}

TEST(outgoing, a_pushed_string_is_kept_as_it_is_and_a_refused_one_stays_the_callers) {
  outgoing o({.max_messages = 2, .max_bytes = 1000});
  std::string first(300, 'a');
  const char* const at = first.data();
  ASSERT_FALSE(o.push(message_kind::binary, std::move(first), t0));
  EXPECT_EQ(o.find(1)->payload.data(), at) << "the caller's own buffer, not a copy";
  EXPECT_EQ(o.find(1)->payload, std::string(300, 'a'));
  // Over max_bytes, then over max_messages: refused, and the string is intact.
  std::string too_big(701, 'b');
  EXPECT_EQ(o.push(message_kind::binary, std::move(too_big), t0), error::replay_buffer_full);
  EXPECT_EQ(too_big, std::string(701, 'b'));
  ASSERT_FALSE(o.push(message_kind::text, std::string(10, 'c'), t0));
  std::string third(100, 'd');
  EXPECT_EQ(o.push(message_kind::binary, std::move(third), t0), error::replay_buffer_full);
  EXPECT_EQ(third, std::string(100, 'd'));
  EXPECT_EQ(o.size(), 2u);
  EXPECT_EQ(o.bytes(), 310u);
  EXPECT_EQ(write_all(o), (std::vector<seq>{1, 2}));
}

TEST(outgoing, a_steady_stream_reuses_each_slots_string_in_place) {
  // Four in flight, acked two by two: after the first laps, every push lands
  // in a slot whose string already has the room (no new buffer).
  outgoing o;
  std::vector<const char*> first_lap;
  for (seq n = 1; n <= 400; ++n) {
    ASSERT_FALSE(o.push_copy(message_kind::binary, std::string(200, 'p'), t0));
    write_all(o);
    const char* bytes = o.find(n)->payload.data();
    if (n <= 16) {
      first_lap.push_back(bytes);
    } else {
      EXPECT_NE(std::find(first_lap.begin(), first_lap.end(), bytes), first_lap.end()) << n;
    }
    if (n % 2 == 0 && n >= 4) {
      ASSERT_FALSE(o.on_ack(n - 2));
    }
  }
  EXPECT_EQ(o.size(), 2u);
}

TEST(outgoing, acks_trim_and_are_checked) {
  outgoing o;
  for (int i = 0; i < 5; ++i) ASSERT_FALSE(o.push(message_kind::text, "x", t0));
  write_all(o);
  ASSERT_FALSE(o.on_ack(3));
  EXPECT_EQ(o.acked(), 3u);
  EXPECT_EQ(o.oldest(), 4u);
  EXPECT_EQ(o.size(), 2u);
  EXPECT_FALSE(o.on_ack(3)) << "a repeated ack changes nothing";
  EXPECT_EQ(o.on_ack(2), error::bad_resume_ack) << "backwards";
  EXPECT_EQ(o.on_ack(6), error::bad_resume_ack) << "beyond what was written";
  EXPECT_EQ(o.acked(), 3u);
  ASSERT_FALSE(o.push(message_kind::text, "y", t0));  // 6, not written yet
  EXPECT_EQ(o.on_ack(6), error::bad_resume_ack);
  ASSERT_FALSE(o.on_ack(5));
}

TEST(outgoing, refuse_policy_bounds_messages_and_bytes) {
  replay_limits l;
  l.max_messages = 2;
  l.max_bytes = 10;
  outgoing o(l);
  ASSERT_FALSE(o.push(message_kind::text, "12345", t0));
  ASSERT_FALSE(o.push(message_kind::text, "12345", t0));
  EXPECT_EQ(o.push(message_kind::text, "", t0), error::replay_buffer_full) << "count";
  write_all(o);
  ASSERT_FALSE(o.on_ack(1));
  EXPECT_EQ(o.push(message_kind::text, "123456", t0), error::replay_buffer_full) << "bytes";
  ASSERT_FALSE(o.push(message_kind::text, "12345", t0));
  EXPECT_EQ(o.sent(), 3u);
  outgoing big(l);
  EXPECT_EQ(big.push(message_kind::text, std::string(11, 'x'), t0), error::replay_buffer_full)
      << "larger than the whole buffer";
  EXPECT_EQ(std::error_code(error::replay_buffer_full), condition::backpressure);
}

TEST(outgoing, evict_policy_evicts_only_written_messages) {
  replay_limits l;
  l.max_messages = 3;
  l.overflow = overflow_policy::evict_oldest;
  outgoing o(l);
  for (int i = 0; i < 3; ++i) ASSERT_FALSE(o.push(message_kind::text, "x", t0));
  EXPECT_EQ(o.push(message_kind::text, "x", t0), error::replay_buffer_full)
      << "nothing written: evicting would shift the live numbering";
  o.mark_written();  // 1 written
  ASSERT_FALSE(o.push(message_kind::text, "x", t0));
  EXPECT_EQ(numbers(o.take_evicted()), (std::vector<seq>{1}));
  EXPECT_EQ(o.evicted_through(), 1u);
  EXPECT_EQ(o.oldest(), 2u);
  EXPECT_EQ(o.acked(), 0u) << "evicted is not acked";
  EXPECT_TRUE(o.take_evicted().empty());
  EXPECT_EQ(write_all(o), (std::vector<seq>{2, 3, 4}));
  // Several at once, for bytes.
  replay_limits lb;
  lb.max_bytes = 6;
  lb.overflow = overflow_policy::evict_oldest;
  outgoing b(lb);
  for (int i = 0; i < 3; ++i) ASSERT_FALSE(b.push(message_kind::text, "ab", t0));
  write_all(b);
  ASSERT_FALSE(b.push(message_kind::text, "abcd", t0));
  EXPECT_EQ(numbers(b.take_evicted()), (std::vector<seq>{1, 2}));
  EXPECT_EQ(b.bytes(), 6u);
}

TEST(outgoing, rewind_replays_after_the_peers_position) {
  outgoing o;
  for (int i = 0; i < 6; ++i) ASSERT_FALSE(o.push(message_kind::text, "x", t0));
  write_all(o);
  ASSERT_FALSE(o.on_ack(2));
  ASSERT_FALSE(o.rewind(4));
  EXPECT_EQ(o.acked(), 4u) << "the announcement is an ack";
  EXPECT_EQ(o.written(), 4u);
  EXPECT_EQ(write_all(o), (std::vector<seq>{5, 6}));
  // Rewinding to the same point again gives the same replay.
  ASSERT_FALSE(o.rewind(4));
  EXPECT_EQ(write_all(o), (std::vector<seq>{5, 6}));
  ASSERT_FALSE(o.rewind(6));
  EXPECT_FALSE(o.next_to_write());
}

TEST(outgoing, rewind_refusals_change_nothing) {
  replay_limits l;
  l.max_messages = 2;
  l.overflow = overflow_policy::evict_oldest;
  outgoing o(l);
  for (int i = 0; i < 4; ++i) {
    ASSERT_FALSE(o.push(message_kind::text, "x", t0));
    o.mark_written();
  }
  o.take_evicted();  // 1, 2
  ASSERT_FALSE(o.on_ack(0));
  EXPECT_EQ(o.rewind(5), error::resume_invalid) << "more than was sent";
  EXPECT_EQ(o.rewind(1), error::resume_overflowed) << "2 was evicted";
  EXPECT_EQ(o.rewind(0), error::resume_overflowed);
  EXPECT_EQ(o.size(), 2u);
  EXPECT_EQ(o.written(), 4u);
  ASSERT_FALSE(o.rewind(2));
  EXPECT_EQ(write_all(o), (std::vector<seq>{3, 4}));
  outgoing p;
  for (int i = 0; i < 3; ++i) ASSERT_FALSE(p.push(message_kind::text, "x", t0));
  write_all(p);
  ASSERT_FALSE(p.on_ack(2));
  EXPECT_EQ(p.rewind(1), error::resume_invalid) << "less than the peer acked";
}

TEST(outgoing, commits_gate_writing) {
  outgoing o({}, /*needs_commit=*/true);
  ASSERT_FALSE(o.push(message_kind::text, "a", t0));
  ASSERT_FALSE(o.push(message_kind::text, "b", t0));
  EXPECT_EQ(o.committed(), 0u);
  EXPECT_FALSE(o.next_to_write()) << "docs/resume.md §7.2 rule 2";
  o.mark_written();
  EXPECT_EQ(o.written(), 0u);
  o.mark_committed(1);
  EXPECT_EQ(write_all(o), (std::vector<seq>{1}));
  o.mark_committed(9);  // clamped to sent
  EXPECT_EQ(o.committed(), 2u);
  EXPECT_EQ(write_all(o), (std::vector<seq>{2}));
}

TEST(outgoing, restore_from_a_record) {
  std::deque<message> buf;
  for (seq n = 3; n <= 5; ++n) buf.push_back(message{n, message_kind::text, "m", t0});
  auto o = outgoing::restore({}, true, /*acked=*/1, buf, /*sent=*/5);
  EXPECT_EQ(o.sent(), 5u);
  EXPECT_EQ(o.committed(), 5u);
  EXPECT_EQ(o.acked(), 1u);
  EXPECT_EQ(o.oldest(), 3u);
  EXPECT_EQ(o.evicted_through(), 2u) << "2 is missing: it was evicted";
  EXPECT_EQ(o.rewind(1), error::resume_overflowed);
  ASSERT_FALSE(o.rewind(2));
  EXPECT_EQ(write_all(o), (std::vector<seq>{3, 4, 5}));
  // A lazily trimmed record may still hold acked messages: they are dropped.
  auto lazy = outgoing::restore({}, true, /*acked=*/4, buf, 5);
  EXPECT_EQ(lazy.size(), 1u);
  EXPECT_EQ(lazy.oldest(), 5u);
  EXPECT_EQ(lazy.evicted_through(), 0u);
}

TEST(outgoing, hand_back) {
  outgoing o;
  for (int i = 0; i < 4; ++i) ASSERT_FALSE(o.push(message_kind::text, std::to_string(i), t0));
  write_all(o);
  ASSERT_FALSE(o.on_ack(1));
  outgoing copy = o;
  EXPECT_EQ(numbers(o.take_unacked()), (std::vector<seq>{2, 3, 4}));
  EXPECT_EQ(o.size(), 0u);
  EXPECT_EQ(o.bytes(), 0u);
  EXPECT_EQ(numbers(copy.take_unacked_above(3)), (std::vector<seq>{4}));
}

TEST(outgoing, age_deadline_follows_the_oldest_unacked_message) {
  replay_limits l;
  l.max_age = 1000ms;
  outgoing o(l);
  EXPECT_EQ(o.age_deadline(), std::nullopt);
  ASSERT_FALSE(o.push(message_kind::text, "a", t0));
  ASSERT_FALSE(o.push(message_kind::text, "b", t0 + 400ms));
  EXPECT_EQ(o.age_deadline(), t0 + 1000ms);
  EXPECT_FALSE(o.too_old(t0 + 999ms));
  EXPECT_TRUE(o.too_old(t0 + 1000ms));
  write_all(o);
  ASSERT_FALSE(o.on_ack(1));
  EXPECT_EQ(o.age_deadline(), t0 + 1400ms);
  ASSERT_FALSE(o.on_ack(2));
  EXPECT_FALSE(o.too_old(t0 + 24h));
}

TEST(outgoing, a_max_age_of_zero_or_less_turns_the_age_bound_off) {
  // Not "every message is already too old": that would abort every
  // connection with an unacked message and expire every detached session.
  for (const auto age : {0ms, -5ms}) {
    replay_limits l;
    l.max_age = age;
    outgoing o(l);
    ASSERT_FALSE(o.push(message_kind::text, "a", t0));
    EXPECT_EQ(o.age_deadline(), std::nullopt);
    EXPECT_FALSE(o.too_old(t0 + 24h));
  }
}

TEST(outgoing, stops_at_max_seq) {
  std::deque<message> none;
  auto o = outgoing::restore({}, false, max_seq, none, max_seq);
  EXPECT_EQ(o.push(message_kind::text, "x", t0), error::invalid_argument);
  EXPECT_EQ(o.sent(), max_seq);
}

// ---- incoming ---------------------------------------------------------------------

TEST(incoming, counts_and_acks_by_count) {
  ack_policy p;
  p.every_messages = 3;
  incoming in(p);
  seq n = 0;
  ASSERT_FALSE(in.on_message(1, t0, n));
  EXPECT_EQ(n, 1u);
  ASSERT_FALSE(in.on_message(1, t0, n));
  EXPECT_FALSE(in.ack_due(t0));
  ASSERT_FALSE(in.on_message(1, t0, n));
  EXPECT_EQ(n, 3u);
  EXPECT_TRUE(in.ack_due(t0));
  EXPECT_EQ(in.take_ack(), 3u);
  EXPECT_FALSE(in.ack_pending());
  EXPECT_FALSE(in.ack_due(t0 + 24h));
}

TEST(incoming, acks_by_bytes) {
  ack_policy p;
  p.every_bytes = 100;
  incoming in(p);
  seq n;
  ASSERT_FALSE(in.on_message(99, t0, n));
  EXPECT_FALSE(in.ack_due(t0));
  ASSERT_FALSE(in.on_message(1, t0, n));
  EXPECT_TRUE(in.ack_due(t0));
  EXPECT_EQ(in.take_ack(), 2u);
}

TEST(incoming, acks_by_time_from_the_first_unacked_message) {
  ack_policy p;
  p.delay = 50ms;
  incoming in(p);
  EXPECT_EQ(in.ack_deadline(), std::nullopt);
  seq n;
  ASSERT_FALSE(in.on_message(1, t0, n));
  ASSERT_FALSE(in.on_message(1, t0 + 30ms, n));
  EXPECT_EQ(in.ack_deadline(), t0 + 50ms) << "not pushed back by later messages";
  EXPECT_FALSE(in.ack_due(t0 + 49ms));
  EXPECT_TRUE(in.ack_due(t0 + 50ms));
  EXPECT_EQ(in.take_ack(), 2u);
  EXPECT_EQ(in.ack_deadline(), std::nullopt);
  ASSERT_FALSE(in.on_message(1, t0 + 60ms, n));
  EXPECT_EQ(in.ack_deadline(), t0 + 110ms);
}

TEST(incoming, acks_never_pass_what_is_committed) {
  incoming in({}, 0, /*needs_commit=*/true);
  seq n;
  for (int i = 0; i < 100; ++i) ASSERT_FALSE(in.on_message(1, t0, n));
  EXPECT_EQ(in.received(), 100u);
  EXPECT_FALSE(in.ack_pending()) << "docs/resume.md §7.2 rule 1";
  EXPECT_FALSE(in.ack_due(t0 + 24h));
  EXPECT_EQ(in.ack_deadline(), std::nullopt);
  in.mark_committed(70, t0 + 5ms);
  EXPECT_TRUE(in.ack_due(t0 + 5ms)) << "70 >= every_messages";
  EXPECT_EQ(in.take_ack(), 70u);
  in.mark_committed(75, t0 + 6ms);
  EXPECT_EQ(in.ack_deadline(), t0 + 56ms) << "the delay counts from the commit";
  in.mark_committed(500, t0 + 7ms);
  EXPECT_EQ(in.committed(), 100u) << "clamped to received";
}

TEST(incoming, the_resume_announcement_is_an_ack) {
  incoming in({}, 5);
  seq n;
  ASSERT_FALSE(in.on_message(1, t0, n));
  EXPECT_EQ(n, 6u);
  EXPECT_TRUE(in.ack_pending());
  in.on_resumed();
  EXPECT_EQ(in.acked(), 6u);
  EXPECT_FALSE(in.ack_pending());
}

TEST(incoming, a_peer_past_max_seq_is_refused) {
  incoming in({}, max_seq);
  seq n = 0;
  EXPECT_EQ(in.on_message(1, t0, n), error::bad_resume_ack);
  EXPECT_EQ(in.received(), max_seq);
}

}  // namespace closewise::resume

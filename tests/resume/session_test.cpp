// One session's commit batches (docs/resume.md §7.2) and positions.
#include "closewise/resume/session.hpp"

#include <gtest/gtest.h>

#include "closewise/error.hpp"

namespace closewise::resume {
namespace {

using proto::message_kind;
const time_point t0 = time_point{} + std::chrono::hours(1);

}  // namespace

TEST(session_commits, batches_are_continuous_and_may_be_pipelined) {
  session s(session_id::generate(), {}, /*needs_commit=*/true);
  EXPECT_FALSE(s.commit_needed());
  ASSERT_FALSE(s.out().push(message_kind::text, "a", t0));
  seq n;
  ASSERT_FALSE(s.in().on_message(3, t0, n));
  ASSERT_TRUE(s.commit_needed());
  const commit_batch b1 = s.take_commit();
  EXPECT_EQ(b1.id, s.id());
  EXPECT_EQ(b1.epoch, 1u);
  EXPECT_EQ(b1.first, 1u);
  EXPECT_EQ(b1.last(), 1u);
  EXPECT_EQ(b1.received, 1u);
  ASSERT_EQ(b1.messages.size(), 1u);
  EXPECT_EQ(b1.messages[0].payload, "a");
  EXPECT_FALSE(s.commit_needed());
  // A second batch while the first is in flight starts where it ended.
  ASSERT_FALSE(s.out().push(message_kind::binary, "bb", t0));
  ASSERT_FALSE(s.out().push(message_kind::text, "c", t0));
  const commit_batch b2 = s.take_commit();
  EXPECT_EQ(b2.first, 2u);
  EXPECT_EQ(b2.last(), 3u);
  EXPECT_EQ(b2.messages[0].kind, message_kind::binary);
  EXPECT_FALSE(s.out().next_to_write());
  s.committed(b1, t0);
  EXPECT_EQ(s.out().committed(), 1u);
  EXPECT_EQ(s.in().committed(), 1u);
  EXPECT_TRUE(s.out().next_to_write());
  s.committed(b2, t0);
  EXPECT_EQ(s.out().committed(), 3u);
  // An empty batch still carries acks.
  while (s.out().next_to_write()) s.out().mark_written();
  ASSERT_FALSE(s.out().on_ack(2));
  ASSERT_TRUE(s.commit_needed());
  const commit_batch b3 = s.take_commit();
  EXPECT_TRUE(b3.messages.empty());
  EXPECT_EQ(b3.acked, 2u);
  EXPECT_EQ(b3.last(), 3u);
}

TEST(session_commits, a_session_without_commits_never_builds_a_broken_batch) {
  // Found by the fuzzer: acks and evictions had removed messages no batch covered.
  session_settings st;
  st.replay.max_messages = 1;
  st.replay.overflow = overflow_policy::evict_oldest;
  session s(session_id::generate(), st, /*needs_commit=*/false);
  for (int i = 0; i < 3; ++i) {
    ASSERT_FALSE(s.out().push(message_kind::text, "x", t0));
    s.out().mark_written();
  }
  const commit_batch b = s.take_commit();
  EXPECT_EQ(b.first, 3u);
  EXPECT_EQ(b.messages.size(), 1u);
  EXPECT_EQ(b.evicted_through, 2u);
}

TEST(session_positions, the_offer_announces_what_is_committed) {
  session s(session_id::generate(), {}, /*needs_commit=*/true);
  seq n;
  for (int i = 0; i < 3; ++i) ASSERT_FALSE(s.in().on_message(1, t0, n));
  ASSERT_FALSE(s.out().push(message_kind::text, "x", t0));
  EXPECT_EQ(s.position(), (resume_point{s.id(), 0, 1, 1})) << "nothing committed yet";
  s.committed(s.take_commit(), t0);
  EXPECT_EQ(s.position(), (resume_point{s.id(), 3, 1, 1}));
  EXPECT_EQ(to_string(s.state()), "attached");
  s.detach();
  EXPECT_EQ(s.state(), session_state::detached);
  s.attach();
  EXPECT_EQ(s.state(), session_state::attached);
  auto back = s.end();
  EXPECT_EQ(back.size(), 1u);
  EXPECT_EQ(s.state(), session_state::ended);
}

TEST(session_positions, a_peer_above_what_was_committed_is_invalid) {
  session s(session_id::generate(), {}, /*needs_commit=*/true);
  ASSERT_FALSE(s.out().push(message_kind::text, "x", t0));
  // The message was never committed, so never written: nobody can have it.
  auto r = s.resume(resume_point{s.id(), 1, 0, 1});
  EXPECT_EQ(r.status, resume_status::invalid);
  EXPECT_EQ(r.handed_back.size(), 1u);
  EXPECT_EQ(s.state(), session_state::ended);
}

}  // namespace closewise::resume

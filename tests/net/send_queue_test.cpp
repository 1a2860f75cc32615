#include "closewise/net/send_queue.hpp"

#include <gtest/gtest.h>

#include "closewise/error.hpp"

namespace cw = closewise;
using cw::net::overflow_policy;
using cw::net::queued_message;
using cw::net::send_queue;

namespace {
queued_message msg(std::string s) { return {cw::proto::message_kind::text, std::move(s), 0}; }
}  // namespace

TEST(send_queue, keeps_order_and_counts_bytes) {
  send_queue q({3, 100, overflow_policy::reject});
  std::vector<queued_message> back;
  EXPECT_FALSE(q.push(msg("a"), back));
  EXPECT_FALSE(q.push(msg("bb"), back));
  EXPECT_EQ(q.size(), 2u);
  EXPECT_EQ(q.bytes(), 3u);
  EXPECT_EQ(q.pop().data, "a");
  EXPECT_EQ(q.pop().data, "bb");
  EXPECT_TRUE(back.empty());
  EXPECT_EQ(q.bytes(), 0u);
}

TEST(send_queue, reject_hands_the_new_message_back) {
  send_queue q({2, 100, overflow_policy::reject});
  std::vector<queued_message> back;
  q.push(msg("1"), back);
  q.push(msg("2"), back);
  EXPECT_EQ(q.push(msg("3"), back), cw::error::queue_full);
  ASSERT_EQ(back.size(), 1u);
  EXPECT_EQ(back[0].data, "3");
  EXPECT_EQ(q.size(), 2u);
}

TEST(send_queue, byte_bound_applies_like_the_count_bound) {
  send_queue q({100, 10, overflow_policy::reject});
  std::vector<queued_message> back;
  EXPECT_FALSE(q.push(msg("123456"), back));
  EXPECT_EQ(q.push(msg("12345"), back), cw::error::queue_full);
  EXPECT_FALSE(q.push(msg("1234"), back));
  EXPECT_EQ(q.bytes(), 10u);
}

TEST(send_queue, drop_oldest_evicts_in_order_until_it_fits) {
  send_queue q({3, 6, overflow_policy::drop_oldest});
  std::vector<queued_message> back;
  q.push(msg("aa"), back);
  q.push(msg("bb"), back);
  q.push(msg("cc"), back);
  EXPECT_FALSE(q.push(msg("dddd"), back));
  ASSERT_EQ(back.size(), 2u);
  EXPECT_EQ(back[0].data, "aa");
  EXPECT_EQ(back[1].data, "bb");
  EXPECT_EQ(q.size(), 2u);
  EXPECT_EQ(q.front().data, "cc");
}

TEST(send_queue, drop_newest_hands_back_the_new_message) {
  send_queue q({1, 100, overflow_policy::drop_newest});
  std::vector<queued_message> back;
  q.push(msg("old"), back);
  EXPECT_EQ(q.push(msg("new"), back), cw::error::message_dropped);
  ASSERT_EQ(back.size(), 1u);
  EXPECT_EQ(back[0].data, "new");
  EXPECT_EQ(q.front().data, "old");
}

TEST(send_queue, a_message_larger_than_the_bound_is_refused_under_every_policy) {
  for (auto p :
       {overflow_policy::reject, overflow_policy::drop_oldest, overflow_policy::drop_newest}) {
    send_queue q({10, 4, p});
    std::vector<queued_message> back;
    q.push(msg("ok"), back);
    EXPECT_EQ(q.push(msg("too big"), back), cw::error::queue_full);
    ASSERT_EQ(back.size(), 1u);
    EXPECT_EQ(q.size(), 1u) << "nothing else is evicted for a message that can never fit";
  }
}

TEST(send_queue, ids_increase_and_survive_push_front) {
  send_queue q;
  std::vector<queued_message> back;
  q.push(msg("a"), back);
  q.push(msg("b"), back);
  auto first = q.pop();
  EXPECT_LT(first.id, q.front().id);
  const auto id = first.id;
  q.push_front(std::move(first));
  EXPECT_EQ(q.front().id, id);
  auto all = q.take_all();
  ASSERT_EQ(all.size(), 2u);
  EXPECT_EQ(all[0].data, "a");
  EXPECT_EQ(all[1].data, "b");
  EXPECT_TRUE(q.empty());
  EXPECT_EQ(q.bytes(), 0u);
}

// The Redis session store (docs/resume.md §8.3) against a real redis-server
// started by the test on a free loopback port with no persistence.
#include "closewise/resume/redis_store.hpp"

#include <gtest/gtest.h>

#include <atomic>
#include <future>
#include <optional>
#include <thread>
#include <vector>

#include "closewise/error.hpp"
#include "resume/harness.hpp"
#include "resume/redis_process.hpp"

namespace closewise::resume::test {
namespace {

using session_ptr = session_store::session_ptr;
using proto::message_kind;

/// Completions run on the store's thread; tests wait for them (bounded: a
/// store call that never completes is a failure, not a hang).
constexpr auto completion_bound = std::chrono::seconds(20);

std::pair<std::error_code, session_ptr> wait_open(
    const std::function<void(session_store::open_handler)>& call) {
  auto p = std::make_shared<std::promise<std::pair<std::error_code, session_ptr>>>();
  auto f = p->get_future();
  call([p](std::error_code ec, session_ptr s) { p->set_value({ec, std::move(s)}); });
  if (f.wait_for(completion_bound) != std::future_status::ready) {
    ADD_FAILURE() << "store call did not complete";
    return {error::aborted, nullptr};
  }
  return f.get();
}

std::error_code wait_done(const std::function<void(session_store::done_handler)>& call) {
  auto p = std::make_shared<std::promise<std::error_code>>();
  auto f = p->get_future();
  call([p](std::error_code ec) { p->set_value(ec); });
  if (f.wait_for(completion_bound) != std::future_status::ready) {
    ADD_FAILURE() << "store call did not complete";
    return error::aborted;
  }
  return f.get();
}

std::pair<std::error_code, std::vector<message>> wait_detach(session_store& st, session_ptr s) {
  auto p = std::make_shared<std::promise<std::pair<std::error_code, std::vector<message>>>>();
  auto f = p->get_future();
  st.detach(std::move(s), [p](std::error_code ec, std::vector<message> back) {
    p->set_value({ec, std::move(back)});
  });
  if (f.wait_for(completion_bound) != std::future_status::ready) {
    ADD_FAILURE() << "store call did not complete";
    return {error::aborted, {}};
  }
  return f.get();
}

/// Makes every call of a store complete before it returns, so the in-memory
/// peers of harness.hpp can drive a real Redis store.
class blocking_store final : public session_store {
 public:
  explicit blocking_store(session_store& s) : s_(s) {}
  bool durable() const noexcept override { return s_.durable(); }
  void create(std::string owner, preempt_handler p, open_handler done) override {
    auto [ec, s] = wait_open([&](open_handler h) { s_.create(owner, p, std::move(h)); });
    done(ec, std::move(s));
  }
  void attach(const session_id& id, std::string owner, preempt_handler p,
              open_handler done) override {
    auto [ec, s] = wait_open([&](open_handler h) { s_.attach(id, owner, p, std::move(h)); });
    done(ec, std::move(s));
  }
  void attach_attempt(const session_id& id, seq attempt, std::string owner, preempt_handler p,
                      open_handler done) override {
    auto [ec, s] =
        wait_open([&](open_handler h) { s_.attach_attempt(id, attempt, owner, p, std::move(h)); });
    done(ec, std::move(s));
  }
  void commit(const commit_batch& b, done_handler done) override {
    done(wait_done([&](done_handler h) { s_.commit(b, std::move(h)); }));
  }
  void detach(session_ptr s, detach_handler done) override {
    auto [ec, back] = wait_detach(s_, std::move(s));
    done(ec, std::move(back));
  }
  void end(const session_id& id, std::uint64_t e, done_handler done) override {
    done(wait_done([&](done_handler h) { s_.end(id, e, std::move(h)); }));
  }
  void touch(const session_id& id, std::uint64_t e, done_handler done) override {
    done(wait_done([&](done_handler h) { s_.touch(id, e, std::move(h)); }));
  }

 private:
  session_store& s_;
};

/// One redis-server for the suite; each test uses its own key prefix.
class redis_store_test : public ::testing::Test {
 protected:
  static void SetUpTestSuite() {
    redis_ = new redis_process;
    if (!redis_->start()) {
      start_error_ = redis_->error();
      delete redis_;
      redis_ = nullptr;
    }
  }
  static void TearDownTestSuite() {
    delete redis_;
    redis_ = nullptr;
  }
  void SetUp() override {
    if (!redis_) {
      // GUIDE: a missing real component fails under CI, with one clear line.
      if (in_ci()) FAIL() << start_error_;
      GTEST_SKIP() << start_error_;
    }
    static std::atomic<int> n{0};
    prefix_ = "cwtest:" + std::to_string(::getpid()) + ":" + std::to_string(n++) + ":";
  }

  redis_store_options options(std::chrono::milliseconds ttl = std::chrono::seconds(120)) const {
    redis_store_options o;
    o.port = redis_->port();
    o.prefix = prefix_;
    o.ttl = ttl;
    o.tombstone = std::chrono::seconds(600);
    return o;
  }
  std::string key(const session_id& id, char k) const {
    return prefix_ + "{" + id.to_string() + "}:" + std::string(1, k);
  }
  /// Waits until Redis's own clock passes `key`'s deadline field.
  void wait_past_deadline(const session_id& id) const {
    const auto deadline = redis_->integer({"HGET", key(id, 'm'), "deadline"});
    ASSERT_TRUE(deadline);
    for (int i = 0; i < 1000 && redis_->now_ms() < *deadline; ++i)
      std::this_thread::sleep_for(std::chrono::milliseconds(*deadline - redis_->now_ms() + 1));
    ASSERT_GE(redis_->now_ms(), *deadline);
  }

  static redis_process* redis_;
  static std::string start_error_;
  std::string prefix_;
};

redis_process* redis_store_test::redis_ = nullptr;
std::string redis_store_test::start_error_;

session_ptr create(session_store& s, std::string owner = {}) {
  auto [ec, p] =
      wait_open([&](session_store::open_handler h) { s.create(owner, {}, std::move(h)); });
  EXPECT_FALSE(ec) << ec.message();
  return std::move(p);
}

std::pair<std::error_code, session_ptr> attach(session_store& s, const session_id& id,
                                               std::string owner = {}) {
  return wait_open([&](session_store::open_handler h) { s.attach(id, owner, {}, std::move(h)); });
}

std::error_code commit(session_store& st, session& s) {
  const commit_batch b = s.take_commit();
  const auto ec = wait_done([&](session_store::done_handler h) { st.commit(b, std::move(h)); });
  if (!ec) s.committed(b, clock_type::now());
  return ec;
}

void push(session& s, std::string payload, message_kind k = message_kind::text) {
  ASSERT_FALSE(s.out().push(k, std::move(payload), clock_type::now()));
}

}  // namespace

TEST_F(redis_store_test, create_commit_and_a_second_store_resumes_after_the_first_is_gone) {
  session_id id;
  {
    redis_store a(options());
    EXPECT_TRUE(a.durable());
    auto s = create(a);
    ASSERT_TRUE(s);
    id = s->id();
    EXPECT_EQ(s->epoch(), 1u);
    push(*s, "one");
    push(*s, std::string("\x00\xff\x01", 3), message_kind::binary);
    push(*s, "three");
    seq n;
    for (int i = 0; i < 4; ++i) ASSERT_FALSE(s->in().on_message(1, clock_type::now(), n));
    ASSERT_FALSE(commit(a, *s));
    EXPECT_EQ(s->out().committed(), 3u);
    EXPECT_EQ(s->in().committed(), 4u);
    // The store object that wrote it goes away without a detach: a kill -9.
  }
  redis_store b(options());
  auto [ec, s] = attach(b, id);
  ASSERT_FALSE(ec) << ec.message();
  ASSERT_TRUE(s);
  EXPECT_EQ(s->epoch(), 2u);
  EXPECT_EQ(s->in().received(), 4u);
  EXPECT_EQ(s->out().sent(), 3u);
  EXPECT_EQ(s->out().oldest(), 1u);
  ASSERT_TRUE(s->out().find(2));
  EXPECT_EQ(s->out().find(2)->payload, std::string("\x00\xff\x01", 3));
  EXPECT_EQ(s->out().find(2)->kind, message_kind::binary);
  EXPECT_EQ(s->out().find(3)->payload, "three");
  EXPECT_EQ(s->out().find(3)->kind, message_kind::text);
  // Resume: the client got one message and sent four.
  auto r = s->resume(resume_point{id, 1, 4, 5});
  EXPECT_EQ(r.status, resume_status::resumed);
  EXPECT_EQ(r.replay_out, 2u);
}

TEST_F(redis_store_test, acks_and_evictions_trim_the_list) {
  redis_store st(options());
  auto s = create(st);
  for (int i = 1; i <= 5; ++i) push(*s, "m" + std::to_string(i));
  ASSERT_FALSE(commit(st, *s));
  EXPECT_EQ(redis_->integer({"LLEN", key(s->id(), 'q')}), 5);
  while (s->out().next_to_write()) s->out().mark_written();
  ASSERT_FALSE(s->out().on_ack(3));
  ASSERT_FALSE(commit(st, *s));
  EXPECT_EQ(redis_->integer({"LLEN", key(s->id(), 'q')}), 2);
  EXPECT_EQ(redis_->integer({"HGET", key(s->id(), 'm'), "oldest"}), 4);
  EXPECT_EQ(redis_->integer({"HGET", key(s->id(), 'm'), "acked"}), 3);
  // Keys carry expiries: the list the TTL, the hash TTL + tombstone.
  const auto q_ttl = redis_->integer({"PTTL", key(s->id(), 'q')});
  const auto m_ttl = redis_->integer({"PTTL", key(s->id(), 'm')});
  ASSERT_TRUE(q_ttl && m_ttl);
  EXPECT_GT(*q_ttl, 100'000);
  EXPECT_LE(*q_ttl, 120'000);
  EXPECT_GT(*m_ttl, 700'000);
  const session_id id = s->id();
  auto [ec, back] = attach(st, id);
  ASSERT_FALSE(ec);
  EXPECT_EQ(back->out().oldest(), 4u);
  EXPECT_EQ(back->out().acked(), 3u);
  EXPECT_EQ(back->out().evicted_through(), 0u);
}

TEST_F(redis_store_test, a_stale_epoch_is_fenced_off) {
  redis_store a(options()), b(options());
  auto old_holder = create(a);
  const session_id id = old_holder->id();
  push(*old_holder, "before");
  ASSERT_FALSE(commit(a, *old_holder));
  auto [ec, new_holder] = attach(b, id);  // another process resumes it
  ASSERT_FALSE(ec);
  EXPECT_EQ(new_holder->epoch(), 2u);
  push(*old_holder, "late");
  EXPECT_EQ(commit(a, *old_holder), error::resume_superseded);
  EXPECT_EQ(wait_done([&](auto h) { a.touch(id, 1, std::move(h)); }), error::resume_superseded);
  EXPECT_EQ(wait_done([&](auto h) { a.end(id, 1, std::move(h)); }), error::resume_superseded);
  EXPECT_EQ(redis_->integer({"HGET", key(id, 'm'), "sent"}), 1) << "the late message is not stored";
  EXPECT_FALSE(wait_done([&](auto h) { b.touch(id, 2, std::move(h)); }));
}

// docs/resume.md §6.1: the late handshake of an abandoned attempt, reaching
// any server process, cannot take the session: the script refuses it before
// the epoch moves, so the live holder's commits go on.
TEST_F(redis_store_test, a_stale_attempt_is_refused_before_the_epoch_moves) {
  redis_store a(options()), b(options());
  auto first = create(a);
  const session_id id = first->id();
  auto attach_at = [&](session_store& st, seq attempt) {
    return wait_open([&](session_store::open_handler h) {
      st.attach_attempt(id, attempt, {}, {}, std::move(h));
    });
  };
  auto [ec, live] = attach_at(b, 5);  // the client's fifth offer
  ASSERT_FALSE(ec) << ec.message();
  EXPECT_EQ(live->epoch(), 2u);
  EXPECT_EQ(redis_->integer({"HGET", key(id, 'm'), "attempt"}), 5);
  for (const seq stale : {seq{4}, seq{5}, seq{1}}) {
    auto [late_ec, late] = attach_at(a, stale);
    EXPECT_EQ(late_ec, error::resume_stale_attempt) << "attempt " << stale;
    EXPECT_EQ(late, nullptr);
  }
  EXPECT_EQ(redis_->integer({"HGET", key(id, 'm'), "epoch"}), 2) << "no stale attach moved it";
  push(*live, "still mine");
  EXPECT_FALSE(commit(b, *live)) << "the live holder is not fenced";
  // The next attempt, or an offer without one, takes it as before.
  auto [next_ec, next] = attach_at(a, 6);
  ASSERT_FALSE(next_ec) << next_ec.message();
  EXPECT_EQ(next->epoch(), 3u);
  EXPECT_EQ(next->out().sent(), 1u);
  auto [plain_ec, plain] = attach(a, id);
  ASSERT_FALSE(plain_ec) << plain_ec.message();
  EXPECT_EQ(plain->epoch(), 4u);
  EXPECT_EQ(redis_->integer({"HGET", key(id, 'm'), "attempt"}), 6);
}

TEST_F(redis_store_test, commits_that_do_not_follow_the_stored_state_are_invalid) {
  redis_store st(options());
  auto s = create(st);
  push(*s, "a");
  commit_batch b = s->take_commit();
  b.first = 5;  // not sent + 1
  EXPECT_EQ(wait_done([&](auto h) { st.commit(b, std::move(h)); }), error::resume_invalid);
  b.first = 1;
  b.received = 3;
  ASSERT_FALSE(wait_done([&](auto h) { st.commit(b, std::move(h)); }));
  commit_batch back;
  back.id = s->id();
  back.epoch = 1;
  back.received = 2;  // backwards
  back.first = 2;
  EXPECT_EQ(wait_done([&](auto h) { st.commit(back, std::move(h)); }), error::resume_invalid);
  back.received = 3;
  back.acked = 2;  // acks more than was sent
  EXPECT_EQ(wait_done([&](auto h) { st.commit(back, std::move(h)); }), error::resume_invalid);
}

TEST_F(redis_store_test, owner_end_and_unknown) {
  redis_store st(options());
  auto s = create(st, "alice");
  const session_id id = s->id();
  EXPECT_EQ(attach(st, id, "mallory").first, error::resume_unknown);
  EXPECT_EQ(attach(st, session_id::generate(), "alice").first, error::resume_unknown);
  ASSERT_FALSE(wait_done([&](auto h) { st.end(id, 1, std::move(h)); }));
  EXPECT_EQ(attach(st, id, "alice").first, error::resume_ended);
  EXPECT_EQ(redis_->integer({"EXISTS", key(id, 'q')}), 0) << "the buffer is freed at once";
  EXPECT_EQ(commit(st, *s), error::resume_ended);
  EXPECT_FALSE(wait_done([&](auto h) { st.end(id, 1, std::move(h)); }))
      << "ending twice is harmless";
}

TEST_F(redis_store_test, a_session_expires_after_its_ttl_by_redis_time) {
  redis_store st(options(std::chrono::milliseconds(200)));
  auto s = create(st);
  push(*s, "x");
  const session_id id = s->id();
  auto [dec, back] = wait_detach(st, std::move(s));
  ASSERT_FALSE(dec) << "detach commits what was pending";
  EXPECT_TRUE(back.empty());
  EXPECT_EQ(redis_->integer({"HGET", key(id, 'm'), "sent"}), 1);
  wait_past_deadline(id);
  EXPECT_EQ(attach(st, id).first, error::resume_expired);
  EXPECT_EQ(attach(st, id).first, error::resume_expired) << "the tombstone keeps saying so";
  EXPECT_EQ(redis_->integer({"EXISTS", key(id, 'q')}), 0);
}

TEST_F(redis_store_test, a_detach_that_cannot_keep_the_session_hands_its_messages_back) {
  redis_store a(options()), b(options());
  auto old_holder = create(a);
  const session_id id = old_holder->id();
  push(*old_holder, "committed");
  ASSERT_FALSE(commit(a, *old_holder));
  ASSERT_FALSE(attach(b, id).first);  // another process took it over
  push(*old_holder, "never committed");
  auto [ec, back] = wait_detach(a, std::move(old_holder));
  EXPECT_EQ(ec, error::resume_superseded);
  ASSERT_EQ(back.size(), 1u) << "only what the failed commit held: the rest is the new holder's";
  EXPECT_EQ(back[0].payload, "never committed");
}

// The same with nothing left to commit: the detach's touch is what finds the
// newer holder. Every message is the new holder's to replay; none goes back
// (a hand-back would invite the application to send them a second time).
TEST_F(redis_store_test, a_superseded_holder_with_everything_committed_hands_nothing_back) {
  redis_store a(options()), b(options());
  auto old_holder = create(a);
  const session_id id = old_holder->id();
  push(*old_holder, "committed");
  ASSERT_FALSE(commit(a, *old_holder));
  auto [ec_b, new_holder] = attach(b, id);  // another process took it over
  ASSERT_FALSE(ec_b);
  ASSERT_FALSE(old_holder->commit_needed());
  auto [ec, back] = wait_detach(a, std::move(old_holder));
  EXPECT_EQ(ec, error::resume_superseded);
  EXPECT_TRUE(back.empty()) << back.size() << " handed back";
  ASSERT_EQ(new_holder->out().size(), 1u);
  EXPECT_EQ(new_holder->out().find(1)->payload, "committed") << "the new holder replays it";
}

TEST_F(redis_store_test, the_store_touches_held_sessions_so_an_idle_connection_keeps_its_session) {
  // An attached session with no traffic (an idle connection) commits nothing;
  // without touches its keys would expire under it after one ttl.
  redis_store st(options(std::chrono::milliseconds(300)));
  auto s = create(st);
  const session_id id = s->id();
  const auto d0 = redis_->integer({"HGET", key(id, 'm'), "deadline"});
  ASSERT_TRUE(d0);
  // Event: the store's own touch moved the deadline (every ttl / 3 = 100 ms).
  std::optional<long long> d1;
  for (int i = 0; i < 2000; ++i) {
    d1 = redis_->integer({"HGET", key(id, 'm'), "deadline"});
    if (d1 && *d1 > *d0) break;
    std::this_thread::sleep_for(std::chrono::milliseconds(1));
  }
  ASSERT_TRUE(d1);
  EXPECT_GT(*d1, *d0) << "no touch within 2 s";
  // Past the first deadline by Redis's clock, the session is still there.
  while (redis_->now_ms() <= *d0 + 50) std::this_thread::sleep_for(std::chrono::milliseconds(5));
  EXPECT_EQ(redis_->integer({"EXISTS", key(id, 'm')}), 1);
  // Detached, it is no longer touched: it expires a ttl after the detach.
  auto [dec, back] = wait_detach(st, std::move(s));
  ASSERT_FALSE(dec);
  wait_past_deadline(id);
  EXPECT_EQ(attach(st, id).first, error::resume_expired);
}

TEST_F(redis_store_test, touch_keeps_an_attached_session_alive) {
  redis_store st(options(std::chrono::milliseconds(300)));
  auto s = create(st);
  const session_id id = s->id();
  const auto d0 = redis_->integer({"HGET", key(id, 'm'), "deadline"});
  // Wait until Redis's clock moved, then touch: the deadline moves with it.
  const long long t0 = redis_->now_ms();
  while (redis_->now_ms() < t0 + 5) std::this_thread::sleep_for(std::chrono::milliseconds(1));
  ASSERT_FALSE(wait_done([&](auto h) { st.touch(id, 1, std::move(h)); }));
  const auto d1 = redis_->integer({"HGET", key(id, 'm'), "deadline"});
  ASSERT_TRUE(d0 && d1);
  EXPECT_GT(*d1, *d0);
}

TEST_F(redis_store_test, many_sessions_from_many_threads_pipeline_through_one_connection) {
  redis_store st(options());
  std::atomic<int> ok{0}, bad{0};
  std::vector<std::thread> threads;
  for (int t = 0; t < 4; ++t)
    threads.emplace_back([&] {
      for (int i = 0; i < 50; ++i) {
        auto s = create(st);
        if (!s) {
          ++bad;
          continue;
        }
        push(*s, "p" + std::to_string(i));
        if (commit(st, *s)) ++bad;
        auto [ec, back] = attach(st, s->id());
        if (ec || !back || back->out().sent() != 1)
          ++bad;
        else
          ++ok;
      }
    });
  for (auto& th : threads) th.join();
  EXPECT_EQ(bad.load(), 0);
  EXPECT_EQ(ok.load(), 200);
  EXPECT_TRUE(st.connected());
}

TEST_F(redis_store_test, a_bounded_queue_refuses_at_once) {
  auto o = options();
  o.max_pending = 0;
  redis_store st(o);
  session_ptr s;
  std::error_code ec;
  st.create({}, {}, [&](std::error_code e, session_ptr p) {
    ec = e;
    s = std::move(p);
  });
  EXPECT_EQ(ec, error::resume_store_unavailable) << "completed on the calling thread";
}

TEST_F(redis_store_test, an_unreachable_redis_is_unavailable_and_a_restarted_one_is_used_again) {
  redis_process own;
  ASSERT_TRUE(own.start()) << own.error();
  auto o = options();
  o.port = own.port();
  o.connect_timeout = std::chrono::milliseconds(500);
  o.command_timeout = std::chrono::milliseconds(1000);
  o.reconnect_delay = std::chrono::milliseconds(20);
  o.max_reconnect_delay = std::chrono::milliseconds(100);
  redis_store st(o);
  auto s = create(st);
  ASSERT_TRUE(s);
  own.stop(SIGKILL);  // Redis dies (and with it, having no persistence, every session)
  auto [ec, none] = wait_open([&](auto h) { st.create({}, {}, std::move(h)); });
  EXPECT_EQ(ec, error::resume_store_unavailable);
  ASSERT_TRUE(own.start(o.port)) << own.error();
  // The store reconnects and loads its scripts into the new Redis by itself.
  std::error_code last = error::resume_store_unavailable;
  for (int i = 0; i < 200 && last; ++i) {
    auto [e, p] = wait_open([&](auto h) { st.create({}, {}, std::move(h)); });
    last = e;
    if (last) std::this_thread::sleep_for(std::chrono::milliseconds(20));
  }
  EXPECT_FALSE(last) << last.message();
  EXPECT_EQ(attach(st, s->id()).first, error::resume_unknown)
      << "a Redis without persistence forgot the session: reported, not silent";
}

TEST_F(redis_store_test, end_to_end_the_server_process_dies_and_a_new_one_resumes) {
  // Two in-memory peers (harness.hpp); the server's store is Redis. The
  // server echoes every message, committing per turn (docs/resume.md §7.2).
  world w;
  auto redis_a = std::make_unique<redis_store>(options());
  auto store_a = std::make_unique<blocking_store>(*redis_a);
  w.server = std::make_unique<server_side>(w.clock, *store_a);
  auto echo = [&](server_side& srv) {
    srv.app = [&srv](seq, std::string_view p) { (void)srv.send("e" + std::string(p)); };
  };
  auto end_turn = [&](server_side& srv, session_store& st) {
    if (!srv.held || !srv.held->commit_needed()) return;
    const commit_batch b = srv.held->take_commit();
    std::error_code ec = error::aborted;
    st.commit(b, [&](std::error_code e) { ec = e; });
    ASSERT_FALSE(ec);
    srv.held->committed(b, w.clock.now);
    srv.write_pending();
    srv.maybe_ack();
  };
  echo(*w.server);
  ASSERT_TRUE(w.connect());
  for (int i = 1; i <= 30; ++i) ASSERT_FALSE(w.client->send("m" + std::to_string(i)));
  w.server->conn->receive(w.client->take());
  end_turn(*w.server, *store_a);
  // Half of the echoes reach the client; then the server process is killed.
  const std::string out = w.server->take();
  w.client->conn->receive(out.substr(0, out.size() / 2));
  const std::size_t seen = w.client->delivered.size();
  EXPECT_GT(seen, 0u);
  EXPECT_LT(seen, 30u);
  w.server.reset();
  store_a.reset();
  redis_a.reset();
  w.client->conn->abort(error::connection_reset);
  w.client->closed_with(w.client->closed.back(), true);

  auto redis_b = std::make_unique<redis_store>(options());
  blocking_store store_b(*redis_b);
  w.server = std::make_unique<server_side>(w.clock, store_b);
  echo(*w.server);
  ASSERT_TRUE(w.connect());
  ASSERT_EQ(w.client->outcome->kind, client_outcome_kind::resumed);
  EXPECT_EQ(w.client->outcome->replay_out, 0u) << "the store had received all 30";
  EXPECT_EQ(w.client->outcome->replay_in, 30u - seen);
  ASSERT_FALSE(w.client->send("m31"));
  for (int i = 0; i < 5; ++i) {
    w.server->conn->receive(w.client->take());
    end_turn(*w.server, store_b);
    w.client->conn->receive(w.server->take());
  }
  ASSERT_EQ(w.client->delivered.size(), 31u);
  for (int i = 0; i < 31; ++i) {
    EXPECT_EQ(w.client->delivered[i].first, static_cast<seq>(i + 1));
    EXPECT_EQ(w.client->delivered[i].second, "em" + std::to_string(i + 1));
  }
  EXPECT_TRUE(w.client->undelivered.empty());
}

}  // namespace closewise::resume::test

// The in-memory session store (docs/resume.md §8.2): lifecycle, TTL and
// tombstones with an injected clock, owners, bounds, preemption, and threads.
#include "closewise/resume/memory_store.hpp"

#include <gtest/gtest.h>

#include <atomic>
#include <thread>
#include <vector>

#include "closewise/error.hpp"

namespace closewise::resume {
namespace {

using namespace std::chrono_literals;
using session_ptr = session_store::session_ptr;

struct fixture {
  time_point now = time_point{} + std::chrono::hours(1);
  memory_store_options opts;
  std::unique_ptr<memory_store> store;
  explicit fixture(std::size_t max_sessions = 100, std::size_t max_tombstones = 100) {
    opts.ttl = 1000ms;
    opts.tombstone = 5000ms;
    opts.max_sessions = max_sessions;
    opts.max_tombstones = max_tombstones;
    opts.clock = [this] { return now; };
    store = std::make_unique<memory_store>(opts);
  }
  session_ptr create(std::string owner = {}, session_store::preempt_handler p = {}) {
    session_ptr out;
    std::error_code ec;
    store->create(std::move(owner), std::move(p), [&](std::error_code e, session_ptr s) {
      ec = e;
      out = std::move(s);
    });
    EXPECT_FALSE(ec) << ec.message();
    return out;
  }
  std::pair<std::error_code, session_ptr> attach(const session_id& id, std::string owner = {},
                                                 session_store::preempt_handler p = {}) {
    std::pair<std::error_code, session_ptr> r{error::aborted, nullptr};
    store->attach(id, std::move(owner), std::move(p), [&](std::error_code e, session_ptr s) {
      r = {e, std::move(s)};
    });
    return r;
  }
  std::vector<message> handed_back;
  std::error_code detach(session_ptr s) {
    std::error_code ec = error::aborted;
    store->detach(std::move(s), [&](std::error_code e, std::vector<message> back) {
      ec = e;
      handed_back = std::move(back);
    });
    return ec;
  }
  std::error_code end(const session_id& id, std::uint64_t epoch) {
    std::error_code ec = error::aborted;
    store->end(id, epoch, [&](std::error_code e) { ec = e; });
    return ec;
  }
  std::error_code touch(const session_id& id, std::uint64_t epoch) {
    std::error_code ec = error::aborted;
    store->touch(id, epoch, [&](std::error_code e) { ec = e; });
    return ec;
  }
};

}  // namespace

TEST(memory_store, keeps_the_live_object_across_connections) {
  fixture f;
  auto s = f.create();
  ASSERT_TRUE(s);
  EXPECT_FALSE(f.store->durable());
  EXPECT_EQ(s->epoch(), 1u);
  ASSERT_FALSE(s->out().push(proto::message_kind::text, "kept", f.now));
  const session* addr = s.get();
  const session_id id = s->id();
  ASSERT_FALSE(f.detach(std::move(s)));
  auto [ec, back] = f.attach(id);
  ASSERT_FALSE(ec);
  EXPECT_EQ(back.get(), addr) << "moved, never copied";
  EXPECT_EQ(back->epoch(), 2u);
  EXPECT_EQ(back->state(), session_state::attached);
  EXPECT_EQ(back->out().find(1)->payload, "kept");
  std::error_code cec = error::aborted;
  f.store->commit(back->take_commit(), [&](std::error_code e) { cec = e; });
  EXPECT_FALSE(cec) << "commits complete at once";
}

TEST(memory_store, expires_after_ttl_and_answers_expired_then_unknown) {
  fixture f;
  auto s = f.create();
  const session_id id = s->id();
  ASSERT_FALSE(f.detach(std::move(s)));
  f.now += 999ms;
  EXPECT_EQ(f.store->sweep(), 0u);
  auto [ec1, s1] = f.attach(id);
  ASSERT_FALSE(ec1);
  f.now += 500ms;
  ASSERT_FALSE(f.detach(std::move(s1))) << "the TTL restarts at every detach";
  f.now += 999ms;
  EXPECT_EQ(f.store->sweep(), 0u);
  f.now += 1ms;
  EXPECT_EQ(f.store->sweep(), 1u);
  EXPECT_EQ(f.store->sessions(), 0u);
  EXPECT_EQ(f.attach(id).first, error::resume_expired);
  f.now += 4999ms;
  EXPECT_EQ(f.attach(id).first, error::resume_expired);
  f.now += 1ms;
  EXPECT_EQ(f.attach(id).first, error::resume_unknown) << "the tombstone is gone";
}

TEST(memory_store, sessions_never_resumed_are_released_without_an_explicit_sweep) {
  // A server whose application never calls sweep(): clients that went away for
  // good must not hold their sessions (and replay buffers) forever, nor fill
  // max_sessions so that every later create is refused.
  fixture f(/*max_sessions=*/2);
  ASSERT_FALSE(f.detach(f.create()));
  ASSERT_FALSE(f.detach(f.create()));
  EXPECT_EQ(f.store->sessions(), 2u);
  f.now += 999ms;  // not yet expired: the store is full
  std::error_code full;
  f.store->create({}, {}, [&](std::error_code e, session_ptr) { full = e; });
  EXPECT_EQ(full, error::resume_store_unavailable);
  // Both expired at +1000 ms (ttl); create sweeps on its own at most every
  // ttl / 3 (the last sweep was at +999 ms), so by +1333 ms there is room.
  f.now += 334ms;
  auto c = f.create();
  ASSERT_TRUE(c);
  EXPECT_EQ(f.store->sessions(), 1u);
  EXPECT_EQ(f.store->tombstones(), 2u);
  // detach sweeps too, at most every ttl / 3.
  ASSERT_FALSE(f.detach(std::move(c)));
  f.now += 1000ms;
  ASSERT_FALSE(f.detach(f.create()));
  EXPECT_EQ(f.store->sessions(), 1u) << "the expired one was released by create";
}

TEST(memory_store, attach_checks_the_deadline_without_a_sweep) {
  fixture f;
  auto s = f.create();
  const session_id id = s->id();
  ASSERT_FALSE(f.detach(std::move(s)));
  f.now += 1000ms;
  EXPECT_EQ(f.attach(id).first, error::resume_expired);
  EXPECT_EQ(f.store->sessions(), 0u);
  EXPECT_EQ(f.store->tombstones(), 1u);
}

TEST(memory_store, end_leaves_an_ended_tombstone) {
  fixture f;
  auto s = f.create();
  const session_id id = s->id();
  EXPECT_EQ(f.end(id, 7), error::resume_superseded) << "a stale epoch cannot end it";
  ASSERT_FALSE(f.end(id, s->epoch()));
  EXPECT_FALSE(f.end(id, s->epoch())) << "ending twice is harmless";
  EXPECT_EQ(f.attach(id).first, error::resume_ended);
  ASSERT_FALSE(s->out().push(proto::message_kind::text, "orphan", f.now));
  EXPECT_EQ(f.detach(std::move(s)), error::resume_ended);
  ASSERT_EQ(f.handed_back.size(), 1u) << "a session the store no longer takes hands back";
  EXPECT_EQ(f.handed_back[0].payload, "orphan");
  EXPECT_EQ(f.touch(id, 1), error::resume_ended);
  EXPECT_EQ(f.attach(session_id::generate()).first, error::resume_unknown);
}

TEST(memory_store, another_owner_sees_unknown) {
  fixture f;
  auto s = f.create("alice");
  const session_id id = s->id();
  ASSERT_FALSE(f.detach(std::move(s)));
  EXPECT_EQ(f.attach(id, "mallory").first, error::resume_unknown);
  EXPECT_EQ(f.attach(id, "").first, error::resume_unknown);
  EXPECT_FALSE(f.attach(id, "alice").first);
}

TEST(memory_store, bounds_sessions_and_tombstones) {
  fixture f(2, 1);
  auto a = f.create(), b = f.create();
  std::error_code ec;
  f.store->create({}, {}, [&](std::error_code e, session_ptr) { ec = e; });
  EXPECT_EQ(ec, error::resume_store_unavailable);
  const session_id ida = a->id(), idb = b->id();
  ASSERT_FALSE(f.end(ida, 1));
  ASSERT_FALSE(f.end(idb, 1));
  EXPECT_EQ(f.store->tombstones(), 1u) << "the oldest tombstone went first";
  EXPECT_EQ(f.attach(ida).first, error::resume_unknown);
  EXPECT_EQ(f.attach(idb).first, error::resume_ended);
  EXPECT_TRUE(f.create());
}

TEST(memory_store, touch_reports_a_stale_holder) {
  fixture f;
  auto s = f.create();
  const session_id id = s->id();
  EXPECT_FALSE(f.touch(id, 1));
  EXPECT_EQ(f.touch(id, 2), error::resume_superseded);
}

TEST(memory_store, a_new_attach_preempts_the_holder_and_waits_for_it) {
  fixture f;
  session_ptr held;
  int preempted = 0;
  held = f.create({}, [&] { ++preempted; });
  const session_id id = held->id();
  std::pair<std::error_code, session_ptr> got{error::aborted, nullptr};
  f.store->attach(id, {}, {}, [&](std::error_code e, session_ptr s) { got = {e, std::move(s)}; });
  EXPECT_EQ(preempted, 1);
  EXPECT_EQ(got.first, error::aborted) << "still waiting for the holder";
  EXPECT_EQ(f.touch(id, 1), error::resume_superseded) << "the holder learns it lost";
  // A third attach supersedes the waiting second one.
  std::error_code second = got.first;
  std::pair<std::error_code, session_ptr> third{error::aborted, nullptr};
  f.store->attach(id, {}, {}, [&](std::error_code e, session_ptr s) { third = {e, std::move(s)}; });
  EXPECT_EQ(got.first, error::resume_superseded);
  (void)second;
  ASSERT_FALSE(f.detach(std::move(held)));
  ASSERT_FALSE(third.first);
  ASSERT_TRUE(third.second);
  EXPECT_EQ(third.second->epoch(), 2u);
}

// docs/resume.md §6.1: a late handshake of an attempt its client gave up on
// (attempt 2 after attempt 3 took the session) changes nothing: the holder is
// not preempted, the epoch stays, and a parked session stays parked.
TEST(memory_store, a_stale_attempt_is_refused_without_preempting_the_holder) {
  fixture f;
  int preempted = 0;
  auto first = f.create();
  const session_id id = first->id();
  ASSERT_FALSE(f.detach(std::move(first)));
  std::pair<std::error_code, session_ptr> live{error::aborted, nullptr};
  f.store->attach_attempt(
      id, 3, {}, [&] { ++preempted; },
      [&](std::error_code e, session_ptr s) {
        live = {e, std::move(s)};
      });
  ASSERT_FALSE(live.first);
  ASSERT_TRUE(live.second);
  EXPECT_EQ(live.second->epoch(), 2u);

  for (const seq stale : {seq{2}, seq{3}, seq{1}}) {
    std::pair<std::error_code, session_ptr> late{error::aborted, nullptr};
    f.store->attach_attempt(id, stale, {}, {}, [&](std::error_code e, session_ptr s) {
      late = {e, std::move(s)};
    });
    EXPECT_EQ(late.first, error::resume_stale_attempt) << "attempt " << stale;
    EXPECT_EQ(late.second, nullptr);
  }
  EXPECT_EQ(preempted, 0);
  EXPECT_FALSE(f.touch(id, 2)) << "the holder still holds epoch 2";

  // Parked, a stale attempt still cannot take it; the next attempt can.
  ASSERT_FALSE(f.detach(std::move(live.second)));
  std::error_code stale_ec = error::aborted;
  f.store->attach_attempt(id, 3, {}, {}, [&](std::error_code e, session_ptr) { stale_ec = e; });
  EXPECT_EQ(stale_ec, error::resume_stale_attempt);
  std::pair<std::error_code, session_ptr> next{error::aborted, nullptr};
  f.store->attach_attempt(id, 4, {}, {}, [&](std::error_code e, session_ptr s) {
    next = {e, std::move(s)};
  });
  ASSERT_FALSE(next.first);
  ASSERT_TRUE(next.second);
  EXPECT_EQ(next.second->epoch(), 3u);
  ASSERT_FALSE(f.detach(std::move(next.second)));
  auto [plain, s] = f.attach(id);
  EXPECT_FALSE(plain) << "an offer without an attempt (0) is never refused as stale";
  EXPECT_TRUE(s);
}

TEST(memory_store, ending_a_held_session_fails_the_waiting_attach) {
  fixture f;
  auto held = f.create();
  const session_id id = held->id();
  std::error_code ec = error::aborted;
  f.store->attach(id, {}, {}, [&](std::error_code e, session_ptr) { ec = e; });
  ASSERT_FALSE(f.end(id, held->epoch()));
  EXPECT_EQ(ec, error::resume_ended);
}

TEST(memory_store, destruction_completes_waiting_attaches) {
  fixture f;
  auto held = f.create();
  std::error_code ec = error::aborted;
  f.store->attach(held->id(), {}, {}, [&](std::error_code e, session_ptr) { ec = e; });
  f.store.reset();
  EXPECT_EQ(ec, error::resume_store_unavailable);
}

TEST(memory_store, concurrent_use_from_many_threads) {
  memory_store_options o;
  o.max_sessions = 10'000;
  memory_store store(o);
  std::atomic<int> resumed{0}, failures{0};
  std::vector<std::thread> threads;
  for (int t = 0; t < 4; ++t)
    threads.emplace_back([&] {
      for (int i = 0; i < 200; ++i) {
        session_ptr s;
        store.create({}, {}, [&](std::error_code e, session_ptr p) {
          if (e) ++failures;
          s = std::move(p);
        });
        if (!s) continue;
        const session_id id = s->id();
        store.detach(std::move(s),
                     [&](std::error_code e, std::vector<message>) { failures += e ? 1 : 0; });
        store.attach(id, {}, {}, [&](std::error_code e, session_ptr p) {
          if (e || !p) {
            ++failures;
            return;
          }
          ++resumed;
          store.end(id, p->epoch(), [&](std::error_code e2) { failures += e2 ? 1 : 0; });
        });
        store.sweep();
      }
    });
  for (auto& th : threads) th.join();
  EXPECT_EQ(failures.load(), 0);
  EXPECT_EQ(resumed.load(), 800);
  EXPECT_EQ(store.sessions(), 0u);
}

}  // namespace closewise::resume

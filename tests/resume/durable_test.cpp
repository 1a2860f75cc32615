// The durable ordering rules (docs/resume.md §7) with the server killed at
// random instants. A fake durable store applies commits in order, like Redis
// running one Lua script per batch; a "kill -9" applies a prefix of the
// commits already sent and throws away everything else the server process
// had: its sessions, its pending callbacks and the bytes it had not written.
// Only the store survives. The client must still receive every echo exactly
// once, in order, and nothing may be handed back.
#include "closewise/resume/session.hpp"

#include <gtest/gtest.h>

#include <deque>
#include <map>

#include "resume/harness.hpp"

namespace closewise::resume::test {
namespace {

class fake_durable_store final : public session_store {
 public:
  struct record {
    std::uint64_t epoch = 1;
    seq received = 0, sent = 0, acked = 0;
    std::deque<message> buffer;
    bool ended = false;
  };
  std::map<session_id, record> records;
  session_settings settings;
  std::size_t commits_applied = 0;

  bool durable() const noexcept override { return true; }

  void create(std::string, preempt_handler, open_handler done) override {
    const auto id = session_id::generate();
    records[id] = {};
    done({}, std::make_unique<session>(id, settings, true));
  }
  void attach(const session_id& id, std::string, preempt_handler, open_handler done) override {
    auto it = records.find(id);
    if (it == records.end()) return done(error::resume_unknown, nullptr);
    if (it->second.ended) return done(error::resume_ended, nullptr);
    record& r = it->second;
    session_record rec{id, ++r.epoch, r.received, r.sent, r.acked, r.buffer};
    done({}, std::make_unique<session>(session::restore(std::move(rec), settings, true)));
  }
  void commit(const commit_batch& b, done_handler done) override {
    // Copied now, as the Redis store formats its command at the call.
    struct copy {
      session_id id;
      std::uint64_t epoch;
      seq received, acked, evicted, first;
      std::vector<std::pair<proto::message_kind, std::string>> msgs;
    } c{b.id, b.epoch, b.received, b.acked, b.evicted_through, b.first, {}};
    for (const auto& m : b.messages) c.msgs.emplace_back(m.kind, std::string(m.payload));
    pending_.push_back({[this, c] {
                          return apply(c.id, c.epoch, c.received, c.acked, c.evicted, c.first,
                                       c.msgs);
                        },
                        std::move(done)});
  }
  void detach(session_ptr s, detach_handler done) override {
    if (s->commit_needed()) commit(s->take_commit(), [](std::error_code) {});
    done({}, {});
  }
  void end(const session_id& id, std::uint64_t epoch, done_handler done) override {
    auto it = records.find(id);
    if (it != records.end() && it->second.epoch == epoch) it->second.ended = true;
    done({});
  }
  void touch(const session_id&, std::uint64_t, done_handler done) override { done({}); }

  /// Completes the oldest commit in flight (the reply reaches the server).
  bool complete_one() {
    if (pending_.empty()) return false;
    auto p = std::move(pending_.front());
    pending_.pop_front();
    const auto ec = p.apply();
    p.done(ec);
    return true;
  }
  /// The server process dies: Redis applies the first `k` commands it had
  /// already received; nobody hears back; the rest never left the process.
  void kill_server(std::size_t k) {
    for (std::size_t i = 0; i < k && !pending_.empty(); ++i) {
      (void)pending_.front().apply();
      pending_.pop_front();
    }
    pending_.clear();
  }
  std::size_t in_flight() const { return pending_.size(); }

 private:
  struct pending {
    std::function<std::error_code()> apply;
    done_handler done;
  };
  std::deque<pending> pending_;

  std::error_code apply(const session_id& id, std::uint64_t epoch, seq received, seq acked,
                        seq evicted, seq first,
                        const std::vector<std::pair<proto::message_kind, std::string>>& msgs) {
    auto it = records.find(id);
    if (it == records.end() || it->second.ended) return error::resume_unknown;
    record& r = it->second;
    // The fencing and continuity checks of docs/resume.md §8.3.
    if (epoch != r.epoch) return error::resume_superseded;
    if (received < r.received || acked < r.acked || (!msgs.empty() && first != r.sent + 1))
      return error::resume_invalid;
    for (const auto& [k, p] : msgs) r.buffer.push_back(message{++r.sent, k, p, {}});
    r.received = received;
    r.acked = acked;
    const seq drop = std::max(acked, evicted);
    while (!r.buffer.empty() && r.buffer.front().number <= drop) r.buffer.pop_front();
    ++commits_applied;
    return {};
  }
};

/// A server process on the durable store: commits per turn, writes and acks on completion.
struct durable_server {
  world& w;
  fake_durable_store& store;
  server_side& srv;
  std::vector<std::shared_ptr<bool>> alive;  // callbacks of a dead process must not run

  durable_server(world& wr, fake_durable_store& st) : w(wr), store(st), srv(*wr.server) {
    // The application: an echo. Its only effect is a send, in the same batch.
    srv.app = [this](seq, std::string_view p) { (void)srv.send("e" + std::string(p)); };
  }
  /// The end of an I/O turn: one commit for everything the turn produced.
  void end_turn() {
    if (!srv.held || !srv.held->commit_needed()) return;
    const commit_batch b = srv.held->take_commit();
    auto token = alive.emplace_back(std::make_shared<bool>(true));
    const seq last = b.last(), received = b.received;
    store.commit(b, [this, token, last, received](std::error_code ec) {
      if (!*token || !srv.held) return;
      if (ec) {
        // docs/resume.md §6.1: a superseded holder aborts; nothing of it was visible.
        ASSERT_EQ(ec, error::resume_superseded);
        return;
      }
      commit_batch done_batch;
      done_batch.first = last + 1;  // last() == last
      done_batch.received = received;
      srv.held->committed(done_batch, w.clock.now);
      srv.write_pending();
      srv.maybe_ack();
    });
  }
};

std::string num(int i) { return "n" + std::to_string(i); }

}  // namespace

TEST(resume_durable, nothing_is_written_or_acked_before_its_commit) {
  world w;
  fake_durable_store store;
  w.server = std::make_unique<server_side>(w.clock, store);
  durable_server ds(w, store);
  ASSERT_TRUE(w.connect());
  for (int i = 1; i <= 64; ++i) ASSERT_FALSE(w.client->send(num(i)));
  w.server->conn->receive(w.client->take());
  EXPECT_EQ(w.server->delivered.size(), 64u);
  ds.end_turn();
  // 64 delivered, 64 echoes queued: neither an ack nor an echo may leave yet.
  EXPECT_EQ(w.server->take(), "") << "docs/resume.md §7.2";
  EXPECT_EQ(store.in_flight(), 1u);
  ASSERT_TRUE(store.complete_one());
  const std::string out = w.server->take();
  // 64 echoes, then the ack for 64.
  EXPECT_EQ(closewise::test::to_hex(out.substr(out.size() - 10)), "8b 08 00 00 00 00 00 00 00 40");
  w.client->conn->receive(out);
  EXPECT_EQ(w.client->delivered.size(), 64u);
  EXPECT_EQ(store.records.begin()->second.received, 64u);
  EXPECT_EQ(store.records.begin()->second.sent, 64u);
}

TEST(resume_durable, a_stale_epoch_commits_nothing) {
  world w;
  fake_durable_store store;
  w.server = std::make_unique<server_side>(w.clock, store);
  durable_server ds(w, store);
  ASSERT_TRUE(w.connect());
  const session_id id = w.server->held->id();
  ASSERT_FALSE(w.client->send("a"));
  w.server->conn->receive(w.client->take());
  ds.end_turn();
  // Another process attaches first (epoch 2); this process's commit fails.
  store.attach(id, {}, {}, [](std::error_code, session_store::session_ptr) {});
  ASSERT_TRUE(store.complete_one());  // the turn's commit: stale
  EXPECT_EQ(store.records[id].sent, 0u);
  EXPECT_EQ(store.records[id].received, 0u);
  EXPECT_EQ(w.server->take(), "") << "what was not committed never became visible";
}

TEST(resume_durable, kill_9_at_random_instants_loses_and_duplicates_nothing) {
  for (std::uint32_t seed : {1u, 7u, 42u, 1234u, 99991u}) {
    std::uint32_t rnd = seed;
    auto next = [&](std::uint32_t n) {
      rnd = rnd * 1103515245u + 12345u;
      return n == 0 ? 0u : (rnd >> 8) % n;
    };
    world w;
    fake_durable_store store;
    w.server = std::make_unique<server_side>(w.clock, store);
    auto ds = std::make_unique<durable_server>(w, store);
    ASSERT_TRUE(w.connect());
    int sent = 0, kills = 0, drops = 0;
    auto check_rules = [&] {
      // Nothing visible that the store does not hold (rule 2), no ack beyond it (rule 1).
      const auto& r = store.records.begin()->second;
      ASSERT_LE(w.client->delivered.size(), r.sent);
      if (w.client->cs.has_session()) {
        ASSERT_LE(w.client->cs.current().out().acked(), r.received);
      }
    };
    for (int step = 0; step < 300; ++step) {
      for (std::uint32_t k = next(5); k > 0; --k) ASSERT_FALSE(w.client->send(num(++sent)));
      // Part of the client's bytes arrive; the server ends its turn.
      std::string c2s = w.client->take();
      const std::size_t cut =
          next(4) == 0 ? next(static_cast<std::uint32_t>(c2s.size()) + 1) : c2s.size();
      if (w.server->conn->can_receive()) w.server->conn->receive(c2s.substr(0, cut));
      ds->end_turn();
      for (std::uint32_t k = next(3); k > 0; --k) store.complete_one();
      std::string s2c = w.server->take();
      const bool cut_back = next(4) == 0;
      w.client->conn->receive(
          cut_back ? s2c.substr(0, next(static_cast<std::uint32_t>(s2c.size()) + 1)) : s2c);
      check_rules();
      if (cut < c2s.size() || cut_back) {
        const std::uint32_t what = next(3);
        if (what == 0) {
          // kill -9 of the server process.
          ++kills;
          store.kill_server(next(static_cast<std::uint32_t>(store.in_flight()) + 1));
          for (auto& t : ds->alive) *t = false;
          w.client->conn->abort(error::connection_reset);
          w.client->closed_with(w.client->closed.back(), true);
          w.server = std::make_unique<server_side>(w.clock, store);  // a new process
          ds = std::make_unique<durable_server>(w, store);
        } else {
          // A TCP reset: the process lives; the server detaches (committing the rest).
          ++drops;
          w.client->conn->abort(error::connection_reset);
          w.server->conn->abort(error::connection_reset);
          w.server->closed_with(w.server->closed.back());
          w.client->closed_with(w.client->closed.back(), true);
          while (store.complete_one()) {
          }
        }
        ASSERT_TRUE(w.connect()) << "seed " << seed << " step " << step;
        ASSERT_EQ(w.client->outcome->kind, client_outcome_kind::resumed) << "seed " << seed;
        check_rules();
      }
      if (next(5) == 0) w.tick(std::chrono::milliseconds(next(80)));
    }
    // Let everything settle.
    for (int i = 0; i < 50; ++i) {
      w.server->conn->receive(w.client->take());
      ds->end_turn();
      while (store.complete_one()) {
      }
      w.client->conn->receive(w.server->take());
      w.tick(60ms);
      ds->end_turn();
    }
    ASSERT_EQ(w.client->delivered.size(), static_cast<std::size_t>(sent)) << "seed " << seed;
    for (int i = 0; i < sent; ++i) {
      ASSERT_EQ(w.client->delivered[i].first, static_cast<seq>(i + 1)) << "seed " << seed;
      ASSERT_EQ(w.client->delivered[i].second, "e" + num(i + 1)) << "seed " << seed;
    }
    EXPECT_TRUE(w.client->undelivered.empty()) << "seed " << seed;
    EXPECT_EQ(store.records.begin()->second.received, static_cast<seq>(sent));
    EXPECT_GT(kills, 3) << "seed " << seed << ": the walk must actually kill the server";
    EXPECT_GT(drops, 3) << "seed " << seed;
  }
}

}  // namespace closewise::resume::test

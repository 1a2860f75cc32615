#include "closewise/resume/memory_store.hpp"

#include <algorithm>
#include <chrono>
#include <deque>
#include <mutex>
#include <optional>
#include <unordered_map>
#include <utility>
#include <vector>

#include "closewise/error.hpp"

namespace closewise::resume {

struct memory_store::impl {
  /// An attach that waits for the current holder to let go (docs/resume.md §6.1).
  struct waiter {
    std::string owner;
    preempt_handler preempt;
    open_handler done;
  };
  struct entry {
    std::string owner;
    std::uint64_t epoch = 1;
    seq attempt = 0;     // the newest attempt an attach took (docs/resume.md §6.1)
    session_ptr parked;  // null while a connection holds the session
    time_point deadline{};
    preempt_handler preempt;  // the holder's
    std::optional<waiter> waiting;
  };
  struct tomb {
    resume_status status;
    time_point until;
  };

  memory_store_options opts;
  mutable std::mutex mu;
  std::unordered_map<session_id, entry, session_id_hash> live;
  std::unordered_map<session_id, tomb, session_id_hash> tombs;
  std::deque<session_id> tomb_order;  // oldest first, for max_tombstones

  /// Callbacks collected under the lock and run after it is released, so a
  /// callback may call the store again.
  using deferred = std::vector<std::function<void()>>;

  time_point now() const { return opts.clock ? opts.clock() : clock_type::now(); }

  /// The next time create() or detach() sweeps by itself (docs/resume.md §6.2):
  /// every ttl / 3, so sessions whose clients never came back are released even
  /// if the application never calls sweep(), and max_sessions is not filled by them.
  time_point next_sweep{};
  std::size_t sweep_locked(time_point t, std::vector<session_ptr>& released);
  void maybe_sweep_locked(time_point t, std::vector<session_ptr>& released) {
    if (t < next_sweep) return;
    sweep_locked(t, released);
  }

  void bury(const session_id& id, resume_status st, time_point from) {
    if (opts.max_tombstones == 0) return;
    tombs[id] = tomb{st, from + opts.tombstone};
    tomb_order.push_back(id);
    while (tombs.size() > opts.max_tombstones && !tomb_order.empty()) {
      tombs.erase(tomb_order.front());
      tomb_order.pop_front();
    }
    // Ids whose tomb was replaced or forgotten stay in the order until they reach the front.
    if (tomb_order.size() > 2 * opts.max_tombstones + 16) {
      std::deque<session_id> kept;
      for (const auto& t : tomb_order)
        if (tombs.count(t)) kept.push_back(t);
      tomb_order.swap(kept);
    }
  }

  /// What a missing or dead id answers.
  std::error_code gone(const session_id& id, time_point t) {
    auto it = tombs.find(id);
    if (it == tombs.end()) return error::resume_unknown;
    if (t >= it->second.until) {
      tombs.erase(it);
      return error::resume_unknown;
    }
    return to_error(it->second.status);
  }

  /// Hands `s` to the waiting attach: the new holder, with the next epoch.
  void hand_over(entry& e, session_ptr s, deferred& later) {
    waiter w = std::move(*e.waiting);
    e.waiting.reset();
    e.owner = std::move(w.owner);
    e.preempt = std::move(w.preempt);
    s->set_epoch(++e.epoch);
    s->attach();
    later.emplace_back([done = std::move(w.done), p = std::make_shared<session_ptr>(std::move(s))] {
      done({}, std::move(*p));
    });
  }
};

memory_store::memory_store(memory_store_options opts) : impl_(std::make_unique<impl>()) {
  impl_->opts = std::move(opts);
}

memory_store::~memory_store() {
  impl::deferred later;
  {
    std::lock_guard lock(impl_->mu);
    for (auto& [id, e] : impl_->live)
      if (e.waiting)
        later.emplace_back([done = std::move(e.waiting->done)] {
          done(error::resume_store_unavailable, nullptr);
        });
  }
  for (auto& f : later) f();
}

void memory_store::create(std::string owner, preempt_handler preempt, open_handler done) {
  session_ptr s;
  std::vector<session_ptr> released;  // expired ones, destroyed outside the lock
  {
    std::lock_guard lock(impl_->mu);
    impl_->maybe_sweep_locked(impl_->now(), released);
    if (impl_->live.size() < impl_->opts.max_sessions) {
      session_id id;
      do id = session_id::generate();
      while (impl_->live.count(id) || impl_->tombs.count(id));
      auto& e = impl_->live[id];
      e.owner = std::move(owner);
      e.preempt = std::move(preempt);
      s = std::make_unique<session>(id, impl_->opts.session, false);
    }
  }
  if (!s) return done(error::resume_store_unavailable, nullptr);
  done({}, std::move(s));
}

void memory_store::attach(const session_id& id, std::string owner, preempt_handler preempt,
                          open_handler done) {
  attach_attempt(id, 0, std::move(owner), std::move(preempt), std::move(done));
}

void memory_store::attach_attempt(const session_id& id, seq attempt, std::string owner,
                                  preempt_handler preempt, open_handler done) {
  impl::deferred later;
  std::error_code ec;
  session_ptr s;
  {
    std::lock_guard lock(impl_->mu);
    const time_point t = impl_->now();
    auto it = impl_->live.find(id);
    if (it == impl_->live.end()) {
      ec = impl_->gone(id, t);
    } else if (it->second.owner != owner) {
      // docs/resume.md §9: another principal's session looks like no session.
      ec = error::resume_unknown;
    } else if (attempt != 0 && attempt <= it->second.attempt) {
      // docs/resume.md §6.1: a late handshake of an abandoned attempt. The
      // holder keeps the session; nothing changes.
      ec = error::resume_stale_attempt;
    } else if (impl::entry& e = it->second; e.parked) {
      if (t >= e.deadline) {
        impl_->live.erase(it);
        impl_->bury(id, resume_status::expired, t);
        ec = error::resume_expired;
      } else {
        s = std::move(e.parked);
        s->set_epoch(++e.epoch);
        s->attach();
        e.preempt = std::move(preempt);
        e.attempt = std::max(e.attempt, attempt);
      }
    } else {
      // Held by a connection that may be half-open: the newest attach wins.
      if (e.waiting)
        later.emplace_back(
            [d = std::move(e.waiting->done)] { d(error::resume_superseded, nullptr); });
      e.waiting = impl::waiter{std::move(owner), std::move(preempt), std::move(done)};
      e.attempt = std::max(e.attempt, attempt);
      if (e.preempt) later.emplace_back(e.preempt);
    }
  }
  for (auto& f : later) f();
  if (ec) return done(ec, nullptr);
  if (s) done({}, std::move(s));
}

void memory_store::commit(const commit_batch&, done_handler done) {
  // The live object is the session: nothing to persist (durable() is false).
  done({});
}

void memory_store::detach(session_ptr s, detach_handler done) {
  std::vector<session_ptr> released;  // expired ones, destroyed outside the lock
  impl::deferred later;
  std::error_code ec;
  {
    std::lock_guard lock(impl_->mu);
    const time_point t = impl_->now();
    impl_->maybe_sweep_locked(t, released);
    auto it = impl_->live.find(s->id());
    if (it == impl_->live.end()) {
      ec = impl_->gone(s->id(), t);
      if (ec == error::resume_unknown) ec = error::resume_ended;
    } else if (it->second.epoch != s->epoch() || it->second.parked) {
      ec = error::resume_superseded;
    } else if (it->second.waiting) {
      s->detach();
      impl_->hand_over(it->second, std::move(s), later);
    } else {
      s->detach();
      it->second.parked = std::move(s);
      it->second.deadline = t + impl_->opts.ttl;
      it->second.preempt = nullptr;
    }
  }
  for (auto& f : later) f();
  // A session the store no longer takes: its unacked messages go back.
  done(ec, ec && s ? s->end() : std::vector<message>{});
}

void memory_store::end(const session_id& id, std::uint64_t epoch, done_handler done) {
  impl::deferred later;
  std::error_code ec;
  {
    std::lock_guard lock(impl_->mu);
    const time_point t = impl_->now();
    auto it = impl_->live.find(id);
    if (it == impl_->live.end()) {
      ec = impl_->gone(id, t);
      if (ec == error::resume_ended) ec = {};  // ending twice is harmless
    } else if (it->second.epoch != epoch) {
      ec = error::resume_superseded;
    } else {
      if (it->second.waiting)
        later.emplace_back(
            [d = std::move(it->second.waiting->done)] { d(error::resume_ended, nullptr); });
      impl_->live.erase(it);
      impl_->bury(id, resume_status::ended, t);
    }
  }
  for (auto& f : later) f();
  done(ec);
}

void memory_store::touch(const session_id& id, std::uint64_t epoch, done_handler done) {
  std::error_code ec;
  {
    std::lock_guard lock(impl_->mu);
    auto it = impl_->live.find(id);
    if (it == impl_->live.end())
      ec = impl_->gone(id, impl_->now());
    else if (it->second.epoch != epoch || it->second.waiting)
      ec = error::resume_superseded;
  }
  done(ec);
}

std::size_t memory_store::impl::sweep_locked(time_point t, std::vector<session_ptr>& released) {
  const std::size_t before = released.size();
  for (auto it = live.begin(); it != live.end();) {
    if (it->second.parked && t >= it->second.deadline) {
      released.push_back(std::move(it->second.parked));
      bury(it->first, resume_status::expired, it->second.deadline);
      it = live.erase(it);
    } else {
      ++it;
    }
  }
  for (auto it = tombs.begin(); it != tombs.end();)
    it = t >= it->second.until ? tombs.erase(it) : std::next(it);
  next_sweep = t + std::max(opts.ttl / 3, std::chrono::milliseconds(1));
  return released.size() - before;
}

std::size_t memory_store::sweep() {
  std::vector<session_ptr> released;  // destroyed outside the lock
  std::lock_guard lock(impl_->mu);
  return impl_->sweep_locked(impl_->now(), released);
}

std::size_t memory_store::sessions() const {
  std::lock_guard lock(impl_->mu);
  return impl_->live.size();
}

std::size_t memory_store::tombstones() const {
  std::lock_guard lock(impl_->mu);
  return impl_->tombs.size();
}

}  // namespace closewise::resume

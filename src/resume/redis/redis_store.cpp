#include "closewise/resume/redis_store.hpp"

#include <hiredis/hiredis.h>
#include <sys/time.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <condition_variable>
#include <deque>
#include <mutex>
#include <string_view>
#include <thread>
#include <unordered_map>
#include <utility>
#include <vector>

#include "closewise/error.hpp"
#include "redis_scripts.hpp"

namespace closewise::resume {
namespace {

/// A script's outcome string as an error.
std::error_code outcome_error(std::string_view s) {
  if (s == "ok") return {};
  if (s == "unknown") return error::resume_unknown;
  if (s == "ended") return error::resume_ended;
  if (s == "expired") return error::resume_expired;
  if (s == "superseded") return error::resume_superseded;
  if (s == "stale") return error::resume_stale_attempt;
  if (s == "invalid" || s == "exists") return error::resume_invalid;
  return error::resume_store_unavailable;
}

std::string_view reply_text(const redisReply* r) {
  if (r == nullptr || r->str == nullptr) return {};
  return {r->str, r->len};
}

timeval to_timeval(std::chrono::milliseconds d) {
  const auto ms = std::max<std::int64_t>(d.count(), 1);
  return timeval{static_cast<time_t>(ms / 1000), static_cast<suseconds_t>((ms % 1000) * 1000)};
}

/// A command formatted by hiredis (RESP), owned.
std::string format(const std::vector<std::string_view>& args) {
  std::vector<const char*> argv;
  std::vector<std::size_t> lens;
  argv.reserve(args.size());
  lens.reserve(args.size());
  for (auto a : args) {
    argv.push_back(a.data());
    lens.push_back(a.size());
  }
  char* cmd = nullptr;
  const int n =
      redisFormatCommandArgv(&cmd, static_cast<int>(args.size()), argv.data(), lens.data());
  std::string out;
  if (n > 0 && cmd != nullptr) out.assign(cmd, static_cast<std::size_t>(n));
  redisFreeCommand(cmd);
  return out;
}

}  // namespace

struct redis_store::impl {
  /// A queued command and what to do with its reply (on the store's thread;
  /// a null reply means the request failed with `ec`).
  struct request {
    redis_scripts::script which;
    std::vector<std::string> args;  // after EVALSHA sha 2 k1 k2
    std::function<void(const redisReply*, std::error_code)> on_reply;
  };

  redis_store_options opts;
  std::mutex mu;
  std::condition_variable cv;
  std::deque<request> queue;
  bool stopping = false;
  std::atomic<bool> connected{false};
  std::thread worker;
  /// Sessions a connection of this process holds, with their epochs: the worker
  /// touches each every ttl / 3 (docs/resume.md §6.2), so an idle connection's
  /// session does not expire under it. Under `mu`.
  std::unordered_map<session_id, std::uint64_t, session_id_hash> held;
  std::chrono::steady_clock::time_point next_touch{};

  void hold(const session_id& id, std::uint64_t epoch) {
    std::lock_guard lock(mu);
    if (held.empty())
      next_touch =
          std::chrono::steady_clock::now() + std::max(opts.ttl / 3, std::chrono::milliseconds(1));
    held[id] = epoch;
  }
  void release(const session_id& id, std::uint64_t epoch) {
    std::lock_guard lock(mu);
    if (auto it = held.find(id); it != held.end() && it->second <= epoch) held.erase(it);
  }
  // Owned by the worker thread only.
  redisContext* ctx = nullptr;
  std::string shas[redis_scripts::s_count];
  bool reload = false;

  ~impl() {
    if (ctx != nullptr) redisFree(ctx);
  }

  std::string key(const session_id& id, char kind) const {
    std::string k = opts.prefix;
    k += '{';
    k += id.to_string();
    k += "}:";
    k += kind;
    return k;
  }

  void enqueue(const session_id& id, redis_scripts::script which, std::vector<std::string> args,
               std::function<void(const redisReply*, std::error_code)> on_reply) {
    args.insert(args.begin(), {key(id, 'm'), key(id, 'q')});
    {
      std::lock_guard lock(mu);
      // Bounded: a dead Redis must not grow the server's memory.
      if (!stopping && queue.size() < opts.max_pending) {
        queue.push_back(request{which, std::move(args), std::move(on_reply)});
        cv.notify_one();
        return;
      }
    }
    on_reply(nullptr, error::resume_store_unavailable);
  }

  // ---- the worker thread -------------------------------------------------------------

  void run() {
    auto delay = opts.reconnect_delay;
    std::unique_lock lock(mu);
    while (!stopping) {
      if (ctx == nullptr || reload) {
        lock.unlock();
        const bool ok = connect();
        lock.lock();
        if (!ok) {
          // Nobody waits on an unreachable store: fail what is queued now.
          fail_all(lock);
          cv.wait_for(lock, delay, [&] { return stopping; });
          delay = std::min(delay * 2, opts.max_reconnect_delay);
          continue;
        }
        delay = opts.reconnect_delay;
      }
      if (held.empty()) {
        cv.wait(lock, [&] { return stopping || !queue.empty(); });
      } else {
        cv.wait_until(lock, next_touch, [&] { return stopping || !queue.empty(); });
      }
      if (stopping) break;
      touch_held(lock);
      if (queue.empty()) continue;
      std::deque<request> batch;
      batch.swap(queue);
      lock.unlock();
      pipeline(batch);
      lock.lock();
    }
    fail_all(lock);
  }

  /// Every ttl / 3: a touch for each held session, queued behind what is queued.
  /// A touch that finds the session superseded, ended or expired stops holding it
  /// (the connection learns it at its next commit or detach).
  void touch_held(std::unique_lock<std::mutex>& lock) {
    const auto now = std::chrono::steady_clock::now();
    if (held.empty() || now < next_touch) return;
    next_touch = now + std::max(opts.ttl / 3, std::chrono::milliseconds(1));
    std::vector<std::pair<session_id, std::uint64_t>> due(held.begin(), held.end());
    lock.unlock();
    for (const auto& [id, epoch] : due) {
      simple(id, redis_scripts::s_touch, epoch, [this, id = id, epoch = epoch](std::error_code ec) {
        if (ec && ec != error::resume_store_unavailable) release(id, epoch);
      });
    }
    lock.lock();
  }

  void fail_all(std::unique_lock<std::mutex>& lock) {
    std::deque<request> failed;
    failed.swap(queue);
    lock.unlock();
    for (auto& r : failed) r.on_reply(nullptr, error::resume_store_unavailable);
    lock.lock();
  }

  void disconnect() {
    if (ctx != nullptr) redisFree(ctx);
    ctx = nullptr;
    connected = false;
  }

  bool connect() {
    if (ctx == nullptr) {
      ctx = redisConnectWithTimeout(opts.host.c_str(), opts.port, to_timeval(opts.connect_timeout));
      if (ctx == nullptr || ctx->err != 0) {
        disconnect();
        return false;
      }
      redisSetTimeout(ctx, to_timeval(opts.command_timeout));
      redisEnableKeepAlive(ctx);
    }
    // SCRIPT LOAD at every (re)connect: a restarted Redis has no scripts.
    for (std::size_t i = 0; i < redis_scripts::s_count; ++i) {
      const std::string text = redis_scripts::script_text(static_cast<redis_scripts::script>(i));
      auto* r =
          static_cast<redisReply*>(redisCommand(ctx, "SCRIPT LOAD %b", text.data(), text.size()));
      const bool ok = r != nullptr && r->type == REDIS_REPLY_STRING;
      if (ok) shas[i].assign(r->str, r->len);
      if (r != nullptr) freeReplyObject(r);
      if (!ok) {
        disconnect();
        return false;
      }
    }
    reload = false;
    connected = true;
    return true;
  }

  /// Writes every command of the batch, then reads the replies in order.
  void pipeline(std::deque<request>& batch) {
    std::size_t appended = 0;
    for (auto& r : batch) {
      std::vector<std::string_view> argv{"EVALSHA", shas[r.which], "2"};
      for (const auto& a : r.args) argv.push_back(a);
      const std::string cmd = format(argv);
      if (cmd.empty() || redisAppendFormattedCommand(ctx, cmd.data(), cmd.size()) != REDIS_OK)
        break;
      ++appended;
    }
    std::size_t i = 0;
    for (; i < appended; ++i) {
      void* raw = nullptr;
      if (redisGetReply(ctx, &raw) != REDIS_OK || raw == nullptr) break;
      auto* reply = static_cast<redisReply*>(raw);
      if (reply->type == REDIS_REPLY_ERROR && reply_text(reply).substr(0, 8) == "NOSCRIPT") {
        // SCRIPT FLUSH behind our back: this request did nothing; load again
        // before the next batch. The caller sees an unavailable store.
        reload = true;
        batch[i].on_reply(nullptr, error::resume_store_unavailable);
      } else if (reply->type == REDIS_REPLY_ERROR) {
        batch[i].on_reply(nullptr, error::resume_store_unavailable);
      } else {
        batch[i].on_reply(reply, {});
      }
      freeReplyObject(reply);
    }
    if (i < batch.size()) {
      // The connection broke (or timed out): every reply not read is lost.
      disconnect();
      for (; i < batch.size(); ++i) batch[i].on_reply(nullptr, error::resume_store_unavailable);
    }
  }

  // ---- replies ----------------------------------------------------------------------

  static std::error_code string_outcome(const redisReply* r) {
    if (r->type != REDIS_REPLY_STRING && r->type != REDIS_REPLY_STATUS)
      return error::resume_store_unavailable;
    return outcome_error(reply_text(r));
  }

  /// The attach script's array, as a session record.
  static std::error_code read_record(const redisReply* r, const session_id& id,
                                     session_record& rec) {
    if (r->type == REDIS_REPLY_STRING || r->type == REDIS_REPLY_STATUS) {
      const auto ec = outcome_error(reply_text(r));
      return ec ? ec : error::resume_store_unavailable;
    }
    if (r->type != REDIS_REPLY_ARRAY || r->elements != 6) return error::resume_store_unavailable;
    for (std::size_t i = 0; i < 5; ++i)
      if (r->element[i]->type != REDIS_REPLY_INTEGER || r->element[i]->integer < 0)
        return error::resume_store_unavailable;
    const redisReply* q = r->element[5];
    if (q->type != REDIS_REPLY_ARRAY) return error::resume_store_unavailable;
    rec.id = id;
    rec.epoch = static_cast<std::uint64_t>(r->element[0]->integer);
    rec.received = static_cast<seq>(r->element[1]->integer);
    rec.sent = static_cast<seq>(r->element[2]->integer);
    rec.acked = static_cast<seq>(r->element[3]->integer);
    const seq oldest = static_cast<seq>(r->element[4]->integer);
    if (oldest + q->elements != rec.sent + 1 || rec.acked > rec.sent) return error::resume_invalid;
    // The age bound restarts at load: the store does not keep send times.
    const time_point now = clock_type::now();
    for (std::size_t i = 0; i < q->elements; ++i) {
      const redisReply* e = q->element[i];
      if (e->type != REDIS_REPLY_STRING || e->len < 1) return error::resume_invalid;
      const auto kind = e->str[0] == 'b' ? proto::message_kind::binary : proto::message_kind::text;
      rec.buffer.push_back(message{oldest + i, kind, std::string(e->str + 1, e->len - 1), now});
    }
    return {};
  }

  std::string ms(std::chrono::milliseconds d) const { return std::to_string(d.count()); }

  void commit(const commit_batch& b, std::function<void(std::error_code)> done) {
    std::vector<std::string> args{std::to_string(b.epoch), std::to_string(b.received),
                                  std::to_string(b.acked), std::to_string(b.evicted_through),
                                  std::to_string(b.first), ms(opts.tombstone)};
    args.reserve(args.size() + b.messages.size());
    for (const auto& m : b.messages) {
      std::string e;
      e.reserve(m.payload.size() + 1);
      e += m.kind == proto::message_kind::binary ? 'b' : 't';
      e += m.payload;
      args.push_back(std::move(e));
    }
    enqueue(b.id, redis_scripts::s_commit, std::move(args),
            [done = std::move(done)](const redisReply* r, std::error_code ec) {
              done(ec ? ec : string_outcome(r));
            });
  }

  void simple(const session_id& id, redis_scripts::script which, std::uint64_t epoch,
              std::function<void(std::error_code)> done) {
    enqueue(id, which, {std::to_string(epoch), ms(opts.tombstone)},
            [done = std::move(done)](const redisReply* r, std::error_code ec) {
              done(ec ? ec : string_outcome(r));
            });
  }
};

redis_store::redis_store(redis_store_options opts) : impl_(std::make_unique<impl>()) {
  impl_->opts = std::move(opts);
  impl_->worker = std::thread([p = impl_.get()] { p->run(); });
}

redis_store::~redis_store() {
  {
    std::lock_guard lock(impl_->mu);
    impl_->stopping = true;
  }
  impl_->cv.notify_all();
  impl_->worker.join();
}

bool redis_store::connected() const noexcept { return impl_->connected; }

void redis_store::create(std::string owner, preempt_handler, open_handler done) {
  const session_id id = session_id::generate();
  impl* p = impl_.get();
  p->enqueue(id, redis_scripts::s_create, {owner, p->ms(p->opts.ttl), p->ms(p->opts.tombstone)},
             [p, id, settings = p->opts.session, done = std::move(done)](const redisReply* r,
                                                                         std::error_code ec) {
               if (!ec) ec = impl::string_outcome(r);
               if (ec) return done(ec, nullptr);
               auto s = std::make_unique<session>(id, settings, true);
               p->hold(id, s->epoch());
               done({}, std::move(s));
             });
}

void redis_store::attach(const session_id& id, std::string owner, preempt_handler preempt,
                         open_handler done) {
  attach_attempt(id, 0, std::move(owner), std::move(preempt), std::move(done));
}

void redis_store::attach_attempt(const session_id& id, seq attempt, std::string owner,
                                 preempt_handler, open_handler done) {
  // A durable store fences an earlier holder by epoch (docs/resume.md §6.1):
  // no preempt is needed, the holder's next commit or touch fails. A stale
  // attempt is refused by the script before the epoch moves.
  impl* p = impl_.get();
  p->enqueue(id, redis_scripts::s_attach,
             {std::move(owner), p->ms(p->opts.tombstone), std::to_string(attempt)},
             [p, id, settings = p->opts.session, done = std::move(done)](const redisReply* r,
                                                                         std::error_code ec) {
               session_record rec;
               if (!ec) ec = impl::read_record(r, id, rec);
               if (ec) return done(ec, nullptr);
               auto s = std::make_unique<session>(session::restore(std::move(rec), settings, true));
               p->hold(id, s->epoch());
               done({}, std::move(s));
             });
}

void redis_store::commit(const commit_batch& batch, done_handler done) {
  impl_->commit(batch, std::move(done));
}

void redis_store::detach(session_ptr s, detach_handler done) {
  // What the session has not committed yet goes first; the touch then starts
  // the TTL. Both are queued in order on the one connection, and the session
  // lives until the touch completes, so a failure can hand its messages back.
  std::shared_ptr<session> held(std::move(s));
  impl_->release(held->id(), held->epoch());  // the TTL runs from here: no more touches
  auto commit_error = std::make_shared<std::error_code>();
  if (held->commit_needed())
    impl_->commit(held->take_commit(), [commit_error](std::error_code ec) { *commit_error = ec; });
  impl_->simple(held->id(), redis_scripts::s_touch, held->epoch(),
                [held, commit_error, done = std::move(done)](std::error_code ec) {
                  if (*commit_error) {
                    // Never visible: what the failed commit held goes back.
                    return done(*commit_error,
                                held->out().take_unacked_above(held->out().committed()));
                  }
                  // A newer holder has the session and replays what was
                  // committed: only what never was goes back (docs/resume.md
                  // §6.1). Any other failure loses the session: all of it.
                  if (ec == error::resume_superseded)
                    return done(ec, held->out().take_unacked_above(held->out().committed()));
                  if (ec) return done(ec, held->end());
                  done({}, {});
                });
}

void redis_store::end(const session_id& id, std::uint64_t epoch, done_handler done) {
  impl_->release(id, epoch);
  impl_->simple(id, redis_scripts::s_end, epoch, std::move(done));
}

void redis_store::touch(const session_id& id, std::uint64_t epoch, done_handler done) {
  impl_->simple(id, redis_scripts::s_touch, epoch, std::move(done));
}

}  // namespace closewise::resume

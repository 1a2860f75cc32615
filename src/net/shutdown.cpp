#include "shutdown.hpp"

#include <string_view>

#include "closewise/error.hpp"
#include "jitter.hpp"
#include "session_impl.hpp"

namespace closewise::net::detail {
namespace {

void close_each(const std::vector<std::shared_ptr<session_impl>>& sessions,
                const shutdown_options& opts) {
  for (const auto& s : sessions)
    (void)static_cast<session&>(*s).close_endpoint(opts.code, opts.reason);
}

}  // namespace

void start_shutdown(const std::shared_ptr<server_shared>& sh, const asio::any_io_executor& ex,
                    shutdown_options opts, std::function<void(const shutdown_summary&)> done,
                    const std::function<void()>& stop_accepting) {
  if (auto ec = validate_endpoint_close(opts.code, opts.reason)) {
    if (done) done(shutdown_summary{0, 0, 0, 0, 0, {}, ec});
    return;
  }
  auto st = std::make_shared<shutdown_state>(ex, std::move(opts), std::move(done));
  st->shared = sh;
  {
    std::lock_guard lock(sh->mu);
    if (sh->shutdown) {
      st->sum.error = error::already_closing;
    } else {
      sh->shutdown = st;
      st->order.reserve(sh->count);
      for (session_impl* s = sh->head; s; s = s->next_) {
        // A session being destroyed has no owner left and reports nothing.
        auto sp = std::static_pointer_cast<session_impl>(s->weak_from_this().lock());
        if (!sp) continue;
        s->in_shutdown_ = true;
        st->order.push_back(std::move(sp));
      }
      st->sum.total = st->order.size();
    }
  }
  if (st->sum.error) {
    if (st->done) st->done(st->sum);
    return;
  }
  stop_accepting();
  std::optional<shutdown_summary> now;
  {
    std::lock_guard lock(st->mu);
    now = st->complete_locked();
  }
  if (now) {
    if (st->done) {
      callback_gate::scope g(sh->gate);
      if (g.open()) st->done(*now);
    }
    return;
  }
  st->begin();
}

void shutdown_state::begin() {
  std::unique_lock lock(mu);
  const auto deadline = start + opts.drain_deadline;
  deadline_timer.expires_at(deadline);
  deadline_timer.async_wait([self = shared_from_this()](const boost::system::error_code& ec) {
    if (!ec) self->on_deadline();
  });
  if (opts.spread.count() > 0 && !order.empty()) {
    next_at = start + std::chrono::duration_cast<std::chrono::steady_clock::duration>(
                          opts.spread * jitter_uniform() / order.size());
    lock.unlock();
    send_due_closes();
    return;
  }
  next_close = order.size();
  auto all = order;
  lock.unlock();
  close_each(all, opts);
}

void shutdown_state::send_due_closes() {
  std::vector<std::shared_ptr<session_impl>> due;
  {
    std::lock_guard lock(mu);
    if (completed || deadline_passed) return;
    const auto now = std::chrono::steady_clock::now();
    const std::size_t n = order.size();
    // Stratified spread: slot i of n is [i/n, (i+1)/n) of the window, with a
    // uniform point inside it, so the closes are even on the whole and random in detail.
    while (next_close < n && next_at <= now) {
      due.push_back(order[next_close]);
      ++next_close;
      if (next_close < n) {
        next_at = start + std::chrono::duration_cast<std::chrono::steady_clock::duration>(
                              opts.spread * ((static_cast<double>(next_close) + jitter_uniform()) /
                                             static_cast<double>(n)));
      }
    }
    schedule_next_locked();
  }
  close_each(due, opts);
}

void shutdown_state::schedule_next_locked() {
  if (next_close >= order.size()) return;
  spread_timer.expires_at(next_at);
  spread_timer.async_wait([self = shared_from_this()](const boost::system::error_code& ec) {
    if (!ec) self->send_due_closes();
  });
}

void shutdown_state::on_deadline() {
  std::vector<std::shared_ptr<session_impl>> left;
  {
    std::lock_guard lock(mu);
    if (completed) return;
    deadline_passed = true;
    spread_timer.cancel();
    left = order;  // sessions that already ended ignore the abort
  }
  // RFC 6455 §7.1.1 leaves the wait for the peer's close open-ended; the drain
  // deadline bounds it for the whole server.
  for (auto& s : left) static_cast<session&>(*s).abort();
}

void shutdown_state::on_session_end(const close_event& ev) {
  std::optional<shutdown_summary> s;
  {
    std::lock_guard lock(mu);
    if (completed) return;
    ++finished;
    if (ev.was_clean) {
      ++sum.clean;
    } else if (deadline_passed) {
      ++sum.aborted;
    } else {
      ++sum.failed;
    }
    s = complete_locked();
  }
  finish(std::move(s));
}

proto::http_headers shutdown_state::refusal_headers() const {
  // opts is set at construction and never changed: no lock needed.
  constexpr std::string_view key = "retry-after=";
  proto::http_headers h;
  const std::string_view r = opts.reason;
  if (r.substr(0, key.size()) != key) return h;
  const std::string_view digits = r.substr(key.size());
  if (digits.empty() || digits.size() > 9 ||
      digits.find_first_not_of("0123456789") != std::string_view::npos)
    return h;
  // RFC 9110 §10.2.3: Retry-After = HTTP-date / delay-seconds.
  h.fields.emplace_back("Retry-After", std::string(digits));
  return h;
}

void shutdown_state::on_refused() {
  std::lock_guard lock(mu);
  if (!completed) ++sum.refused;
}

std::optional<shutdown_summary> shutdown_state::complete_locked() {
  if (completed || finished < order.size()) return std::nullopt;
  completed = true;
  sum.elapsed = std::chrono::duration_cast<std::chrono::milliseconds>(
      std::chrono::steady_clock::now() - start);
  spread_timer.cancel();
  deadline_timer.cancel();
  return sum;
}

void shutdown_state::finish(std::optional<shutdown_summary> s) {
  if (!s) return;
  std::function<void(const shutdown_summary&)> d;
  std::vector<std::shared_ptr<session_impl>> release;
  {
    std::lock_guard lock(mu);
    d = std::move(done);
    release.swap(order);  // the sessions may go now
  }
  const auto sh = shared.lock();
  if (sh && sh->cfg.observer)
    sh->cfg.observer->shutdown_completed(
        {s->total, s->clean, s->aborted, s->failed, s->refused, s->elapsed});
  if (!d || !sh) return;
  callback_gate::scope g(sh->gate);
  if (g.open()) d(*s);
}

}  // namespace closewise::net::detail

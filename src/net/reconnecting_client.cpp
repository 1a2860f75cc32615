#include "closewise/net/reconnecting_client.hpp"

#include <algorithm>
#include <atomic>
#include <cctype>
#include <deque>
#include <mutex>
#include <thread>
#include <utility>

#include <boost/asio/post.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/strand.hpp>

#include "closewise/error.hpp"
#include "closewise/net/url.hpp"
#include "closewise/policy/decision.hpp"

namespace closewise::net {

std::string_view to_string(reconnect_state s) noexcept {
  switch (s) {
    case reconnect_state::idle: return "idle";
    case reconnect_state::connecting: return "connecting";
    case reconnect_state::open: return "open";
    case reconnect_state::closing: return "closing";
    case reconnect_state::waiting: return "waiting";
    case reconnect_state::stopped: return "stopped";
  }
  return "unknown";
}

namespace detail {
namespace asio = boost::asio;
using steady = std::chrono::steady_clock;
using std::chrono::milliseconds;

namespace {

/// How often a connection whose unconfirmed window is full, or whose write
/// queue refused a message, is looked at again. Short, because nothing else
/// tells the reconnecting client that net::client's write buffer drained.
constexpr milliseconds poll_interval{1};
/// A closed attempt with sends still posted to its executor is settled once
/// they ran; this bounds how many times that is checked (1 ms apart).
constexpr int max_settle_polls = 1000;

milliseconds to_ms(steady::duration d) {
  return std::chrono::duration_cast<milliseconds>(d);
}

/// Replaces same-named fields of `base` with those of `fresh` and appends the rest.
void merge_headers(proto::http_headers& base, const proto::http_headers& fresh) {
  for (const auto& field : fresh.fields) {
    // A plain reference, not a structured binding: clang 14 cannot capture those.
    const std::string& name = field.first;
    auto same = [&](const auto& f) {
      return std::equal(f.first.begin(), f.first.end(), name.begin(), name.end(),
                        [](unsigned char a, unsigned char b) { return std::tolower(a) == std::tolower(b); });
    };
    std::erase_if(base.fields, same);
    base.fields.emplace_back(name, field.second);
  }
}

}  // namespace

/// One connect attempt and, if it opened, its connection.
struct attempt {
  std::unique_ptr<client> conn;
  bool opened = false;
  bool heartbeat_dead = false;
  steady::time_point opened_at{};  ///< the injected clock's reading at open
  std::optional<policy::http_refusal> refusal;
  std::error_code failure;  ///< the first error before open
  /// Sends net::client accepted but later could not write (error::not_sent):
  /// they are always the newest ones handed over, since its state only moves on.
  std::size_t not_sent = 0;
  /// Messages handed to `conn` that closewise has not yet seen leave its write
  /// buffer, oldest first, with their payload bytes.
  std::deque<queued_message> handed;
  std::size_t handed_bytes = 0;
  std::optional<close_event> ended;  ///< set once on_close arrived
  bool finished = false;             ///< its decision was taken
  int settle_polls = 0;
};

class reconnecting_client_impl : public std::enable_shared_from_this<reconnecting_client_impl> {
 public:
  using state = reconnect_state;
  using actions = std::vector<std::function<void()>>;

  reconnecting_client_impl(asio::io_context& ioc, reconnecting_client_config cfg)
      : ioc_(ioc),
        strand_(asio::make_strand(ioc)),
        cfg_(std::move(cfg)),
        queue_(cfg_.queue),
        wait_timer_(strand_),
        hb_timer_(strand_),
        drain_timer_(strand_),
        poll_timer_(strand_),
        hb_(cfg_.heartbeat) {
    if (!cfg_.uniform) cfg_.uniform = policy::random_uniform();
    if (!cfg_.clock) cfg_.clock = [] { return policy::clock_reading::now(); };
    headers_ = cfg_.connection.extra_headers;
  }

  // ---- callbacks (set before connect) --------------------------------------
  std::function<void(const open_info&)> on_open_, on_reconnected_;
  client::message_handler on_message_;
  std::function<void(const close_event&)> on_close_;
  reconnecting_client::scheduled_handler on_scheduled_;
  std::function<void(const give_up_summary&)> on_give_up_;
  std::function<void(std::error_code)> on_error_;
  reconnecting_client::credential_handler on_credentials_;
  std::function<void(std::vector<queued_message>, std::error_code)> on_undelivered_;

  // ---- public API ------------------------------------------------------------
  std::error_code connect(std::string_view url) {
    ws_url parsed;
    if (auto ec = parse_ws_url(url, parsed)) return ec;
    std::shared_ptr<attempt> att;
    {
      std::lock_guard lock(mu_);
      if (st_ != state::idle && st_ != state::stopped) return error::connect_in_progress;
      url_ = std::string(url);
      retry_.reset();
      att = begin_attempt_locked();
    }
    start(att);
    return {};
  }

  std::error_code reconnect() {
    std::shared_ptr<attempt> att;
    {
      std::lock_guard lock(mu_);
      if (st_ == state::idle) return error::not_open;
      if (st_ != state::stopped) return error::connect_in_progress;
      retry_.reset();  // ARCHITECTURE §3: giving up is a state reconnect() can leave
      att = begin_attempt_locked();
    }
    start(att);
    return {};
  }

  void network_changed() {
    std::shared_ptr<attempt> att;
    {
      std::lock_guard lock(mu_);
      if (st_ == state::waiting) {
        // The wait was for a network that is gone; the new one may work now.
        cancel(wait_timer_, wait_gen_);
        att = begin_attempt_locked();
      } else if (st_ == state::open && cur_) {
        // A connection over the old network may be dead without knowing it:
        // ask now and give it only the grace period to answer.
        if (!cur_->conn->ping("closewise-probe")) {
          hb_.probe(steady::now());
          arm_heartbeat_locked();
        }
      }
    }
    if (att) start(att);
  }

  std::error_code send(proto::message_kind kind, std::string_view payload) {
    actions a;
    std::error_code result;
    {
      std::lock_guard lock(mu_);
      if (st_ == state::stopped) return error::not_open;
      if (st_ == state::closing) return error::not_open;
      queued_message msg{kind, std::string(payload), 0};
      if (in_hooks_ && hook_thread_ == std::this_thread::get_id()) {
        // Sent from on_reconnected/on_open: goes out before the queued messages.
        msg.id = queue_.reserve_id();
        hook_msgs_.push_back(std::move(msg));
        return {};
      }
      std::vector<queued_message> evicted;
      result = queue_.push(std::move(msg), evicted);
      if (result) return result;  // the refused message is the caller's again
      if (!evicted.empty()) undelivered_locked(a, std::move(evicted), error::message_dropped);
      if (st_ == state::open) pump_locked(a);
    }
    run(a);
    return result;
  }

  std::error_code close(close_code code, std::string_view reason,
                        std::optional<milliseconds> drain) {
    if (auto ec = validate_app_close(code, reason)) return ec;
    actions a;
    std::shared_ptr<attempt> cancelled;
    {
      std::lock_guard lock(mu_);
      switch (st_) {
        case state::idle:
        case state::stopped: return error::not_open;
        case state::closing: return error::already_closing;
        case state::waiting:
          // Nothing is connected: stop at once.
          cancel(wait_timer_, wait_gen_);
          st_ = state::stopped;
          publish_locked();
          undelivered_locked(a, queue_.take_all(), error::not_sent);
          break;
        case state::connecting:
          // The attempt could open only to be closed again: cancel it. Its
          // events are not reported (the application asked for this).
          cancelled = std::move(cur_);
          st_ = state::stopped;
          publish_locked();
          undelivered_locked(a, queue_.take_all(), error::not_sent);
          break;
        case state::open:
          st_ = state::closing;
          publish_locked();
          close_started_ = false;
          close_code_ = code;
          close_reason_ = std::string(reason);
          drain_timer_.expires_after(drain.value_or(cfg_.drain_timeout));
          drain_timer_.async_wait(bind_timer(&reconnecting_client_impl::drain_expired, ++drain_gen_));
          pump_locked(a);
          break;
      }
    }
    if (cancelled) {
      (void)cancelled->conn->close();
      dispose(std::move(cancelled));
    }
    run(a);
    return {};
  }

  state get_state() const noexcept { return pub_state_.load(std::memory_order_acquire); }

  std::size_t queued() const noexcept {
    std::lock_guard lock(mu_);
    return queue_.size();
  }

  /// The destructor's half: stop everything, hand the queue back, close with 1001.
  void shutdown() {
    std::lock_guard cb(cb_mu_);  // waits for a callback running on another thread
    std::shared_ptr<attempt> att;
    std::vector<queued_message> left;
    {
      std::lock_guard lock(mu_);
      st_ = state::stopped;
      publish_locked();
      cancel(wait_timer_, wait_gen_);
      cancel(hb_timer_, hb_gen_);
      cancel(drain_timer_, drain_gen_);
      cancel(poll_timer_, poll_gen_);
      att = std::move(cur_);
      left = queue_.take_all();
      for (auto& m : hook_msgs_) left.push_back(std::move(m));
      hook_msgs_.clear();
    }
    if (!left.empty() && on_undelivered_) on_undelivered_(std::move(left), error::not_sent);
    destroyed_.store(true, std::memory_order_release);
    // net::client's destructor closes an open connection with 1001 (going away)
    // and cancels an attempt; its callbacks stop at once.
    att.reset();
  }

 private:
  // ---- attempts ---------------------------------------------------------------
  /// Creates the next attempt's client; start() connects it outside the lock,
  /// because net::client may report a failure synchronously.
  std::shared_ptr<attempt> begin_attempt_locked() {
    st_ = state::connecting;
    publish_locked();
    client_config cc = cfg_.connection;
    // The attempt timeout is max(connect_timeout, backoff): an attempt made
    // after a long wait may take as long as that wait.
    cc.connect_timeout = std::max(cc.connect_timeout, last_delay_);
    cc.handshake_timeout = std::max(cc.handshake_timeout, last_delay_);
    cc.extra_headers = headers_;
    auto att = std::make_shared<attempt>();
    att->conn = std::make_unique<client>(ioc_, std::move(cc));
    std::weak_ptr<reconnecting_client_impl> self = weak_from_this();
    std::weak_ptr<attempt> w = att;
    client& c = *att->conn;
    c.on_open([self, w](const open_info& info) {
      if (auto s = self.lock()) s->opened(w.lock(), info);
    });
    c.on_message([self, w](proto::message_kind k, std::string_view p) {
      if (auto s = self.lock()) s->message(w.lock(), k, p);
    });
    c.on_pong([self, w](std::string_view) {
      if (auto s = self.lock()) s->pong(w.lock());
    });
    // A server's ping is life too (ARCHITECTURE §4: idle means no inbound traffic).
    c.on_ping([self, w](std::string_view) {
      if (auto s = self.lock()) s->pinged(w.lock());
    });
    c.on_error([self, w](std::error_code ec) {
      if (auto s = self.lock()) s->errored(w.lock(), ec);
    });
    c.on_refused([self, w](const proto::handshake_failure& f) {
      if (auto s = self.lock()) s->refused(w.lock(), f);
    });
    c.on_close([self, w](const close_event& ev) {
      if (auto s = self.lock()) s->closed(w.lock(), ev);
    });
    cur_ = att;
    return att;
  }

  void start(const std::shared_ptr<attempt>& att) {
    std::string url;
    {
      std::lock_guard lock(mu_);
      if (cur_ != att) return;
      url = url_;
    }
    if (auto ec = att->conn->connect(url)) {
      // Only a URL error is reported synchronously, and the URL was checked.
      actions a;
      {
        std::lock_guard lock(mu_);
        if (cur_ == att) {
          cur_.reset();
          st_ = state::stopped;
          publish_locked();
          a.push_back([this, ec] { if (on_error_) on_error_(ec); });
        }
      }
      run(a);
    }
  }

  // ---- events of the current connection ------------------------------------------
  void opened(const std::shared_ptr<attempt>& att, const open_info& info) {
    bool again = false;
    {
      std::lock_guard lock(mu_);
      if (!att || cur_ != att || st_ != state::connecting) return;
      att->opened = true;
      att->opened_at = cfg_.clock().steady;
      st_ = state::open;
      publish_locked();
      again = ++connections_ > 1;
      hb_ = heartbeat(cfg_.heartbeat);
      hb_.start(steady::now(), cfg_.uniform());
      arm_heartbeat_locked();
      in_hooks_ = true;
      hook_thread_ = std::this_thread::get_id();
    }
    {
      std::lock_guard cb(cb_mu_);
      if (!destroyed()) {
        if (again && on_reconnected_) on_reconnected_(info);
        if (on_open_) on_open_(info);
      }
    }
    actions a;
    {
      std::lock_guard lock(mu_);
      in_hooks_ = false;
      // Hook messages go first, in the order they were sent.
      for (auto it = hook_msgs_.rbegin(); it != hook_msgs_.rend(); ++it)
        queue_.push_front(std::move(*it));
      hook_msgs_.clear();
      if (cur_ == att && (st_ == state::open || st_ == state::closing)) pump_locked(a);
    }
    run(a);
  }

  void message(const std::shared_ptr<attempt>& att, proto::message_kind k, std::string_view p) {
    {
      std::lock_guard lock(mu_);
      if (!att || cur_ != att) return;
      hb_.on_inbound(steady::now());  // any inbound frame is life
    }
    std::lock_guard cb(cb_mu_);
    if (!destroyed() && on_message_) on_message_(k, p);
  }

  void pong(const std::shared_ptr<attempt>& att) {
    actions a;
    {
      std::lock_guard lock(mu_);
      if (!att || cur_ != att) return;
      hb_.on_inbound(steady::now());
      if (st_ == state::open || st_ == state::closing) pump_locked(a);
    }
    run(a);
  }

  void pinged(const std::shared_ptr<attempt>& att) {
    std::lock_guard lock(mu_);
    if (!att || cur_ != att) return;
    hb_.on_inbound(steady::now());
  }

  void errored(const std::shared_ptr<attempt>& att, std::error_code ec) {
    actions a;
    {
      std::lock_guard lock(mu_);
      if (!att) return;
      if (ec == error::not_sent) {
        // A send raced the close: net::client accepted it but could not write it.
        ++att->not_sent;
        if (!att->finished) return;
        // Too late to put it back (see settle()): at least say so.
        a.push_back([this, ec] { if (on_error_) on_error_(ec); });
        return;
      }
      if (cur_ != att) return;
      if (!att->opened && !att->failure) att->failure = ec;
      a.push_back([this, ec] { if (on_error_) on_error_(ec); });
    }
    run(a);
  }

  void refused(const std::shared_ptr<attempt>& att, const proto::handshake_failure& f) {
    std::lock_guard lock(mu_);
    if (!att || cur_ != att) return;
    policy::http_refusal r;
    r.status = f.status;
    if (auto ra = f.headers.get("Retry-After")) r.retry_after = std::string(*ra);
    r.body = f.body;
    att->refusal = std::move(r);
  }

  void closed(const std::shared_ptr<attempt>& att, const close_event& ev) {
    {
      std::lock_guard lock(mu_);
      if (!att || cur_ != att || att->ended) return;
      att->ended = ev;
      cancel(hb_timer_, hb_gen_);
      cancel(poll_timer_, poll_gen_);
    }
    settle(att);
  }

  /// Finishes an ended attempt once every send posted to its connection ran,
  /// so the count of sends it could not write is final.
  void settle(const std::shared_ptr<attempt>& att, std::optional<std::uint64_t> gen = {}) {
    {
      std::lock_guard lock(mu_);
      if (cur_ != att || (gen && *gen != poll_gen_)) return;
      // net::client counts posted-but-unprocessed sends in buffered_amount()
      // until its executor ran them (and reported error::not_sent for each).
      if (att->conn->buffered_amount() > 0 && att->settle_polls++ < max_settle_polls) {
        poll_timer_.expires_after(poll_interval);
        poll_timer_.async_wait([self = shared_from_this(), att, gen = ++poll_gen_](
                                   const boost::system::error_code& ec) {
          if (!ec) self->settle(att, gen);
        });
        return;
      }
    }
    finish(att);
  }

  void finish(const std::shared_ptr<attempt>& att) {
    actions a;
    policy::outcome result;
    policy::decision d;
    close_event ev;
    bool app_close = false;
    {
      std::lock_guard lock(mu_);
      if (cur_ != att) return;
      att->finished = true;
      ev = *att->ended;
      if (att->heartbeat_dead) {
        // ARCHITECTURE §4: a dead peer is reported as 1006 with a heartbeat error.
        ev = close_event{close_code::abnormal, "", false, initiator::none, error::heartbeat_timeout};
      }
      account_handed_locked(a, *att, ev.was_clean);
      a.push_back([this, ev] { if (on_close_) on_close_(ev); });
      if (st_ == state::closing) {
        app_close = true;
      } else {
        result = outcome_of(*att, ev);
        const auto now = cfg_.clock();
        policy::attempt_report rep;
        rep.result = result;
        if (att->opened) rep.uptime = to_ms(now.steady - att->opened_at);
        rep.at = now;
        retry_.record(rep, cfg_.policy);
        d = policy::decide(result, retry_.context(), cfg_.policy, cfg_.uniform);
      }
      if (app_close || d.kind != policy::decision_kind::refresh_credentials) {
        conclude_locked(a, att, std::move(d), result, app_close);
      }
    }
    if (!app_close && d.kind == policy::decision_kind::refresh_credentials) {
      // The hook is the application's code: call it outside the lock, in order
      // after on_close.
      run(a);
      std::optional<proto::http_headers> fresh;
      {
        std::lock_guard cb(cb_mu_);
        if (!destroyed() && on_credentials_) fresh = on_credentials_(result);
      }
      std::lock_guard lock(mu_);
      if (cur_ != att) return;
      if (fresh) merge_headers(headers_, *fresh);
      conclude_locked(a, att, policy::resolve_credential_refresh(std::move(d), fresh.has_value()),
                      result, st_ == state::closing);
    }
    run(a);
  }

  /// Acts on the decision for `att`: wait and retry, or stop.
  void conclude_locked(actions& a, const std::shared_ptr<attempt>& att, policy::decision d,
                       const policy::outcome& result, bool app_close) {
    cur_.reset();
    dispose(att);
    if (app_close || st_ == state::stopped) {
      // close() was called: it never reconnects afterwards.
      st_ = state::stopped;
      publish_locked();
      undelivered_locked(a, queue_.take_all(), error::not_sent);
      return;
    }
    retry_.commit(d);
    if (d.retries()) {
      st_ = state::waiting;
      publish_locked();
      last_delay_ = d.delay;
      const auto n = retry_.context().attempt;
      a.push_back([this, n, delay = d.delay, cause = d.cause] {
        if (on_scheduled_) on_scheduled_(n, delay, cause);
      });
      // The wait starts once the application has heard of it, so a delay
      // measured from on_reconnect_scheduled is never shorter than reported.
      a.push_back([this, delay = d.delay, gen = ++wait_gen_] {
        std::lock_guard lock(mu_);
        if (st_ != state::waiting || gen != wait_gen_) return;  // close() or network_changed()
        wait_timer_.expires_after(delay);
        wait_timer_.async_wait(bind_timer(&reconnecting_client_impl::wait_over, gen));
      });
      return;
    }
    st_ = state::stopped;
    publish_locked();
    give_up_summary s;
    s.reason = d.reason;
    s.attempts = retry_.context().attempt + 1;  // the retries of the streak and the first try
    s.last_outcome = result;
    auto left = queue_.take_all();
    if (on_undelivered_) {
      undelivered_locked(a, std::move(left), error::not_sent);
    } else {
      s.undelivered = std::move(left);
    }
    a.push_back([this, s = std::move(s)] { if (on_give_up_) on_give_up_(s); });
  }

  /// What the policy sees: the close of an opened connection; for an attempt
  /// that failed before opening, the refusal or the transport failure, never
  /// its synthetic 1006.
  static policy::outcome outcome_of(const attempt& att, const close_event& ev) {
    if (att.opened) return ev;
    if (att.refusal) return *att.refusal;
    const std::error_code why = att.failure ? att.failure : ev.error;
    if (auto f = policy::transport_failure_from(why)) return *f;
    return ev;  // a handshake the server got wrong (bad accept, ...): 1006, retried
  }

  /// Settles the messages handed to a connection that ended (docs/reconnect.md,
  /// "Queued messages"): those it could not write go back to the front of the
  /// queue in order; after a clean close the others reached the peer; after an
  /// unclean one, those closewise had not seen leave its buffer are handed back.
  void account_handed_locked(actions& a, attempt& att, bool clean) {
    std::deque<queued_message>& h = att.handed;
    const std::size_t failed = std::min(att.not_sent, h.size());
    for (std::size_t i = 0; i < failed; ++i) {
      queue_.push_front(std::move(h.back()));
      h.pop_back();
    }
    if (att.not_sent > failed) {
      // Cannot happen while sends are only trimmed after they left the buffer;
      // if it ever does, the application is told rather than left guessing.
      a.push_back([this] { if (on_error_) on_error_(error::not_sent); });
    }
    if (!clean && !h.empty()) {
      std::vector<queued_message> back(std::make_move_iterator(h.begin()),
                                       std::make_move_iterator(h.end()));
      undelivered_locked(a, std::move(back), error::not_sent);
    }
    h.clear();
    att.handed_bytes = 0;
    att.not_sent = 0;
  }

  // ---- sending -------------------------------------------------------------------
  /// Hands queued messages to the open connection, oldest first, while the
  /// unconfirmed window has room; starts the close once close() drained it.
  void pump_locked(actions& a) {
    const auto att = cur_;
    if (!att || !att->opened || att->ended) return;
    trim_locked(*att);
    bool stalled = false;
    while (!queue_.empty()) {
      if (att->handed_bytes >= cfg_.max_unconfirmed_bytes) {
        stalled = true;
        break;
      }
      if (att->conn->state() != proto::state::open) return;  // its close will account
      const queued_message& m = queue_.front();
      const auto ec = att->conn->send(m.kind, m.data);
      if (ec == error::queue_full) {
        stalled = true;
        break;
      }
      if (ec) return;  // closing: the message stays queued for the next connection
      queued_message sent = queue_.pop();
      att->handed_bytes += sent.data.size();
      att->handed.push_back(std::move(sent));
    }
    if (stalled) {
      poll_timer_.expires_after(poll_interval);
      poll_timer_.async_wait(bind_timer(&reconnecting_client_impl::poll_again, ++poll_gen_));
      return;
    }
    if (st_ == state::closing && !close_started_) start_close_locked(a);
  }

  /// Forgets messages the connection has written out: once its write buffer is
  /// empty and no send is still posted to it, they are in the kernel's hands.
  void trim_locked(attempt& att) {
    if (att.handed.empty() || att.not_sent != 0) return;
    if (att.conn->state() != proto::state::open || att.conn->buffered_amount() != 0) return;
    att.handed.clear();
    att.handed_bytes = 0;
  }

  void start_close_locked(actions& a) {
    close_started_ = true;
    cancel(drain_timer_, drain_gen_);
    a.push_back([att = cur_, code = close_code_, reason = close_reason_] {
      if (att) (void)att->conn->close(code, reason);
    });
  }

  // ---- timers (on the strand) ------------------------------------------------------
  /// A timer handler gets the generation it was armed with and ignores itself
  /// when the timer was cancelled or re-armed since (checked under the lock).
  using timer_fn = void (reconnecting_client_impl::*)(std::uint64_t);
  std::function<void(const boost::system::error_code&)> bind_timer(timer_fn fn, std::uint64_t gen) {
    return [self = shared_from_this(), fn, gen](const boost::system::error_code& ec) {
      if (ec || self->destroyed()) return;
      (self.get()->*fn)(gen);
    };
  }

  void wait_over(std::uint64_t gen) {
    std::shared_ptr<attempt> att;
    {
      std::lock_guard lock(mu_);
      if (st_ != state::waiting || gen != wait_gen_) return;
      att = begin_attempt_locked();
    }
    start(att);
  }

  void drain_expired(std::uint64_t gen) {
    actions a;
    {
      std::lock_guard lock(mu_);
      if (st_ != state::closing || close_started_ || gen != drain_gen_) return;
      // The deadline passed: what is still queued is handed back, then we close.
      undelivered_locked(a, queue_.take_all(), error::not_sent);
      start_close_locked(a);
    }
    run(a);
  }

  void poll_again(std::uint64_t gen) {
    actions a;
    {
      std::lock_guard lock(mu_);
      if (gen != poll_gen_) return;
      if (st_ == state::open || st_ == state::closing) pump_locked(a);
    }
    run(a);
  }

  void arm_heartbeat_locked() {
    if (!cfg_.heartbeat.enabled()) return;
    hb_timer_.expires_at(hb_.next_wakeup());
    hb_timer_.async_wait(bind_timer(&reconnecting_client_impl::heartbeat_tick, ++hb_gen_));
  }

  void heartbeat_tick(std::uint64_t gen) {
    std::shared_ptr<attempt> dead;
    actions a;
    {
      std::lock_guard lock(mu_);
      if (gen != hb_gen_ || !cur_ || !cur_->opened || cur_->ended) return;
      const auto now = steady::now();
      if (now < hb_.next_wakeup()) {  // a newer frame moved the deadline
        arm_heartbeat_locked();
        return;
      }
      switch (hb_.poll(now)) {
        case heartbeat::action::timeout:
          cur_->heartbeat_dead = true;
          dead = cur_;
          break;
        case heartbeat::action::send_ping:
          (void)cur_->conn->ping();
          [[fallthrough]];
        case heartbeat::action::none: arm_heartbeat_locked(); break;
      }
      // Also a chance to notice that the write buffer drained.
      if (st_ == state::open || st_ == state::closing) pump_locked(a);
    }
    // A dead peer cannot answer a close handshake: drop TCP (reported as 1006).
    if (dead) dead->conn->abort();
    run(a);
  }

  /// Cancels a timer; the generation makes a completion already queued stale.
  static void cancel(asio::steady_timer& t, std::uint64_t& gen) {
    ++gen;
    t.cancel();
  }

  // ---- helpers ----------------------------------------------------------------------
  void undelivered_locked(actions& a, std::vector<queued_message> msgs, std::error_code why) {
    if (msgs.empty()) return;
    a.push_back([this, m = std::move(msgs), why]() mutable {
      if (on_undelivered_) on_undelivered_(std::move(m), why);
    });
  }

  /// Runs callbacks outside the state lock, one at a time across threads.
  void run(actions& a) {
    if (a.empty()) return;
    std::lock_guard cb(cb_mu_);
    for (auto& f : a) {
      if (destroyed()) break;
      f();
    }
    a.clear();
  }

  /// Releases an attempt off any callback stack: net::client's destructor may
  /// close or cancel, which must not run inside that client's own handler.
  void dispose(std::shared_ptr<attempt> att) {
    if (!att) return;
    asio::post(strand_, [att = std::move(att)]() mutable { att.reset(); });
  }

  void publish_locked() { pub_state_.store(st_, std::memory_order_release); }
  bool destroyed() const noexcept { return destroyed_.load(std::memory_order_acquire); }

  asio::io_context& ioc_;
  asio::strand<asio::io_context::executor_type> strand_;
  reconnecting_client_config cfg_;

  mutable std::mutex mu_;           ///< guards everything below
  std::recursive_mutex cb_mu_;      ///< serializes callbacks (re-entered from inside one)
  std::atomic<bool> destroyed_{false};
  std::atomic<state> pub_state_{state::idle};

  state st_ = state::idle;
  std::string url_;
  send_queue queue_;
  policy::retry_state retry_;
  std::shared_ptr<attempt> cur_;
  proto::http_headers headers_;     ///< request headers, refreshed by the credential hook
  std::uint64_t connections_ = 0;   ///< connections that opened, ever
  milliseconds last_delay_{0};
  asio::steady_timer wait_timer_, hb_timer_, drain_timer_, poll_timer_;
  std::uint64_t wait_gen_ = 0, hb_gen_ = 0, drain_gen_ = 0, poll_gen_ = 0;
  heartbeat hb_;
  close_code close_code_ = close_code::normal;
  std::string close_reason_;
  bool close_started_ = false;
  bool in_hooks_ = false;
  std::thread::id hook_thread_;
  std::vector<queued_message> hook_msgs_;
};

}  // namespace detail

reconnecting_client::reconnecting_client(boost::asio::io_context& ioc,
                                         reconnecting_client_config cfg)
    : impl_(std::make_shared<detail::reconnecting_client_impl>(ioc, std::move(cfg))) {}

reconnecting_client::~reconnecting_client() { impl_->shutdown(); }

void reconnecting_client::on_open(std::function<void(const open_info&)> f) {
  impl_->on_open_ = std::move(f);
}
void reconnecting_client::on_message(client::message_handler f) { impl_->on_message_ = std::move(f); }
void reconnecting_client::on_close(std::function<void(const close_event&)> f) {
  impl_->on_close_ = std::move(f);
}
void reconnecting_client::on_reconnect_scheduled(scheduled_handler f) {
  impl_->on_scheduled_ = std::move(f);
}
void reconnecting_client::on_give_up(std::function<void(const give_up_summary&)> f) {
  impl_->on_give_up_ = std::move(f);
}
void reconnecting_client::on_error(std::function<void(std::error_code)> f) {
  impl_->on_error_ = std::move(f);
}
void reconnecting_client::on_reconnected(std::function<void(const open_info&)> f) {
  impl_->on_reconnected_ = std::move(f);
}
void reconnecting_client::on_credentials_refresh(credential_handler f) {
  impl_->on_credentials_ = std::move(f);
}
void reconnecting_client::on_undelivered(
    std::function<void(std::vector<queued_message>, std::error_code)> f) {
  impl_->on_undelivered_ = std::move(f);
}

std::error_code reconnecting_client::connect(std::string_view url) { return impl_->connect(url); }
std::error_code reconnecting_client::reconnect() { return impl_->reconnect(); }
void reconnecting_client::network_changed() { impl_->network_changed(); }
std::error_code reconnecting_client::send(proto::message_kind kind, std::string_view payload) {
  return impl_->send(kind, payload);
}
std::error_code reconnecting_client::close(close_code code, std::string_view reason,
                                           std::optional<std::chrono::milliseconds> drain) {
  return impl_->close(code, reason, drain);
}
reconnecting_client::state reconnecting_client::get_state() const noexcept {
  return impl_->get_state();
}
std::size_t reconnecting_client::queued() const noexcept { return impl_->queued(); }

}  // namespace closewise::net

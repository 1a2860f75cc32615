// One connect attempt of a reconnecting client: its net::client, its events,
// and the policy decision its end leads to (ARCHITECTURE §3).
#include <algorithm>
#include <cctype>

#include "closewise/error.hpp"
#include "reconnecting_client_impl.hpp"

namespace closewise::net::detail {
namespace {

std::chrono::milliseconds to_ms(steady::duration d) {
  return std::chrono::duration_cast<std::chrono::milliseconds>(d);
}

/// Replaces same-named fields of `base` with those of `fresh` and appends the rest.
void merge_headers(proto::http_headers& base, const proto::http_headers& fresh) {
  for (const auto& field : fresh.fields) {
    // A plain reference, not a structured binding: clang 14 cannot capture those.
    const std::string& name = field.first;
    auto same = [&](const auto& f) {
      return std::equal(
          f.first.begin(), f.first.end(), name.begin(), name.end(),
          [](unsigned char a, unsigned char b) { return std::tolower(a) == std::tolower(b); });
    };
    std::erase_if(base.fields, same);
    base.fields.emplace_back(name, field.second);
  }
}

}  // namespace

/// Creates the next attempt's client; start() connects it outside the lock,
/// because net::client may report a failure synchronously.
std::shared_ptr<attempt> reconnecting_client_impl::begin_attempt_locked() {
  st_ = state::connecting;
  publish_locked();
  client_config cc = cfg_.connection;
  // The attempt timeout is max(connect_timeout, backoff): an attempt made
  // after a long wait may take as long as that wait.
  cc.connect_timeout = std::max(cc.connect_timeout, last_delay_);
  cc.handshake_timeout = std::max(cc.handshake_timeout, last_delay_);
  cc.extra_headers = headers_;
  // The connection runs the heartbeat (one implementation for client and
  // server); its first ping is jittered with the injected randomness.
  cc.heartbeat = cfg_.heartbeat;
  cc.uniform = [u = cfg_.uniform()] { return u; };
  cc.resume = resume_;
  cc.observer = conn_obs_;
  if (obs_) obs_->reconnect_attempt();
  auto att = std::make_shared<attempt>();
  att->conn = std::make_unique<client>(ioc_, std::move(cc));
  wire(*att->conn, att);
  cur_ = att;
  return att;
}

void reconnecting_client_impl::wire(client& c, const std::shared_ptr<attempt>& att) {
  std::weak_ptr<reconnecting_client_impl> self = weak_from_this();
  std::weak_ptr<attempt> w = att;
  c.on_open([self, w](const open_info& info) {
    if (auto s = self.lock()) s->opened(w.lock(), info);
  });
  c.on_message([self, w](proto::message_kind k, std::string_view p) {
    if (auto s = self.lock()) s->message(w.lock(), k, p);
  });
  c.on_error([self, w](std::error_code ec) {
    if (auto s = self.lock()) s->errored(w.lock(), ec);
  });
  c.on_refused([self, w](const proto::handshake_failure& f) {
    if (auto s = self.lock()) s->refused(w.lock(), f);
  });
  // The write buffer emptied: what was handed is in the kernel's hands, and
  // the window has room again.
  c.on_drain([self, w] {
    if (auto s = self.lock()) s->drained(w.lock());
  });
  // A handed message lost the race with a close: it goes back into the queue.
  c.on_undelivered([self, w](proto::message_kind, std::string_view, std::error_code) {
    if (auto s = self.lock()) s->handed_back(w.lock());
  });
  if (resume_) {
    c.on_resume([self, w](resume::client_outcome& o) {
      if (auto s = self.lock()) s->resumed(w.lock(), o);
    });
  }
  c.on_close([self, w](const close_event& ev) {
    if (auto s = self.lock()) s->closed(w.lock(), ev);
  });
}

void reconnecting_client_impl::start(const std::shared_ptr<attempt>& att) {
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
        a.push_back([this, ec] {
          if (on_error_) on_error_(ec);
        });
      }
    }
    run(a);
  }
}

// ---------------------------------------------------------------- events --

void reconnecting_client_impl::opened(const std::shared_ptr<attempt>& att, const open_info& info) {
  bool again = false;
  {
    std::lock_guard lock(mu_);
    if (!att || cur_ != att || st_ != state::connecting) return;
    att->opened = true;
    att->opened_at = cfg_.clock().steady;
    st_ = state::open;
    publish_locked();
    again = ++connections_ > 1;
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

void reconnecting_client_impl::message(const std::shared_ptr<attempt>& att, proto::message_kind k,
                                       std::string_view p) {
  {
    std::lock_guard lock(mu_);
    if (!att || cur_ != att) return;
  }
  std::lock_guard cb(cb_mu_);
  if (!destroyed() && on_message_) on_message_(k, p);
}

void reconnecting_client_impl::errored(const std::shared_ptr<attempt>& att, std::error_code ec) {
  actions a;
  {
    std::lock_guard lock(mu_);
    if (!att || cur_ != att) return;
    if (!att->opened && !att->failure) att->failure = ec;
    a.push_back([this, ec] {
      if (on_error_) on_error_(ec);
    });
  }
  run(a);
}

void reconnecting_client_impl::refused(const std::shared_ptr<attempt>& att,
                                       const proto::handshake_failure& f) {
  std::lock_guard lock(mu_);
  if (!att || cur_ != att) return;
  policy::http_refusal r;
  r.status = f.status;
  if (auto ra = f.headers.get("Retry-After")) r.retry_after = std::string(*ra);
  r.body = f.body;
  att->refusal = std::move(r);
}

// ------------------------------------------------------------ the decision --

void reconnecting_client_impl::closed(const std::shared_ptr<attempt>& att, const close_event& ev) {
  actions a;
  policy::outcome result;
  policy::decision d;
  bool app_close = false;
  {
    std::lock_guard lock(mu_);
    if (!att || cur_ != att || att->ended) return;
    att->ended = ev;
    att->finished = true;
    // net::client handed back every refused message before this on_close.
    account_handed_locked(a, *att, ev.was_clean);
    a.push_back([this, ev] {
      if (on_close_) on_close_(ev);
    });
    app_close = st_ == state::closing;
    if (!app_close) {
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
    // The hook is the application's code: call it outside the lock, in order after on_close.
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
void reconnecting_client_impl::conclude_locked(actions& a, const std::shared_ptr<attempt>& att,
                                               policy::decision d, const policy::outcome& result,
                                               bool app_close) {
  cur_.reset();
  dispose(att);
  settle_session_locked(a, *att, !app_close && st_ != state::stopped && d.retries());
  if (app_close || st_ == state::stopped) {
    // close() was called: it never reconnects afterwards.
    st_ = state::stopped;
    publish_locked();
    undelivered_locked(a, queue_.take_all(), error::not_sent);
    return;
  }
  retry_.commit(d);
  if (d.retries()) {
    schedule_retry_locked(a, d);
  } else {
    give_up_locked(a, d, result);
  }
}

void reconnecting_client_impl::schedule_retry_locked(actions& a, const policy::decision& d) {
  st_ = state::waiting;
  publish_locked();
  last_delay_ = d.delay;
  const auto n = retry_.context().attempt;
  if (obs_) obs_->reconnect_scheduled(d.delay, d.cause);
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
}

void reconnecting_client_impl::give_up_locked(actions& a, const policy::decision& d,
                                              const policy::outcome& result) {
  st_ = state::stopped;
  publish_locked();
  give_up_summary s;
  s.reason = d.reason;
  s.attempts = retry_.context().attempt + 1;  // the retries of the streak and the first try
  s.last_outcome = result;
  if (obs_) obs_->gave_up(d.cause);
  auto left = queue_.take_all();
  if (obs_ && !on_undelivered_ && !left.empty()) obs_->undelivered(error::not_sent, left.size());
  if (on_undelivered_) {
    undelivered_locked(a, std::move(left), error::not_sent);
  } else {
    s.undelivered = std::move(left);
  }
  a.push_back([this, s = std::move(s)] {
    if (on_give_up_) on_give_up_(s);
  });
}

/// What the policy sees: the close of an opened connection; for an attempt
/// that failed before opening, the refusal or the transport failure, never
/// its synthetic 1006.
policy::outcome reconnecting_client_impl::outcome_of(const attempt& att, const close_event& ev) {
  if (att.opened) return ev;
  if (att.refusal) return *att.refusal;
  const std::error_code why = att.failure ? att.failure : ev.error;
  if (auto f = policy::transport_failure_from(why)) return *f;
  return ev;  // a handshake the server got wrong (bad accept, ...): 1006, retried
}

}  // namespace closewise::net::detail

#include "closewise/net/reconnecting_client.hpp"

#include <utility>

#include <boost/asio/post.hpp>

#include "closewise/error.hpp"
#include "closewise/net/url.hpp"
#include "connection_observer.hpp"
#include "reconnecting_client_impl.hpp"

namespace closewise::net {

std::string_view to_string(reconnect_state s) noexcept {
  switch (s) {
    case reconnect_state::idle:
      return "idle";
    case reconnect_state::connecting:
      return "connecting";
    case reconnect_state::open:
      return "open";
    case reconnect_state::closing:
      return "closing";
    case reconnect_state::waiting:
      return "waiting";
    case reconnect_state::stopped:
      return "stopped";
  }
  return "unknown";
}

namespace detail {
namespace asio = boost::asio;

reconnecting_client_impl::reconnecting_client_impl(asio::io_context& ioc,
                                                   reconnecting_client_config cfg)
    : ioc_(ioc),
      strand_(asio::make_strand(ioc)),
      cfg_(std::move(cfg)),
      queue_(cfg_.queue),
      wait_timer_(strand_),
      drain_timer_(strand_) {
  if (!cfg_.uniform) cfg_.uniform = policy::random_uniform();
  if (!cfg_.clock) cfg_.clock = [] { return policy::clock_reading::now(); };
  headers_ = cfg_.connection.extra_headers;
  if (cfg_.resume) resume_ = std::make_shared<client_resume>(*cfg_.resume);
  obs_ = cfg_.observer ? cfg_.observer : cfg_.connection.observer;
  cfg_.connection.observer = nullptr;
  if (obs_) conn_obs_ = connection_observer(obs_);
}

std::error_code reconnecting_client_impl::connect(std::string_view url) {
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

std::error_code reconnecting_client_impl::reconnect() {
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

void reconnecting_client_impl::network_changed() {
  std::shared_ptr<attempt> att;
  actions a;
  {
    std::lock_guard lock(mu_);
    if (st_ == state::waiting) {
      // The wait was for a network that is gone; the new one may work now.
      cancel(wait_timer_, wait_gen_);
      expire_session_locked(a);
      att = begin_attempt_locked();
    } else if (st_ == state::open && cur_) {
      // A connection over the old network may be dead without knowing it:
      // ask now and give it only the heartbeat's grace to answer.
      (void)cur_->conn->probe("closewise-probe");
    }
  }
  run(a);
  if (att) start(att);
}

std::error_code reconnecting_client_impl::send(proto::message_kind kind, std::string_view payload) {
  std::string copy(payload);
  return send_owned(kind, copy);
}

std::error_code reconnecting_client_impl::send_owned(proto::message_kind kind,
                                                     std::string& payload) {
  actions a;
  std::error_code result;
  {
    std::lock_guard lock(mu_);
    if (st_ == state::stopped || st_ == state::closing) return error::not_open;
    queued_message msg{kind, std::move(payload), 0};
    if (in_hooks_ && hook_thread_ == std::this_thread::get_id()) {
      // Sent from on_reconnected/on_open: goes out before the queued messages.
      msg.id = queue_.reserve_id();
      hook_msgs_.push_back(std::move(msg));
      return {};
    }
    std::vector<queued_message> evicted;
    result = queue_.push(std::move(msg), evicted);
    if (result) {  // the refused message (evicted last) is the caller's again
      payload = std::move(evicted.back().data);
      return result;
    }
    if (!evicted.empty()) undelivered_locked(a, std::move(evicted), error::message_dropped);
    if (st_ == state::open) pump_locked(a);
  }
  run(a);
  return result;
}

std::error_code reconnecting_client_impl::close(close_code code, std::string_view reason,
                                                std::optional<std::chrono::milliseconds> drain) {
  if (auto ec = validate_app_close(code, reason)) return ec;
  actions a;
  std::shared_ptr<attempt> cancelled;
  {
    std::lock_guard lock(mu_);
    switch (st_) {
      case state::idle:
      case state::stopped:
        return error::not_open;
      case state::closing:
        return error::already_closing;
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

std::size_t reconnecting_client_impl::queued() const noexcept {
  std::lock_guard lock(mu_);
  return queue_.size();
}

void reconnecting_client_impl::shutdown() {
  std::lock_guard cb(cb_mu_);  // waits for a callback running on another thread
  std::shared_ptr<attempt> att;
  std::vector<queued_message> left;
  actions a;
  {
    std::lock_guard lock(mu_);
    st_ = state::stopped;
    publish_locked();
    cancel(wait_timer_, wait_gen_);
    cancel(drain_timer_, drain_gen_);
    att = std::move(cur_);
    left = queue_.take_all();
    for (auto& m : hook_msgs_) left.push_back(std::move(m));
    hook_msgs_.clear();
  }
  // What arrived is acked before the session ends (its 1001 below ends it on
  // the server too), so the server keeps nothing as "maybe lost" that the
  // application here has. conn lives as long as the attempt.
  if (att && att->conn) att->conn->ack_now();
  {
    std::lock_guard lock(mu_);
    end_session_locked(a);
  }
  run(a);
  if (obs_) {
    note_depth();
    if (!left.empty()) obs_->undelivered(error::not_sent, left.size());
  }
  if (!left.empty() && on_undelivered_) on_undelivered_(std::move(left), error::not_sent);
  destroyed_.store(true, std::memory_order_release);
  // net::client's destructor closes an open connection with 1001 (going away)
  // and cancels an attempt; its callbacks stop at once.
  att.reset();
}

// ------------------------------------------------------------------- timers --

std::function<void(const boost::system::error_code&)> reconnecting_client_impl::bind_timer(
    timer_fn fn, std::uint64_t gen) {
  // The handler gets the generation it was armed with and ignores itself when
  // the timer was cancelled or re-armed since (checked under the lock).
  return [self = shared_from_this(), fn, gen](const boost::system::error_code& ec) {
    if (ec || self->destroyed()) return;
    (self.get()->*fn)(gen);
  };
}

void reconnecting_client_impl::wait_over(std::uint64_t gen) {
  std::shared_ptr<attempt> att;
  actions a;
  {
    std::lock_guard lock(mu_);
    if (st_ != state::waiting || gen != wait_gen_) return;
    expire_session_locked(a);  // the new connection then offers a fresh session
    att = begin_attempt_locked();
  }
  run(a);
  start(att);
}

void reconnecting_client_impl::drain_expired(std::uint64_t gen) {
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

void reconnecting_client_impl::cancel(asio::steady_timer& t, std::uint64_t& gen) {
  ++gen;
  t.cancel();
}

// ------------------------------------------------------------------ helpers --

void reconnecting_client_impl::run(actions& a) {
  // Every change of the queue ends here (or in shutdown()), so its depth is reported here.
  if (obs_) note_depth();
  // Callbacks run outside the state lock, one at a time across threads.
  if (a.empty()) return;
  std::lock_guard cb(cb_mu_);
  for (auto& f : a) {
    if (destroyed()) break;
    f();
  }
  a.clear();
}

void reconnecting_client_impl::note_depth() {
  std::ptrdiff_t delta = 0;
  {
    std::lock_guard lock(mu_);
    const auto now = static_cast<std::ptrdiff_t>(queue_.size());
    delta = now - std::exchange(reported_depth_, now);
  }
  // Deltas add up in any order, so reports from two threads cannot skew the sum.
  if (delta != 0) obs_->queue_depth_changed(delta);
}

void reconnecting_client_impl::dispose(std::shared_ptr<attempt> att) {
  // Off any callback stack: net::client's destructor may close or cancel,
  // which must not run inside that client's own handler.
  if (!att) return;
  asio::post(strand_, [att = std::move(att)]() mutable { att.reset(); });
}

}  // namespace detail

reconnecting_client::reconnecting_client(boost::asio::io_context& ioc,
                                         reconnecting_client_config cfg)
    : impl_(std::make_shared<detail::reconnecting_client_impl>(ioc, std::move(cfg))) {}

reconnecting_client::~reconnecting_client() { impl_->shutdown(); }

void reconnecting_client::on_open(std::function<void(const open_info&)> f) {
  impl_->on_open_ = std::move(f);
}
void reconnecting_client::on_message(client::message_handler f) {
  impl_->on_message_ = std::move(f);
}
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
void reconnecting_client::on_resume(std::function<void(const resume::client_outcome&)> f) {
  impl_->on_resume_ = std::move(f);
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
std::error_code reconnecting_client::send_owned(proto::message_kind kind, std::string& payload) {
  return impl_->send_owned(kind, payload);
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

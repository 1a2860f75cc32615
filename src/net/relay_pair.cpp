#include "relay_pair.hpp"

#include "closewise/error.hpp"
#include "relay_impl.hpp"

namespace closewise::net::detail {

relay_pair::relay_pair(std::shared_ptr<relay_impl> owner, std::shared_ptr<session> down,
                       client_config cfg)
    : owner_(std::move(owner)),
      down_(std::move(down)),
      up_(owner_->ioc(), std::move(cfg)),
      id_(down_->id()) {}

void relay_pair::start(const std::string& url) {
  std::weak_ptr<relay_pair> w = weak_from_this();
  up_.on_open([w](const open_info& info) {
    if (auto p = w.lock()) p->upstream_opened(info);
  });
  up_.on_message([w](proto::message_kind k, std::string_view m) {
    if (auto p = w.lock()) p->from_upstream(k, m);
  });
  up_.on_drain([w] {
    // The upstream took what the client sent: read the client again.
    if (auto p = w.lock()) p->down_->resume_reading();
  });
  up_.on_refused([w](const proto::handshake_failure& f) {
    if (auto p = w.lock()) p->up_status_ = f.status;
  });
  up_.on_error([w](std::error_code ec) {
    if (auto p = w.lock(); p && !p->up_error_) p->up_error_ = ec;
  });
  up_.on_undelivered([w](proto::message_kind, std::string_view, std::error_code) {
    if (auto p = w.lock()) p->owner_->dropped.fetch_add(1, std::memory_order_relaxed);
  });
  up_.on_close([w](const close_event& ev) {
    if (auto p = w.lock()) p->upstream_ended(ev);
  });
  if (auto ec = up_.connect(url)) {
    // Checked when the relay was made; a URL built from it cannot fail here.
    up_error_ = ec;
    upstream_ended(close_event{});
  }
}

// ------------------------------------------------------------ client -> up --

void relay_pair::from_client(proto::message_kind kind, std::string_view payload) {
  {
    std::lock_guard lock(mu_);
    // Bytes the client sent right behind its request, before the pause took
    // effect: bounded by one read, kept until the upstream opens.
    if (phase_ == up_phase::connecting) {
      early_.emplace_back(kind, std::string(payload));
      return;
    }
  }
  if (up_.send(kind, payload)) {
    owner_->dropped.fetch_add(1, std::memory_order_relaxed);
    return;
  }
  owner_->to_upstream.fetch_add(1, std::memory_order_relaxed);
  hold_client_if_full();
}

void relay_pair::hold_client_if_full() {
  if (up_.buffered_amount() <= owner_->cfg.high_water) return;
  down_->pause_reading();
  owner_->client_pauses.fetch_add(1, std::memory_order_relaxed);
  // The upstream's on_drain may have run between the check and the pause
  // (another thread): look again, or the client would stay paused for good.
  if (up_.buffered_amount() <= owner_->cfg.high_water) down_->resume_reading();
}

void relay_pair::client_drained() { up_.resume_reading(); }

// ------------------------------------------------------------ up -> client --

void relay_pair::upstream_opened(const open_info& info) {
  std::vector<std::pair<proto::message_kind, std::string>> early;
  {
    std::lock_guard lock(mu_);
    phase_ = up_phase::open;
    early.swap(early_);
  }
  // RFC 6455 §4.1: the client was answered with its first offer; an upstream
  // that chose otherwise would speak a protocol the client did not agree to.
  if (info.subprotocol != down_->subprotocol()) {
    if (!take_closer(closer::relay)) return;
    owner_->upstream_failed.fetch_add(1, std::memory_order_relaxed);
    (void)up_.close_relay(close_code::going_away, "subprotocol mismatch");
    (void)down_->close_relay(close_code::bad_gateway, "upstream chose another subprotocol");
    return;
  }
  for (auto& [kind, payload] : early) {
    if (up_.send(kind, payload))
      owner_->dropped.fetch_add(1, std::memory_order_relaxed);
    else
      owner_->to_upstream.fetch_add(1, std::memory_order_relaxed);
  }
  // The client was paused until now; its reading resumes unless the early
  // messages already filled the upstream's buffer (then on_drain resumes it).
  if (up_.buffered_amount() <= owner_->cfg.high_water) down_->resume_reading();
}

void relay_pair::from_upstream(proto::message_kind kind, std::string_view payload) {
  if (down_->send(kind, payload)) {
    owner_->dropped.fetch_add(1, std::memory_order_relaxed);
    return;
  }
  owner_->to_client.fetch_add(1, std::memory_order_relaxed);
  hold_upstream_if_full();
}

void relay_pair::hold_upstream_if_full() {
  if (down_->buffered_amount() <= owner_->cfg.high_water) return;
  up_.pause_reading();
  owner_->upstream_pauses.fetch_add(1, std::memory_order_relaxed);
  // As hold_client_if_full: the server's on_drain may have run meanwhile.
  if (down_->buffered_amount() <= owner_->cfg.high_water) up_.resume_reading();
}

// ------------------------------------------------------------------ closes --

bool relay_pair::take_closer(closer who) noexcept {
  closer expected = closer::none;
  return closer_.compare_exchange_strong(expected, who);
}

void relay_pair::client_ended(const close_event& ev) {
  if (take_closer(closer::client)) {
    if (ev.code == close_code::abnormal || ev.code == close_code::tls_handshake) {
      // No close frame came from the client (TCP drop, timeout): there is no
      // code to pass on, so the upstream sees the same drop (1006).
      up_.abort();
    } else if (ev.initiator == initiator::local) {
      // The proxy failed the client itself (1002, 1007, 1009): that code
      // describes the client, not the upstream.
      (void)up_.close_relay(close_code::going_away,
                            "client failed with " + std::to_string(to_int(ev.code)));
    } else if (auto ec = up_.close_relay(ev.code, ev.reason); ec == error::not_open) {
      up_.abort();  // still connecting: the attempt is cancelled
    }
  }
  side_ended();
}

std::pair<close_code, std::string> relay_pair::close_for_client(const close_event& ev,
                                                                bool opened) const {
  if (!opened) return {close_code::bad_gateway, upstream_failure_reason(up_error_, up_status_)};
  if (ev.code == close_code::abnormal || ev.code == close_code::tls_handshake)
    return {close_code::bad_gateway, "upstream closed without a close frame"};
  if (ev.initiator == initiator::local) {
    // Our upstream connection failed the upstream (1002, 1007, 1009 sent by us).
    return {close_code::bad_gateway,
            "upstream broke the protocol (" + std::to_string(to_int(ev.code)) + ")"};
  }
  return {ev.code, ev.reason};  // exactly what the upstream sent (1005: an empty close)
}

void relay_pair::upstream_ended(const close_event& ev) {
  bool opened = false;
  {
    std::lock_guard lock(mu_);
    opened = phase_ == up_phase::open;
    phase_ = up_phase::ended;
    early_.clear();
  }
  if (take_closer(closer::upstream)) {
    auto [code, reason] = close_for_client(ev, opened);
    if (code == close_code::bad_gateway)
      owner_->upstream_failed.fetch_add(1, std::memory_order_relaxed);
    // Refused only when the client is already closing: its own close goes on.
    (void)down_->close_relay(code, reason);
  }
  side_ended();
}

void relay_pair::go_away(const std::string& reason) {
  if (!take_closer(closer::relay)) return;
  if (up_.close_relay(close_code::going_away, reason)) up_.abort();
}

void relay_pair::side_ended() {
  if (ended_sides_.fetch_add(1, std::memory_order_acq_rel) + 1 == 2) owner_->finished(id_);
}

}  // namespace closewise::net::detail

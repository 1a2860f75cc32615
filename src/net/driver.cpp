#include "driver.hpp"

#include <utility>

#include "closewise/error.hpp"

namespace closewise::net::detail {
namespace {

/// The driver whose handler runs on this thread (see driver::scope).
thread_local const driver* current_driver = nullptr;

}  // namespace

// ------------------------------------------------------------------ scope --

driver::scope::scope(driver& d) noexcept : d_(d), prev_(current_driver) {
  current_driver = &d;
  ++d.depth_;
}

driver::scope::~scope() {
  if (d_.depth_ == 1) d_.after_io();  // runs with depth 1, so nested scopes never recurse
  --d_.depth_;
  current_driver = prev_;
}

// --------------------------------------------------------------- lifetime --

driver::driver(driver_owner& owner, asio::io_context& ioc, bool use_strand, proto::role role,
               const transport_limits& limits, bool closes_slow_consumers)
    : owner_(&owner),
      strand_(use_strand ? std::make_unique<strand_type>(asio::make_strand(ioc.get_executor()))
                         : nullptr),
      sock_(ioc.get_executor()),
      lc_(role, limits),
      closes_slow_(closes_slow_consumers) {}

driver::~driver() = default;

bool driver::on_executor() const noexcept {
  // Without a strand, any handler on the io_context's only thread is serialized with ours.
  return current_driver == this || (!strand_ && ioc_ex().running_in_this_thread());
}

// ------------------------------------------------------------- public API --

std::error_code driver::send(proto::message_kind kind, std::string_view payload) {
  const std::size_t need = payload.size() + proto::max_header_size;
  if (on_executor()) {
    scope s(*this);
    // Messages leave in the order send() accepted them: behind sends from
    // other threads still on their way here, a send made here waits its turn.
    if (foreign_.load(std::memory_order_relaxed) == 0) return send_now(kind, payload);
    if (auto ec = check_send_now(need + foreign_.load(std::memory_order_relaxed))) return ec;
    foreign_.fetch_add(need);
  } else {
    // Another thread: count the bytes first, then read the published state
    // (both sequentially consistent, against finish() which publishes `closed`
    // and then reads the count): either this sees the close, or finish() sees
    // this send and holds on_close back until it ran. So a refusal is never
    // reported after the end.
    foreign_.fetch_add(need);
    if (auto ec = check_send_foreign(need)) {
      release_foreign(need);
      return ec;
    }
  }
  post_here([kind, data = std::string(payload), need](driver& d) {
    d.foreign_.fetch_sub(need);
    // The close may have won the race: the message goes back to the owner.
    if (auto ec = d.send_now(kind, data)) d.owner_->undelivered(kind, data, ec);
    d.deliver_owed_report();
  });
  return {};
}

std::error_code driver::send_shared(const std::shared_ptr<const shared_frame>& frame) {
  const std::size_t need = frame->bytes.size();
  if (on_executor()) {
    scope s(*this);
    if (foreign_.load(std::memory_order_relaxed) == 0) return send_shared_now(frame);
    if (auto ec = check_send_now(need + foreign_.load(std::memory_order_relaxed))) return ec;
    foreign_.fetch_add(need);
  } else {
    foreign_.fetch_add(need);
    if (auto ec = check_send_foreign(need)) {
      release_foreign(need);
      return ec;
    }
  }
  // Only the reference crosses threads; the bytes stay shared.
  post_here([frame, need](driver& d) {
    d.foreign_.fetch_sub(need);
    if (auto ec = d.send_shared_now(frame))
      d.owner_->undelivered(frame->kind, frame->payload(), ec);
    d.deliver_owed_report();
  });
  return {};
}

std::error_code driver::check_send_foreign(std::size_t bytes) {
  (void)bytes;  // already in foreign_, so in buffered_amount()
  const auto st = pub_state_.load();
  if (st == proto::state::connecting || st == proto::state::closed) return error::not_open;
  if (st == proto::state::closing_local) return error::already_closing;
  if (buffered_amount() > lc_.limits().max_buffered) {
    // The same rule as on the executor: a peer that cannot keep up is asked to leave.
    if (closes_slow_ && !slow_posted_.exchange(true, std::memory_order_relaxed))
      post_here([](driver& d) { d.slow_consumer(); });
    return error::queue_full;
  }
  return {};
}

void driver::release_foreign(std::size_t bytes) {
  foreign_.fetch_sub(bytes);
  // finish() may have seen these bytes and be holding on_close back for them.
  if (pub_state_.load() == proto::state::closed)
    post_here([](driver& d) { d.deliver_owed_report(); });
}

std::error_code driver::ping(std::string_view payload) {
  if (payload.size() > proto::max_control_payload) return error::invalid_argument;
  if (on_executor()) {
    scope s(*this);
    if (!conn_ || lc_.state() != transport_state::open) return error::not_open;
    const auto ec = conn_->ping(payload);
    if (!ec && wants_drain_) drain_owed_ = true;
    return ec;
  }
  const auto st = public_state();
  if (st == proto::state::connecting || st == proto::state::closed) return error::not_open;
  if (st == proto::state::closing_local) return error::already_closing;
  post_here([data = std::string(payload)](driver& d) {
    if (d.conn_ && d.lc_.state() == transport_state::open) (void)d.conn_->ping(data);
  });
  return {};
}

std::error_code driver::probe(std::string_view payload) {
  if (payload.size() > proto::max_control_payload) return error::invalid_argument;
  if (on_executor()) {
    scope s(*this);
    return probe_now(payload);
  }
  if (public_state() != proto::state::open) return error::not_open;
  post_here([data = std::string(payload)](driver& d) { (void)d.probe_now(data); });
  return {};
}

namespace {
std::error_code validate_close(close_rules rules, close_code code, std::string_view reason) {
  switch (rules) {
    case close_rules::application:
      return validate_app_close(code, reason);
    case close_rules::endpoint:
      return validate_endpoint_close(code, reason);
    case close_rules::relay:
      return validate_relay_close(code, reason);
  }
  return error::close_code_not_sendable;
}
}  // namespace

std::error_code driver::close(close_code code, std::string_view reason, close_rules rules) {
  // ARCHITECTURE §2: refuse a code or reason that may not be sent; never truncate.
  if (auto ec = validate_close(rules, code, reason)) return ec;
  if (on_executor()) {
    scope s(*this);
    return close_now(code, reason, rules);
  }
  const auto st = public_state();
  if (st == proto::state::closing_local) return error::already_closing;
  if (st == proto::state::closed) return error::not_open;
  post_here(
      [code, r = std::string(reason), rules](driver& d) { (void)d.close_now(code, r, rules); });
  return {};
}

void driver::abort(std::error_code why) {
  if (on_executor()) {
    scope s(*this);
    run(lc_.abort(why));
    return;
  }
  post_here([why](driver& d) { d.run(d.lc_.abort(why)); });
}

void driver::pause_reading() {
  // Takes effect at the next read completion, on whatever thread: a read in
  // flight keeps its bytes (held_) instead of handing them over.
  paused_.store(true, std::memory_order_relaxed);
  auto hold = [](driver& d) {
    if (auto* hb = d.beat()) hb->hold();
  };
  if (on_executor()) {
    scope s(*this);
    hold(*this);
  } else {
    post_here(hold);
  }
}

void driver::resume_reading() {
  paused_.store(false, std::memory_order_relaxed);
  auto resume = [](driver& d) {
    if (d.paused_.load(std::memory_order_relaxed)) return;  // paused again meanwhile
    if (auto* hb = d.beat(); hb && hb->held()) {
      hb->release(heartbeat::clock::now());
      d.arm_heartbeat();
    }
    // The scope's end starts the next read, after the bytes held back.
  };
  if (on_executor()) {
    scope s(*this);
    resume(*this);
  } else {
    post_here(resume);
  }
}

std::size_t driver::buffered_amount() const noexcept {
  // On the executor the live count, so a handler sees its own sends at once;
  // elsewhere what the last handler published.
  const std::size_t own =
      on_executor() ? pending_output() : buffered_.load(std::memory_order_relaxed);
  return own + foreign_.load(std::memory_order_relaxed);
}

// ------------------------------------------------------------ on executor --

std::error_code driver::check_send_now(std::size_t bytes) {
  if (!conn_ || lc_.state() != transport_state::open) {
    return lc_.state() < transport_state::open                            ? error::not_open
           : (conn_ && conn_->get_state() == proto::state::closing_local) ? error::already_closing
                                                                          : error::not_open;
  }
  if (pending_output() + bytes > lc_.limits().max_buffered) {
    if (closes_slow_) slow_consumer();
    return error::queue_full;
  }
  return {};
}

std::error_code driver::send_now(proto::message_kind kind, std::string_view payload) {
  if (auto ec = check_send_now(payload.size() + proto::max_header_size)) return ec;
  if (wants_drain_) drain_owed_ = true;
  if (payload.size() >= direct_send_min && direct_send_possible())
    return send_direct(kind, payload);
  return conn_->send(kind, payload);
}

std::error_code driver::send_shared_now(const std::shared_ptr<const shared_frame>& frame) {
  if (auto ec = check_send_now(frame->bytes.size())) return ec;
  if (deflate_) return conn_->send(frame->kind, frame->payload());
  // RFC 6455 §5.5.1: no data frame after our close frame (can_send is false from then on).
  if (!conn_->can_send()) {
    return conn_->get_state() == proto::state::closing_local ? error::already_closing
                                                             : error::not_open;
  }
  if (wants_drain_) drain_owed_ = true;
  if (!segs_) segs_ = std::make_unique<segments>();
  // Frames the connection queued earlier (pongs, sends) must go out first.
  if (conn_->output_size() != 0) {
    out_segment own;
    conn_->swap_output(own.owned);
    segs_->bytes += own.owned.size();
    segs_->list.push_back(std::move(own));
  }
  segs_->bytes += frame->bytes.size();
  segs_->list.push_back(out_segment{{}, frame});
  return {};
}

std::error_code driver::close_now(close_code code, std::string_view reason, close_rules rules) {
  if (lc_.before_open()) {
    run(lc_.cancel(error::aborted));
    return {};
  }
  if (lc_.state() != transport_state::open) return error::not_open;
  if (public_state() == proto::state::open) owner_->before_local_close();
  switch (rules) {
    case close_rules::application:
      return conn_->close(code, reason);
    case close_rules::endpoint:
      return conn_->close_endpoint(code, reason);
    case close_rules::relay:
      return conn_->close_relay(code, reason);
  }
  return error::close_code_not_sendable;
}

void driver::slow_consumer() {
  if (slow_consumer_ || lc_.state() != transport_state::open) return;
  slow_consumer_ = true;
  lc_.slow_consumer();
  // A peer that does not read cannot grow our memory: ask it to leave; the
  // close timer aborts it with error::slow_consumer if it cannot even take that.
  (void)conn_->close_endpoint(close_code::policy_violation, "slow consumer");
}

void driver::prepare_socket() {
  boost::system::error_code ignored;
  sock_.set_option(tcp::no_delay(true), ignored);
  // After a full inline read, the rest is read without blocking (driver_read.cpp).
  sock_.non_blocking(true, ignored);
}

void driver::open(proto::config cfg) {
  deflate_ = cfg.deflate.has_value();
  conn_.emplace(lc_.role(), *owner_, std::move(cfg));
  conn_->open();
  run(lc_.opened());
  pub_state_.store(proto::state::open, std::memory_order_release);
}

void driver::receive_frames(char* data, std::size_t size) {
  // Our read buffers are scratch space, so the connection may unmask in place.
  if (size != 0 && conn_ && conn_->can_receive()) conn_->receive_in_place(data, size);
}

// ------------------------------------------------------ lifecycle actions --

void driver::run(const transport_actions& acts) {
  using op = transport_action::op;
  bool timers_changed = false;
  for (const auto& a : acts) {
    switch (a.what) {
      case op::protocol_eof:
        conn_->receive_eof();
        break;
      case op::protocol_abort:
        conn_->abort(a.why);
        break;
      case op::protocol_close_timeout:
        conn_->on_close_timeout();
        break;
      case op::stop_reading: {
        boost::system::error_code ignored;
        sock_.cancel(ignored);
        break;
      }
      case op::shutdown_send: {
        boost::system::error_code ignored;
        sock_.shutdown(tcp::socket::shutdown_send, ignored);
        break;
      }
      case op::tls_shutdown:
        tls_shutdown();
        break;
      case op::await_fin:
        await_fin();
        break;
      case op::close_socket: {
        boost::system::error_code ignored;
        if (sock_.is_open()) sock_.close(ignored);
        break;
      }
      case op::arm:
        timers().table.arm(a.timer, deadline_table::clock::now() + a.after);
        timers_changed = true;
        break;
      case op::disarm:
        disarm(a.timer);
        timers_changed = true;
        break;
      case op::report:
        finish();
        report_end();
        return;  // done: nothing follows
      case op::fail:
        finish();
        owner_->ended_before_open(a.why, a.who);
        return;
    }
  }
  if (timers_changed) sync_timer();
}

// --------------------------------------------------------- end of a turn --

void driver::after_io() {
  const bool read_later = std::exchange(read_again_later_, false);
  // Bytes read before a pause are handed over once it ends (or once the close
  // handshake started, which reads regardless), before this turn's flush.
  if (held_ != 0 && !reading_paused()) release_held();
  if (!settle_turn()) return;
  if (drain_owed_ && drained_now()) {
    drain_owed_ = false;
    owner_->drained();
    // What the handler sent goes out now. If that drained at once too, the
    // next report comes from a turn of its own, so a handler that always
    // sends more cannot hold this thread.
    if (!settle_turn()) return;
    if (drain_owed_ && drained_now()) post_here([](driver&) {});
  }
  // After a read, the next one starts behind the handlers already queued (the
  // rest of this epoll batch). Asio tries a read at once (a speculative recv);
  // started now it nearly always finds nothing, because the peer has not yet
  // seen our reply, and costs an EAGAIN recv() per message. Started later it
  // often finds the peer's next message already there. Beast gets the same
  // effect from its posted write completion.
  if (read_later && lc_.state() == transport_state::open) {
    start_read_later();
  } else {
    start_read();
  }
}

bool driver::settle_turn() {
  // The lifecycle catches up with the protocol: a close frame went either way,
  // or the protocol closed. An open connection (every message) skips the call.
  if (conn_ && (lc_.state() != transport_state::open || conn_->get_state() != proto::state::open)) {
    run(lc_.observe(conn_->get_state(), conn_->result() ? &*conn_->result() : nullptr));
  }
  if (lc_.state() == transport_state::done) return false;
  flush();
  if (lc_.state() == transport_state::draining) run(lc_.output(!writing_ && pending_output() == 0));
  if (lc_.state() == transport_state::done) return false;
  const std::size_t pending = pending_output();
  buffered_.store(pending, std::memory_order_relaxed);
  if (conn_) pub_state_.store(conn_->get_state(), std::memory_order_release);
  if (lc_.state() == transport_state::open && pending > lc_.limits().max_buffered && closes_slow_)
    slow_consumer();
  return true;
}

bool driver::drained_now() const noexcept {
  return !writing_ && pending_output() == 0 && foreign_.load(std::memory_order_relaxed) == 0;
}

void driver::finish() {
  // The lifecycle closed the socket; what is left is freeing and publishing.
  timers_.reset();
  held_ = 0;
  std::string().swap(wbuf_);
  drop_queued_output();
  buffered_.store(0, std::memory_order_relaxed);
  // Sequentially consistent, against send() on other threads (see there).
  pub_state_.store(proto::state::closed);
}

void driver::report_end() {
  if (foreign_.load() != 0) {
    // Sends from other threads are still on their way here: each is queued or
    // handed back first, and the end is reported after the last one.
    report_owed_ = true;
    return;
  }
  owner_->ended(lc_.final_event(conn_ && conn_->result() ? &*conn_->result() : nullptr));
}

void driver::deliver_owed_report() {
  if (!report_owed_ || foreign_.load() != 0) return;
  report_owed_ = false;
  report_end();
}

}  // namespace closewise::net::detail

#include "transport_lifecycle.hpp"

#include <algorithm>
#include <cassert>

namespace closewise::net::detail {
namespace {

using op = transport_action::op;
using st = transport_state;
using std::chrono::milliseconds;

/// How long a server waits for the peer's close_notify, and a failing endpoint
/// for the peer's FIN, when nothing else bounds it: long enough for a peer on
/// another continent, short enough that a teardown never holds a socket for long.
constexpr milliseconds teardown_linger{1000};

error as_error(std::error_code ec) noexcept {
  return ec.category() == error_category() ? static_cast<error>(ec.value())
                                           : error::transport_error;
}

}  // namespace

std::string_view to_string(transport_state s) noexcept {
  switch (s) {
    case st::idle:
      return "idle";
    case st::connecting:
      return "connecting";
    case st::tls_handshake:
      return "tls_handshake";
    case st::upgrading:
      return "upgrading";
    case st::refusing:
      return "refusing";
    case st::open:
      return "open";
    case st::draining:
      return "draining";
    case st::half_closed:
      return "half_closed";
    case st::lingering:
      return "lingering";
    case st::tls_shutdown:
      return "tls_shutdown";
    case st::awaiting_fin:
      return "awaiting_fin";
    case st::done:
      return "done";
  }
  return "unknown";
}

std::string_view to_string(timer_kind k) noexcept {
  switch (k) {
    case timer_kind::connect:
      return "connect";
    case timer_kind::handshake:
      return "handshake";
    case timer_kind::close:
      return "close";
    case timer_kind::drain:
      return "drain";
    case timer_kind::linger:
      return "linger";
    case timer_kind::heartbeat:
      return "heartbeat";
  }
  return "unknown";
}

std::string_view to_string(transport_action::op o) noexcept {
  switch (o) {
    case op::protocol_eof:
      return "protocol_eof";
    case op::protocol_abort:
      return "protocol_abort";
    case op::protocol_close_timeout:
      return "protocol_close_timeout";
    case op::stop_reading:
      return "stop_reading";
    case op::shutdown_send:
      return "shutdown_send";
    case op::tls_shutdown:
      return "tls_shutdown";
    case op::await_fin:
      return "await_fin";
    case op::close_socket:
      return "close_socket";
    case op::arm:
      return "arm";
    case op::disarm:
      return "disarm";
    case op::report:
      return "report";
    case op::fail:
      return "fail";
  }
  return "unknown";
}

void transport_actions::push(transport_action a) noexcept {
  assert(n_ < capacity);
  if (n_ < capacity) a_[n_++] = a;
}

bool transport_lifecycle::reads() const noexcept {
  switch (state_) {
    case st::upgrading:
    case st::refusing:
    case st::open:
    case st::draining:
    case st::half_closed:
    case st::lingering:
      return !failed_;
    default:
      return false;
  }
}

bool transport_lifecycle::writes() const noexcept {
  return !failed_ && state_ != st::idle && state_ != st::connecting && state_ != st::done;
}

void transport_lifecycle::arm(transport_actions& a, timer_kind t, milliseconds after) {
  armed_ = static_cast<std::uint8_t>(armed_ | (1u << static_cast<int>(t)));
  a.push({.what = op::arm, .timer = t, .after = after});
}

void transport_lifecycle::disarm(transport_actions& a, timer_kind t) {
  if (!armed(t)) return;
  armed_ = static_cast<std::uint8_t>(armed_ & ~(1u << static_cast<int>(t)));
  a.push({.what = op::disarm, .timer = t});
}

void transport_lifecycle::unclean(std::error_code why) noexcept {
  if (unclean_why_ == 0) unclean_why_ = static_cast<std::uint16_t>(as_error(why));
}

void transport_lifecycle::end_before_open(transport_actions& a, std::error_code why,
                                          initiator who) {
  // Entering done stops every timer; the driver drops them all at once.
  state_ = st::done;
  armed_ = 0;
  a.push({.what = op::close_socket});
  a.push({.what = op::fail, .who = who, .why = why});
}

void transport_lifecycle::end(transport_actions& a) {
  state_ = st::done;
  armed_ = 0;
  // The socket is closed before the end is reported, so a handler that
  // reconnects at once never finds the old connection still holding it.
  a.push({.what = op::close_socket});
  a.push({.what = op::report});
}

// ------------------------------------------------------------ before open --

transport_actions transport_lifecycle::start_connect() {
  transport_actions a;
  if (state_ != st::idle) return a;
  state_ = st::connecting;
  arm(a, timer_kind::connect, limits_->connect_timeout);
  return a;
}

transport_actions transport_lifecycle::accepted(bool tls) {
  transport_actions a;
  if (state_ != st::idle) return a;
  tls_ = tls;
  state_ = tls ? st::tls_handshake : st::upgrading;
  // Slowloris: the whole opening handshake, TLS included, has one deadline.
  arm(a, timer_kind::handshake, limits_->handshake_timeout);
  return a;
}

transport_actions transport_lifecycle::connected(bool tls) {
  transport_actions a;
  if (state_ != st::connecting) return a;
  tls_ = tls;
  state_ = tls ? st::tls_handshake : st::upgrading;
  disarm(a, timer_kind::connect);
  arm(a, timer_kind::handshake, limits_->handshake_timeout);
  return a;
}

transport_actions transport_lifecycle::tls_established() {
  if (state_ == st::tls_handshake) state_ = st::upgrading;
  return {};
}

transport_actions transport_lifecycle::refuse() {
  if (state_ == st::upgrading) state_ = st::refusing;
  return {};
}

transport_actions transport_lifecycle::refusal_written() {
  transport_actions a;
  // decide: a refusal is followed by our FIN, but reading goes on until the
  // client closes (or the handshake timer fires): closing with its request
  // bytes unread would make the kernel answer with a RST that can destroy
  // the refusal before the client reads it.
  if (state_ == st::refusing && !failed_) a.push({.what = op::shutdown_send});
  return a;
}

transport_actions transport_lifecycle::upgrade_failed(std::error_code why) {
  transport_actions a;
  if (before_open()) end_before_open(a, why, initiator::none);
  return a;
}

transport_actions transport_lifecycle::opened() {
  transport_actions a;
  if (state_ != st::upgrading) return a;
  state_ = st::open;
  disarm(a, timer_kind::handshake);
  return a;
}

// ------------------------------------------------------------- protocol --

transport_actions transport_lifecycle::observe(proto::state s, const close_event* result) {
  transport_actions a;
  if (state_ != st::open || s == proto::state::open || s == proto::state::connecting) return a;
  if (!closing_) {
    // Once a close frame went either way, the close timer bounds the rest and
    // the heartbeat has nothing more to say.
    closing_ = true;
    a.push({.what = op::disarm, .timer = timer_kind::heartbeat});
  }
  if (s != proto::state::closed) {
    // decide: RFC 6455 §7.1.1 leaves the wait for the peer's close open-ended;
    // closewise bounds it with close_timeout.
    if (!armed(timer_kind::close) && !failed_) arm(a, timer_kind::close, limits_->close_timeout);
    return a;
  }
  disarm(a, timer_kind::close);
  clean_ = result && result->was_clean;
  failed_by_us_ = result && !result->was_clean && result->initiator == initiator::local;
  state_ = st::draining;
  // decide: a transport that failed (EOF, reset, close timeout, abort) has
  // nothing left to say: close at once, without flushing.
  if (failed_) end(a);
  return a;
}

transport_actions transport_lifecycle::output(bool empty) {
  transport_actions a;
  if (state_ != st::draining) return a;
  if (empty) {
    decide_teardown(a);
  } else if (!armed(timer_kind::drain)) {
    // decide: only a write that could not finish at once needs a bound; a
    // peer that does not read our last frames within close_timeout is dropped.
    arm(a, timer_kind::drain, limits_->close_timeout);
  }
  return a;
}

void transport_lifecycle::decide_teardown(transport_actions& a) {
  disarm(a, timer_kind::drain);
  if (failed_by_us_) {
    // decide: we failed the connection (1002, 1007, 1009, ...) and the peer may
    // still be sending. Closing with its bytes unread makes the kernel answer
    // with a RST that can destroy our close frame before the peer reads it.
    // So half-close (RFC 6455 §7.1.7: our FIN follows the close frame), discard
    // what still comes, and close on the peer's EOF or after a bounded linger.
    // TLS cannot half-close below the record layer; it only lingers.
    state_ = st::half_closed;
    if (!tls_) a.push({.what = op::shutdown_send});
    arm(a, timer_kind::linger,
        limits_->close_linger.count() > 0 ? limits_->close_linger : teardown_linger);
    return;
  }
  if (role_ == proto::role::server && clean_ && tls_) {
    // decide: RFC 8446 §6.1: "Each party MUST send a "close_notify" alert before
    // closing its write side of the connection". The TLS shutdown reads the
    // peer's alert itself, so our read stops; its answer, its EOF or the linger
    // ends the connection.
    state_ = st::tls_shutdown;
    a.push({.what = op::stop_reading});
    arm(a, timer_kind::linger, std::min(limits_->close_timeout, teardown_linger));
    a.push({.what = op::tls_shutdown});
    return;
  }
  if (role_ == proto::role::server || !clean_) {
    // decide: RFC 6455 §7.1.1: "the underlying TCP connection, in most normal
    // cases, SHOULD be closed first by the server, so that it holds the
    // TIME_WAIT state". An unclean end has no one to wait for.
    end(a);
    return;
  }
  // decide: the client lets the server close first, and waits a bounded time for it.
  state_ = st::lingering;
  arm(a, timer_kind::linger, limits_->close_linger);
}

// ------------------------------------------------------------ transport --

transport_actions transport_lifecycle::eof() {
  transport_actions a;
  switch (state_) {
    case st::open:
      // The protocol decides what an EOF means now (1006 unless the close exchange finished).
      failed_ = true;
      a.push({.what = op::protocol_eof});
      break;
    case st::draining:
    case st::half_closed:
      end(a);
      break;
    case st::lingering:
      if (tls_) {
        // decide: the server's close_notify (RFC 8446 §6.1): answer with ours,
        // then keep waiting for its FIN, so it still closes TCP first (RFC 6455
        // §7.1.1). The linger timer armed on entry bounds both steps.
        state_ = st::tls_shutdown;
        a.push({.what = op::tls_shutdown});
      } else {
        end(a);  // decide: the server closed TCP first, as it should
      }
      break;
    default:
      if (before_open()) end_before_open(a, error::eof_without_close, initiator::none);
      break;
  }
  return a;
}

transport_actions transport_lifecycle::transport_error(std::error_code why) {
  transport_actions a;
  switch (state_) {
    case st::open:
      failed_ = true;
      a.push({.what = op::protocol_abort, .why = why});
      break;
    case st::draining:
    case st::half_closed:
    case st::lingering:
    case st::awaiting_fin:
      // decide: the close exchange may have been clean, but the teardown was not.
      unclean(why);
      end(a);
      break;
    default:
      if (before_open()) end_before_open(a, why, initiator::none);
      break;
  }
  return a;
}

transport_actions transport_lifecycle::timer_fired(timer_kind t) {
  transport_actions a;
  // A timer that is not armed cannot fire: a completion that raced its disarm is ignored.
  if (!armed(t)) return a;
  armed_ = static_cast<std::uint8_t>(armed_ & ~(1u << static_cast<int>(t)));
  switch (t) {
    case timer_kind::connect:
      end_before_open(a, error::connect_timeout, initiator::none);
      break;
    case timer_kind::handshake:
      end_before_open(a, error::handshake_timeout, initiator::none);
      break;
    case timer_kind::close:
      // decide: the peer's close frame did not come in time: 1006, no more I/O.
      failed_ = true;
      if (slow_) {
        a.push({.what = op::protocol_abort, .why = error::slow_consumer});
      } else {
        a.push({.what = op::protocol_close_timeout});
      }
      break;
    case timer_kind::drain:
      // decide: our last frames could not be written in time: the peer is not reading.
      unclean(slow_ ? error::slow_consumer : error::close_timeout);
      end(a);
      break;
    case timer_kind::linger:
      // decide: the peer did not close TCP (or answer close_notify) in time:
      // close it ourselves; the close exchange itself stays as it was.
      end(a);
      break;
    case timer_kind::heartbeat:
      break;  // the driver's own
  }
  return a;
}

transport_actions transport_lifecycle::tls_shutdown_done(bool ok) {
  transport_actions a;
  if (state_ != st::tls_shutdown) return a;
  if (role_ == proto::role::client && ok) {
    // decide: our answer is out; the server now closes TCP first.
    state_ = st::awaiting_fin;
    a.push({.what = op::await_fin});
    return a;
  }
  // decide: the server's shutdown is complete (or the peer left without an
  // answer, which changes nothing for a clean close): close TCP first.
  end(a);
  return a;
}

transport_actions transport_lifecycle::fin_arrived() {
  transport_actions a;
  if (state_ == st::awaiting_fin) end(a);
  return a;
}

// ----------------------------------------------------------- application --

transport_actions transport_lifecycle::cancel(std::error_code why) {
  transport_actions a;
  if (before_open()) end_before_open(a, why, initiator::local);
  return a;
}

transport_actions transport_lifecycle::abort(std::error_code why) {
  transport_actions a;
  switch (state_) {
    case st::idle:
    case st::done:
      break;
    case st::open:
      failed_ = true;
      a.push({.what = op::protocol_abort, .why = why});
      break;
    case st::draining:
    case st::half_closed:
    case st::lingering:
    case st::tls_shutdown:
    case st::awaiting_fin:
      // decide: an abort during the teardown drops it at once; the end is unclean.
      unclean(why);
      end(a);
      break;
    default:
      end_before_open(a, why, initiator::local);
      break;
  }
  return a;
}

close_event transport_lifecycle::final_event(const close_event* protocol_result) const {
  close_event ev = protocol_result ? *protocol_result : close_event{};
  if (!protocol_result) ev.error = error::aborted;
  if (unclean_why_ != 0) {
    ev.was_clean = false;
    if (!ev.error) ev.error = static_cast<error>(unclean_why_);
  }
  return ev;
}

}  // namespace closewise::net::detail

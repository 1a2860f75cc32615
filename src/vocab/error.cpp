#include "closewise/error.hpp"

namespace closewise {
namespace {

condition condition_of(error e) noexcept {
  const int v = static_cast<int>(e);
  // clang-format off
  switch (e) {
    case error::not_open:
    case error::already_closing: return condition::closed;
    case error::connect_timeout:
    case error::handshake_timeout:
    case error::close_timeout:
    case error::heartbeat_timeout: return condition::timeout;
    case error::tls_verify_failed: return condition::tls_verification;
    case error::tls_error: return condition::tls;
    case error::replay_buffer_full: return condition::backpressure;
    case error::bad_resume_ack: return condition::protocol_violation;
    case error::resume_ack_timeout: return condition::timeout;
    default: break;
  }
  // clang-format on
  if (v < 100) return condition::api_misuse;
  if (v < 200) return condition::protocol_violation;
  if (v < 300) return condition::handshake_failed;
  if (v < 400) return condition::transport;
  if (v < 500) return condition::backpressure;
  return condition::resume_failed;
}

class error_cat final : public std::error_category {
 public:
  const char* name() const noexcept override { return "closewise"; }
  std::string message(int ev) const override {
    // clang-format off
    switch (static_cast<error>(ev)) {
      case error::close_code_not_sendable: return "this close code may not be sent by this API";
      case error::close_reason_too_long: return "close reason is longer than 123 bytes";
      case error::close_reason_not_utf8: return "close reason is not valid UTF-8";
      case error::not_open: return "the connection is not open";
      case error::already_closing: return "a close frame was already sent";
      case error::connect_in_progress: return "a connect attempt is already in flight";
      case error::invalid_url: return "invalid WebSocket URL";
      case error::unsupported_scheme: return "URL scheme must be ws or wss";
      case error::invalid_argument: return "invalid argument";
      case error::bad_frame: return "malformed frame";
      case error::bad_opcode: return "reserved opcode";
      case error::bad_rsv: return "RSV bit set without a negotiated extension";
      case error::bad_masking: return "wrong frame masking for this role";
      case error::bad_control_frame: return "control frame too long or fragmented";
      case error::bad_continuation: return "unexpected continuation or data frame";
      case error::bad_length: return "invalid frame length";
      case error::invalid_utf8: return "invalid UTF-8 in text payload";
      case error::message_too_big: return "message too big";
      case error::bad_close_payload: return "invalid close frame payload length";
      case error::bad_close_code: return "close code not valid on the wire";
      case error::bad_compression: return "invalid permessage-deflate data";
      case error::unsupported_data: return "unsupported data type";
      case error::bad_http: return "malformed HTTP";
      case error::header_too_large: return "HTTP headers too large";
      case error::bad_method: return "handshake method must be GET";
      case error::bad_http_version: return "handshake must be HTTP/1.1";
      case error::no_host: return "missing Host header";
      case error::bad_upgrade: return "missing or wrong Upgrade header";
      case error::bad_connection: return "missing or wrong Connection header";
      case error::bad_key: return "missing or invalid Sec-WebSocket-Key";
      case error::bad_version: return "unsupported Sec-WebSocket-Version (want 13)";
      case error::bad_accept: return "Sec-WebSocket-Accept does not match";
      case error::bad_subprotocol: return "server chose a subprotocol that was not offered";
      case error::bad_extension: return "server chose an extension that was not offered";
      case error::bad_status: return "handshake answered with a non-101 status";
      case error::origin_not_allowed: return "Origin not allowed";
      case error::handshake_refused: return "handshake refused";
      case error::eof_without_close: return "stream ended without a close frame";
      case error::connection_reset: return "connection reset by peer";
      case error::connection_refused: return "connection refused";
      case error::dns_failure: return "host name did not resolve";
      case error::connect_timeout: return "connect timed out";
      case error::handshake_timeout: return "handshake timed out";
      case error::close_timeout: return "close handshake timed out";
      case error::heartbeat_timeout: return "heartbeat timed out: no frame from the peer";
      case error::tls_verify_failed: return "TLS certificate verification failed";
      case error::tls_error: return "TLS error";
      case error::transport_error: return "transport error";
      case error::aborted: return "connection aborted";
      case error::queue_full: return "send queue is full";
      case error::message_dropped: return "message dropped by the queue's overflow policy";
      case error::slow_consumer: return "slow consumer";
      case error::not_sent: return "message was not sent";
      case error::resume_expired: return "the session expired before it was resumed";
      case error::resume_ended: return "the session was ended";
      case error::resume_unknown: return "the server does not know the session";
      case error::resume_overflowed: return "a replay buffer overflowed: the session cannot be resumed";
      case error::resume_invalid: return "the session's positions contradict each other";
      case error::resume_not_supported: return "the server did not accept session resume";
      case error::resume_store_unavailable: return "the session store is unavailable";
      case error::resume_superseded: return "a newer connection resumed this session";
      case error::resume_evicted: return "evicted from the replay buffer";
      case error::replay_buffer_full: return "the replay buffer is full";
      case error::bad_resume_ack: return "invalid resume acknowledgement";
      case error::resume_ack_timeout: return "the peer did not acknowledge within max_age";
      case error::resume_stale_attempt: return "a later attempt of this client already took the session";
    }
    // clang-format on
    return "unknown closewise error";
  }
  std::error_condition default_error_condition(int ev) const noexcept override {
    return make_error_condition(condition_of(static_cast<error>(ev)));
  }
  bool equivalent(int ev, const std::error_condition& c) const noexcept override {
    if (c.category() != condition_category()) return false;
    const auto cond = condition_of(static_cast<error>(ev));
    // A verification failure is also a TLS failure.
    if (cond == condition::tls_verification && c.value() == static_cast<int>(condition::tls))
      return true;
    return c.value() == static_cast<int>(cond);
  }
};

class condition_cat final : public std::error_category {
 public:
  const char* name() const noexcept override { return "closewise.condition"; }
  std::string message(int ev) const override {
    // clang-format off
    switch (static_cast<condition>(ev)) {
      case condition::api_misuse: return "API misuse";
      case condition::closed: return "connection closed";
      case condition::protocol_violation: return "protocol violation";
      case condition::handshake_failed: return "handshake failed";
      case condition::transport: return "transport failure";
      case condition::timeout: return "timeout";
      case condition::tls: return "TLS failure";
      case condition::tls_verification: return "TLS verification failure";
      case condition::backpressure: return "backpressure";
      case condition::resume_failed: return "session resume failed";
    }
    // clang-format on
    return "unknown condition";
  }
};

}  // namespace

const std::error_category& error_category() noexcept {
  static const error_cat c;
  return c;
}
const std::error_category& condition_category() noexcept {
  static const condition_cat c;
  return c;
}

}  // namespace closewise

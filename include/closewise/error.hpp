// closewise: errors, wired into std::error_code.
//
// Every expected failure is a `closewise::error` value. Callers usually test a
// `closewise::condition` instead, e.g. `ec == condition::tls_verification`.
#pragma once

#include <string>
#include <system_error>

namespace closewise {

/// Specific failures. Values are stable within a release; append, do not reorder.
enum class error {
  // --- API misuse and state (condition::api_misuse / condition::closed) ---
  close_code_not_sendable = 1,  ///< this code may not be sent by this API
  close_reason_too_long,        ///< a close reason longer than 123 bytes
  close_reason_not_utf8,        ///< a close reason that is not valid UTF-8
  not_open,                     ///< the connection is not open (yet, or any more)
  already_closing,              ///< a close frame was already sent
  connect_in_progress,          ///< a second connect while one is in flight
  invalid_url,                  ///< the URL could not be parsed
  unsupported_scheme,           ///< not ws:// or wss://
  invalid_argument,             ///< an argument outside its documented domain

  // --- protocol violations by the peer (condition::protocol_violation) ---
  bad_frame = 100,    ///< malformed frame header
  bad_opcode,         ///< reserved opcode 3-7 or B-F
  bad_rsv,            ///< an RSV bit set without a negotiated extension
  bad_masking,        ///< masked server frame / unmasked client frame
  bad_control_frame,  ///< control frame over 125 bytes or fragmented
  bad_continuation,   ///< continuation without a message, or data frame inside one
  bad_length,         ///< 64-bit length with the top bit set, or non-minimal
  invalid_utf8,       ///< text message or close reason not UTF-8 (1007)
  message_too_big,    ///< over max_message / max_frame (1009)
  bad_close_payload,  ///< 1-byte or >125-byte close payload
  bad_close_code,     ///< received close code not valid on the wire
  bad_compression,    ///< permessage-deflate stream could not be inflated
  unsupported_data,   ///< a data type this endpoint does not accept (1003)

  // --- handshake (condition::handshake_failed) ---
  bad_http = 200,      ///< unparseable HTTP
  header_too_large,    ///< HTTP headers over the configured limit
  bad_method,          ///< not GET
  bad_http_version,    ///< not HTTP/1.1 or later
  no_host,             ///< missing Host
  bad_upgrade,         ///< Upgrade header lacks "websocket"
  bad_connection,      ///< Connection header lacks "upgrade"
  bad_key,             ///< Sec-WebSocket-Key missing or not 16 bytes of base64
  bad_version,         ///< Sec-WebSocket-Version is not 13 (426)
  bad_accept,          ///< Sec-WebSocket-Accept does not match the key
  bad_subprotocol,     ///< server picked a subprotocol that was not offered
  bad_extension,       ///< server picked an extension/parameter not offered
  bad_status,          ///< the server answered with a status other than 101
  origin_not_allowed,  ///< Origin not in the allowlist (403)
  handshake_refused,   ///< the application refused the request

  // --- transport (condition::transport / timeout / tls) ---
  eof_without_close = 300,  ///< the stream ended without a close frame
  connection_reset,         ///< TCP reset
  connection_refused,       ///< TCP connect refused
  dns_failure,              ///< the host name did not resolve
  connect_timeout,          ///< TCP connect did not finish in time
  handshake_timeout,        ///< the upgrade did not finish in time
  close_timeout,            ///< the close handshake did not finish in time
  heartbeat_timeout,        ///< no inbound frame within interval + grace
  tls_verify_failed,        ///< certificate chain or hostname verification failed
  tls_error,                ///< any other TLS failure
  transport_error,          ///< any other I/O error
  aborted,                  ///< the connection was aborted locally (shutdown deadline)

  // --- queues and backpressure (condition::backpressure) ---
  queue_full = 400,  ///< a bounded send queue refused the message
  message_dropped,   ///< the overflow policy dropped the message
  slow_consumer,     ///< the peer does not read fast enough
  not_sent,          ///< the message was never sent (give-up, close deadline)

  // --- resumable sessions, docs/resume.md (condition::resume_failed unless noted) ---
  resume_expired = 500,      ///< the session's TTL passed before the resume
  resume_ended,              ///< the session was ended by a close that ends sessions
  resume_unknown,            ///< the server does not know the session (or it is another owner's)
  resume_overflowed,         ///< a replay buffer no longer holds what the other side lacks
  resume_invalid,            ///< the two sides' positions contradict each other
  resume_not_supported,      ///< the server did not accept the resume extension
  resume_store_unavailable,  ///< the session store cannot be reached or is full
  resume_superseded,         ///< a newer connection resumed this session (stale epoch)
  resume_evicted,            ///< evicted from the replay buffer by evict_oldest (may have arrived)
  replay_buffer_full,        ///< the replay buffer is at its bound (condition::backpressure)
  bad_resume_ack,  ///< malformed, backwards or too-high ack (condition::protocol_violation, 1002)
  resume_ack_timeout,  ///< a message stayed unacked past max_age (condition::timeout)
  /// A resume offer whose attempt is not newer than one the store already took:
  /// the late handshake of an attempt its client gave up on (docs/resume.md §6.1).
  resume_stale_attempt,
};

/// Groups of errors that callers compare against.
enum class condition {
  api_misuse = 1,      ///< the caller asked for something not allowed
  closed,              ///< the connection is not open
  protocol_violation,  ///< the peer broke RFC 6455 / RFC 7692
  handshake_failed,    ///< the HTTP upgrade failed
  transport,           ///< the byte stream failed
  timeout,             ///< a deadline passed
  tls,                 ///< any TLS failure, verification included
  tls_verification,    ///< specifically: the peer's certificate was not trusted
  backpressure,        ///< a bound was hit; nothing was lost silently
  resume_failed,       ///< a session could not be resumed; the application was told what is lost
};

/// The category of `closewise::error`.
const std::error_category& error_category() noexcept;
/// The category of `closewise::condition`.
const std::error_category& condition_category() noexcept;

inline std::error_code make_error_code(error e) noexcept {
  return {static_cast<int>(e), error_category()};
}
inline std::error_condition make_error_condition(condition c) noexcept {
  return {static_cast<int>(c), condition_category()};
}

}  // namespace closewise

template <>
struct std::is_error_code_enum<closewise::error> : std::true_type {};
template <>
struct std::is_error_condition_enum<closewise::condition> : std::true_type {};

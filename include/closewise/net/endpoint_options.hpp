// closewise::net: the settings a client and a server connection share.
#pragma once

#include <chrono>
#include <concepts>
#include <cstddef>
#include <string>

#include "closewise/proto/connection.hpp"
#include "closewise/proto/frame.hpp"
#include "closewise/proto/handshake.hpp"

namespace closewise::net {

/// What the owning send overloads take: exactly an rvalue `std::string`. A
/// message given that way is kept as it is, not copied, where a resumable
/// connection's replay buffer must own it (docs/resume.md §10). A literal, a
/// view or an lvalue string still picks the `std::string_view` overload.
template <class T>
concept owned_string = std::same_as<T, std::string>;

/// Default bound of one connection's write queue: one 16 MiB message (the
/// default proto::config::max_message) plus its frame header and room for
/// control frames, so the largest message closewise accepts can also be sent.
inline constexpr std::size_t default_max_buffered = (std::size_t{16} << 20) + 4096;

/// Timeouts, bounds and protocol limits of one connection, client or server.
struct connection_options {
  /// Frame and message limits, auto-pong, masking source (proto::config).
  /// The deflate parameters are filled in by the handshake.
  proto::config protocol;
  /// Limits of the HTTP upgrade parser (header bytes, refusal body).
  proto::handshake_limits handshake_limits;
  /// The whole opening handshake (TLS included) must finish within this.
  std::chrono::milliseconds handshake_timeout{10000};
  /// RFC 6455 §7.1.1: after a close frame is sent, the peer's close frame must
  /// arrive within this; otherwise the connection is aborted and reported as
  /// 1006, was_clean=false, error::close_timeout.
  std::chrono::milliseconds close_timeout{5000};
  /// Bytes that may wait to be written (frames queued plus the write in
  /// flight). A data message that would go over it is refused with
  /// error::queue_full; reading pauses while the queue is over it.
  std::size_t max_buffered = default_max_buffered;
  /// True (the default) gives each connection an Asio strand, so any number of
  /// threads may run the io_context. Set false only when exactly one thread
  /// runs it: handlers then run without the strand's locking. Either way the
  /// public API may be called from any thread.
  bool use_strand = true;
};

}  // namespace closewise::net

// closewise::resume: which closes keep a session and which end it
// (docs/resume.md §6). Both sides follow the close-code registry's default
// reconnect decision (ARCHITECTURE §3), so they agree without signalling.
#pragma once

#include <cstdint>
#include <optional>
#include <string_view>

#include "closewise/close_code.hpp"
#include "closewise/close_event.hpp"

namespace closewise::resume {

/// What a close does to the session.
enum class close_fate : std::uint8_t {
  keep,  ///< detach: the client will come back and resume
  end,   ///< release the buffers; a later resume is told `ended`
};

std::string_view to_string(close_fate f) noexcept;

/// A close frame carrying `code` keeps the session exactly when the code's
/// default reconnect action retries (R or RD): 1001, 1005, 1006, 1011-1014,
/// 1016-2999, 3000-3499, 4000-4499. Stops (1000, 1008, 1009, 1010, ...) and
/// strike rules (1002, 1003, 1007: a broken peer) end it.
close_fate fate_of_code(close_code code) noexcept;

/// The server's rule. `sent` is the code of the close frame the server sent,
/// if it sent one (the proto layer reports 1006 when the echo never came).
/// - the client sent the first close frame (initiator remote): end; a client
///   only closes when it stops or fails the connection;
/// - the server sent the first close frame, or failed the connection: by the
///   code it sent;
/// - no close frame (1006: drop, reset, timeout, heartbeat): keep.
close_fate server_fate(const close_event& ev,
                       std::optional<close_code> sent = std::nullopt) noexcept;

/// The client's rule. `policy_retries` is the reconnect decision for this close.
/// - the client sent the first close frame (its close(), its destructor, or it
///   failed the connection): end;
/// - the policy stops: end;
/// - the server's close frame carries a code that ends sessions: end (the
///   server ended it; keeping it would only earn an `ended` answer later);
/// - otherwise: keep.
close_fate client_fate(const close_event& ev, bool policy_retries) noexcept;

}  // namespace closewise::resume

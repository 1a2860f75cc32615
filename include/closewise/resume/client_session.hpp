// closewise::resume: the client's side of negotiation across connections
// (docs/resume.md §2.3, §2.4, §4.3, §6): what to offer, what an answer means,
// and what goes back to the application.
#pragma once

#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <system_error>
#include <vector>

#include "closewise/resume/fate.hpp"
#include "closewise/resume/session.hpp"
#include "closewise/resume/wire.hpp"

namespace closewise::resume {

/// What became of the session when the server answered.
enum class client_outcome_kind : std::uint8_t {
  fresh,           ///< a new session (nothing was offered)
  resumed,         ///< the offered session continues; replays follow
  refused,         ///< the offered session is gone; a new one started
  not_negotiated,  ///< the server did not answer: the connection is plain WebSocket
  failed,          ///< the answer broke the protocol: fail the connection (error::bad_extension)
};

std::string_view to_string(client_outcome_kind k) noexcept;

/// The result of `client_session::on_answer`.
struct client_outcome {
  client_outcome_kind kind = client_outcome_kind::fresh;
  /// The server's status (fresh when it did not answer or failed).
  resume_status status = resume_status::fresh;
  seq replay_out = 0;  ///< resumed: client messages written again
  seq replay_in = 0;   ///< resumed: server messages the server writes again
  /// Unacked client messages to hand back through on_undelivered, oldest first,
  /// with `handback_error` (resume_expired, resume_ended, resume_unknown,
  /// resume_overflowed, resume_invalid, resume_not_supported).
  std::vector<message> handed_back;
  std::error_code handback_error;
  /// A previous session was lost: server messages may be missing.
  bool gap = false;
  /// ... and how many, when the server said (overflowed).
  std::optional<seq> gap_size;
  /// For `failed`: why (error::bad_extension).
  std::error_code failure;
};

/// The client's session across connections. One per reconnecting client.
///
/// Per connection: `offer()` before the handshake, `on_answer()` after the 101,
/// `current()` while open, `on_close()` at the end.
class client_session {
 public:
  explicit client_session(session_settings settings = {});

  /// The element for `client_request_options::extensions`: a resume offer when
  /// a session is kept, a fresh offer otherwise. A resume offer counts one more
  /// attempt (docs/resume.md §2.3, `attempt`): call it once per handshake.
  std::string offer();
  /// The offer the next offer() makes (for logs and tests).
  struct offer offer_value() const;

  /// The server's 101 was read; `extensions` is `client_handshake::extensions()`.
  client_outcome on_answer(const std::vector<std::string>& extensions);

  /// Is a session in use or kept?
  bool has_session() const noexcept { return session_ != nullptr; }
  /// The session (has_session() must be true).
  session& current() noexcept { return *session_; }
  const session& current() const noexcept { return *session_; }

  /// The connection ended. `keep` detaches the session for the next connect;
  /// `end` ends it and returns its unacked messages (hand them back with
  /// error::resume_ended). Nothing happens without a session.
  std::vector<message> on_close(close_fate fate);

  /// While detached: once the oldest unacked message reaches max_age, the
  /// session has expired on this side (docs/resume.md §4.3). Ends it and
  /// returns its unacked messages (error::resume_expired); empty otherwise.
  std::vector<message> expire(time_point now);

  /// Ends the session now (the application stops): its unacked messages.
  std::vector<message> end();

  const session_settings& settings() const noexcept { return settings_; }

 private:
  client_outcome refuse(client_outcome out, const answer& a, resume_status st);

  session_settings settings_;
  std::unique_ptr<session> session_;
  seq attempts_ = 0;  ///< resume offers made for session_
};

}  // namespace closewise::resume

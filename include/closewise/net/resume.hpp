// closewise::net: resumable sessions over the network layer (docs/resume.md §10).
//
// The sans-I/O core (closewise/resume) numbers, acknowledges and replays
// messages; these types connect it to net::client, net::reconnecting_client
// and net::server. Resume is opt-in on both sides and negotiated in the
// opening handshake (RFC 6455 §9.1, extension `closewise-resume`).
#pragma once

#include <cstddef>
#include <memory>
#include <mutex>
#include <optional>
#include <system_error>
#include <vector>

#include "closewise/resume/client_session.hpp"
#include "closewise/resume/session_store.hpp"

namespace closewise::net {

/// A client's side of one resumable session, shared by the connections that
/// carry it one after another (docs/resume.md §10 "Client"). Thread-safe: the
/// connection of the moment and the application use it under its own lock.
class client_resume {
 public:
  explicit client_resume(resume::session_settings settings = {}) : cs_(settings) {}
  client_resume(const client_resume&) = delete;
  client_resume& operator=(const client_resume&) = delete;

  /// The connection ended: keep the session for a resume, or end it and get
  /// back its unacked messages (docs/resume.md §6).
  std::vector<resume::message> on_close(resume::close_fate fate) {
    std::lock_guard lock(mu_);
    return cs_.on_close(fate);
  }
  /// Ends the session (stop, give-up, destruction): its unacked messages.
  std::vector<resume::message> end() {
    std::lock_guard lock(mu_);
    return cs_.end();
  }
  /// A detached session whose oldest unacked message is older than the
  /// replay's max_age ends here: its unacked messages (docs/resume.md §4.3).
  std::vector<resume::message> expire(resume::time_point now) {
    std::lock_guard lock(mu_);
    return cs_.expire(now);
  }
  bool has_session() const {
    std::lock_guard lock(mu_);
    return cs_.has_session();
  }
  /// The seq of the last message delivered to the application (0: none).
  resume::seq received() const {
    std::lock_guard lock(mu_);
    return cs_.has_session() ? cs_.current().in().received() : 0;
  }

  /// The lock and the state, for the network layer.
  std::mutex& mutex() noexcept { return mu_; }
  resume::client_session& state() noexcept { return cs_; }

 private:
  mutable std::mutex mu_;
  resume::client_session cs_;
};

/// What a resume-enabled server reports when a connection's negotiation ends
/// (docs/resume.md §2.4), and what it hands back to the application.
struct server_resume_event {
  resume::resume_status status = resume::resume_status::fresh;
  resume::seq replay_out = 0;  ///< messages the server writes again
  resume::seq replay_in = 0;   ///< messages the client writes again
  /// Messages the server had sent in a refused or ended session; each may or
  /// may not have reached the client.
  std::vector<resume::message> handed_back;
  std::error_code handback_error;
};

}  // namespace closewise::net

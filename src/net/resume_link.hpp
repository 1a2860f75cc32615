// closewise::net (private): one connection's share of a resumable session.
//
// The glue between a driver (sockets, the executor) and the sans-I/O resume
// core (docs/resume.md §10): data messages go through the session's replay
// buffer, received ones are counted and acknowledged in batches with the
// 0xB control frame, and one timer sends the ack a trickle is owed. The
// client and the server's session own one each, only on connections that
// negotiated `closewise-resume`: a plain connection pays nothing.
#pragma once

#include <cstdint>
#include <functional>
#include <memory>
#include <mutex>
#include <optional>
#include <string_view>
#include <system_error>

#include <boost/asio/steady_timer.hpp>

#include "closewise/resume/client_session.hpp"
#include "closewise/resume/session.hpp"
#include "closewise/resume/session_store.hpp"
#include "driver.hpp"

namespace closewise::net::detail {

class resume_link {
 public:
  /// `mu` guards `s` (shared with whoever holds the session between
  /// connections). A client passes its client_session, which may end `s`.
  resume_link(driver& d, std::mutex& mu, resume::session& s,
              const resume::client_session* cs = nullptr);
  resume_link(const resume_link&) = delete;
  resume_link& operator=(const resume_link&) = delete;

  // ---- any thread ------------------------------------------------------------
  /// Gives a message a seq and writes it (now on the executor, else posted).
  /// error::replay_buffer_full: not taken, the caller still holds it.
  [[nodiscard]] std::error_code send(proto::message_kind kind, std::string_view payload);
  /// The same, keeping `payload`'s own string; moved from only when taken.
  [[nodiscard]] std::error_code send(proto::message_kind kind, std::string&& payload);

  // ---- on the executor -------------------------------------------------------
  /// The connection opened: docs/resume.md §4.4, replays go first.
  void start();
  /// A data message arrived, about to be delivered: counts it, and acks if
  /// due (else arms the timer). False: the seq space ran out and the
  /// connection is failed with 1002.
  bool on_message(std::size_t size, resume::seq& n);
  /// The 0xB frame (docs/resume.md §3); a bad one fails the connection with 1002.
  void on_control(std::uint8_t op, std::string_view payload);
  /// docs/resume.md §5.2: flush the pending ack before a close frame goes out.
  void before_close();
  /// From any thread: acks now what was received. The ack is taken here, so
  /// the session may end right after (a reconnecting client being
  /// destroyed), and sent on the executor.
  void ack_now();
  /// The write buffer drained: write what the replay buffer still holds.
  void drained();
  /// The connection ended: the session is no longer this link's to touch.
  void stop();
  /// Server with a durable store (docs/resume.md §7.2): received messages
  /// are acked, and sent ones written, only once a commit holding them
  /// completed. One commit per executor turn carries both directions.
  void commit_through(resume::session_store* store) noexcept { store_ = store; }
  /// Called after an ack made room in a buffer that had refused a send.
  std::function<void()> on_room;

 private:
  bool usable_locked() const noexcept;
  std::error_code pushed_locked(std::unique_lock<std::mutex>& lock, std::string_view newest);
  void write_locked(std::string_view newest = {});
  void ack_locked();
  void send_owed_locked();
  void arm_locked();
  void arm_for_locked(std::optional<resume::time_point> when);
  void on_timer(const boost::system::error_code& ec);
  void want_commit_locked();
  void commit_now();
  void on_committed(std::error_code ec, const resume::commit_batch& pos);

  driver& d_;
  std::mutex& mu_;
  resume::session* s_;
  const resume::client_session* cs_;
  std::optional<boost::asio::steady_timer> timer_;
  std::optional<resume::time_point> armed_for_;
  resume::session_store* store_ = nullptr;
  bool commit_posted_ = false;
  bool stopped_ = false;
  bool refused_ = false;                 ///< a send met a full replay buffer; on_room is owed
  std::optional<resume::seq> owed_ack_;  ///< taken by ack_now() on another thread, not yet sent
};

}  // namespace closewise::net::detail

// closewise::net (private): the reconnecting client's state machine.
//
// Split by concept: reconnecting_client.cpp (the public methods and the
// state's transitions), reconnect_attempt.cpp (one connect attempt, its
// events, and the decision its end leads to), reconnect_sending.cpp (handing
// queued messages to the connection and accounting for them).
#pragma once

#include <atomic>
#include <cstdint>
#include <deque>
#include <functional>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <thread>
#include <vector>

#include <boost/asio/steady_timer.hpp>
#include <boost/asio/strand.hpp>

#include "closewise/net/reconnecting_client.hpp"
#include "closewise/net/resume.hpp"
#include "closewise/policy/decision.hpp"

namespace closewise::net::detail {

using steady = std::chrono::steady_clock;

/// One connect attempt and, if it opened, its connection.
struct attempt {
  std::unique_ptr<client> conn;
  bool opened = false;
  steady::time_point opened_at{};  ///< the injected clock's reading at open
  std::optional<policy::http_refusal> refusal;
  std::error_code failure;  ///< the first error before open
  /// Messages handed to `conn` that closewise has not yet seen leave its write
  /// buffer, oldest first, with their payload bytes.
  std::deque<queued_message> handed;
  std::size_t handed_bytes = 0;
  /// Handed messages net::client gave back (on_undelivered): a close won the
  /// race. They are the newest handed ones, since its state only moves on, and
  /// all of them arrive before its on_close.
  std::size_t refused = 0;
  std::optional<close_event> ended;  ///< set once on_close arrived
  /// The connection carries the resume session: its messages are the
  /// session's to replay, not `handed`'s to account for.
  bool resume_active = false;
  bool finished = false;  ///< its decision was taken
};

class reconnecting_client_impl : public std::enable_shared_from_this<reconnecting_client_impl> {
 public:
  using state = reconnect_state;
  using actions = std::vector<std::function<void()>>;

  reconnecting_client_impl(boost::asio::io_context& ioc, reconnecting_client_config cfg);

  // ---- callbacks (set before connect) --------------------------------------
  std::function<void(const open_info&)> on_open_, on_reconnected_;
  client::message_handler on_message_;
  std::function<void(const close_event&)> on_close_;
  reconnecting_client::scheduled_handler on_scheduled_;
  std::function<void(const give_up_summary&)> on_give_up_;
  std::function<void(std::error_code)> on_error_;
  reconnecting_client::credential_handler on_credentials_;
  std::function<void(std::vector<queued_message>, std::error_code)> on_undelivered_;
  std::function<void(const resume::client_outcome&)> on_resume_;

  // ---- public API (reconnecting_client.cpp) ---------------------------------
  [[nodiscard]] std::error_code connect(std::string_view url);
  [[nodiscard]] std::error_code reconnect();
  void network_changed();
  [[nodiscard]] std::error_code send(proto::message_kind kind, std::string_view payload);
  /// The same, keeping `payload`'s string; moved from only when taken.
  [[nodiscard]] std::error_code send_owned(proto::message_kind kind, std::string& payload);
  [[nodiscard]] std::error_code close(close_code code, std::string_view reason,
                                      std::optional<std::chrono::milliseconds> drain);
  state get_state() const noexcept { return pub_state_.load(std::memory_order_acquire); }
  std::size_t queued() const noexcept;
  /// The destructor's half: stop everything, hand the queue back, close with 1001.
  void shutdown();

 private:
  // ---- attempts (reconnect_attempt.cpp) -------------------------------------
  std::shared_ptr<attempt> begin_attempt_locked();
  void wire(client& c, const std::shared_ptr<attempt>& att);
  void start(const std::shared_ptr<attempt>& att);
  void opened(const std::shared_ptr<attempt>& att, const open_info& info);
  void message(const std::shared_ptr<attempt>& att, proto::message_kind k, std::string_view p);
  void errored(const std::shared_ptr<attempt>& att, std::error_code ec);
  void refused(const std::shared_ptr<attempt>& att, const proto::handshake_failure& f);
  void closed(const std::shared_ptr<attempt>& att, const close_event& ev);
  void conclude_locked(actions& a, const std::shared_ptr<attempt>& att, policy::decision d,
                       const policy::outcome& result, bool app_close);
  void schedule_retry_locked(actions& a, const policy::decision& d);
  void give_up_locked(actions& a, const policy::decision& d, const policy::outcome& result);
  static policy::outcome outcome_of(const attempt& att, const close_event& ev);

  // ---- sending (reconnect_sending.cpp) ---------------------------------------
  void pump_locked(actions& a);
  void trim_locked(attempt& att);
  void account_handed_locked(actions& a, attempt& att, bool clean);
  void start_close_locked(actions& a);
  void drained(const std::shared_ptr<attempt>& att);
  void handed_back(const std::shared_ptr<attempt>& att);
  void undelivered_locked(actions& a, std::vector<queued_message> msgs, std::error_code why);

  // ---- the resume session (reconnect_resume.cpp) --------------------------------
  void resumed(const std::shared_ptr<attempt>& att, resume::client_outcome& o);
  /// The attempt ended: keep the session or end it (docs/resume.md §6).
  void settle_session_locked(actions& a, const attempt& att, bool retries);
  /// stop/destruction: the session ends; its unacked messages go back.
  void end_session_locked(actions& a);
  /// Before an attempt: a session detached for longer than its max_age is
  /// over on this side too (docs/resume.md §4.3); its messages go back.
  void expire_session_locked(actions& a);

  // ---- timers and helpers (reconnecting_client.cpp) --------------------------
  using timer_fn = void (reconnecting_client_impl::*)(std::uint64_t);
  std::function<void(const boost::system::error_code&)> bind_timer(timer_fn fn, std::uint64_t gen);
  void wait_over(std::uint64_t gen);
  void drain_expired(std::uint64_t gen);
  static void cancel(boost::asio::steady_timer& t, std::uint64_t& gen);
  void run(actions& a);
  void dispose(std::shared_ptr<attempt> att);
  void publish_locked() { pub_state_.store(st_, std::memory_order_release); }
  /// Reports the queue's depth change since the last report (takes mu_).
  void note_depth();
  bool destroyed() const noexcept { return destroyed_.load(std::memory_order_acquire); }

  boost::asio::io_context& ioc_;
  boost::asio::strand<boost::asio::io_context::executor_type> strand_;
  reconnecting_client_config cfg_;
  /// The metrics observer (config observer, else connection.observer), and
  /// what each connection gets: the same, minus the messages a connection
  /// hands back, which this client queues again and reports itself.
  std::shared_ptr<metrics::observer> obs_, conn_obs_;

  mutable std::mutex mu_;       ///< guards everything below
  std::recursive_mutex cb_mu_;  ///< serializes callbacks (re-entered from inside one)
  std::atomic<bool> destroyed_{false};
  std::atomic<state> pub_state_{state::idle};

  state st_ = state::idle;
  std::string url_;
  send_queue queue_;
  policy::retry_state retry_;
  std::shared_ptr<attempt> cur_;
  proto::http_headers headers_;    ///< request headers, refreshed by the credential hook
  std::uint64_t connections_ = 0;  ///< connections that opened, ever
  std::chrono::milliseconds last_delay_{0};
  /// The wait before a retry, and close()'s drain deadline. A generation makes
  /// a completion that was already queued when the timer was cancelled stale.
  boost::asio::steady_timer wait_timer_, drain_timer_;
  std::uint64_t wait_gen_ = 0, drain_gen_ = 0;
  close_code close_code_ = close_code::normal;
  std::string close_reason_;
  bool close_started_ = false;
  bool in_hooks_ = false;
  std::thread::id hook_thread_;
  std::vector<queued_message> hook_msgs_;
  std::shared_ptr<client_resume> resume_;  ///< null: resume is off
  std::ptrdiff_t reported_depth_ = 0;      ///< the queue depth last told to obs_
};

}  // namespace closewise::net::detail

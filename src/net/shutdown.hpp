// closewise::net (private): a server's graceful shutdown (ARCHITECTURE §4):
// close every open session, spread over a window, wait for the close
// handshakes, abort what is left at the deadline, then one summary.
#pragma once

#include <chrono>
#include <cstddef>
#include <functional>
#include <memory>
#include <mutex>
#include <optional>
#include <vector>

#include <boost/asio/any_io_executor.hpp>
#include <boost/asio/steady_timer.hpp>

#include "closewise/net/server.hpp"
#include "server_shared.hpp"

namespace closewise::net::detail {

/// Starts server::shutdown(): snapshots the open sessions, stops accepting
/// (`stop_accepting`), and calls `done` once with the summary (at once when
/// nothing is open or the options are refused).
void start_shutdown(const std::shared_ptr<server_shared>& sh, const asio::any_io_executor& ex,
                    shutdown_options opts, std::function<void(const shutdown_summary&)> done,
                    const std::function<void()>& stop_accepting);

/// One graceful shutdown in progress. Its fields are guarded by `mu`; session
/// calls (close, abort) are made after releasing it, because a session on the
/// caller's thread may finish at once and report back here.
struct shutdown_state : std::enable_shared_from_this<shutdown_state> {
  shutdown_state(const asio::any_io_executor& ex, shutdown_options o,
                 std::function<void(const shutdown_summary&)> d)
      : opts(std::move(o)), done(std::move(d)), spread_timer(ex), deadline_timer(ex) {}

  std::mutex mu;
  shutdown_options opts;
  std::function<void(const shutdown_summary&)> done;
  /// Weak: the server's shared state keeps this shutdown for good (so no
  /// session links afterwards), and must not be kept alive by it in return.
  std::weak_ptr<server_shared> shared;
  shutdown_summary sum;
  std::chrono::steady_clock::time_point start = std::chrono::steady_clock::now();
  std::vector<std::shared_ptr<session_impl>> order;  ///< the sessions, in close order
  std::size_t next_close = 0;                        ///< order[next_close..] have no close yet
  std::chrono::steady_clock::time_point next_at{};   ///< when order[next_close] gets its close
  std::size_t finished = 0;
  bool deadline_passed = false;
  bool completed = false;
  asio::steady_timer spread_timer;
  asio::steady_timer deadline_timer;

  void begin();
  void send_due_closes();
  void on_deadline();
  /// A session of the snapshot ended (after its on_close).
  void on_session_end(const close_event& ev);
  /// An upgrade completed during the shutdown and got 503.
  void on_refused();
  /// The 503's headers: `Retry-After: S` when the close reason is
  /// "retry-after=S" (a restart), so a client refused in the handoff comes
  /// back when the others do, not after the 5 s floor of a bare 503.
  proto::http_headers refusal_headers() const;
  /// Makes the summary once every session ended; returns it to run `done` unlocked.
  std::optional<shutdown_summary> complete_locked();

 private:
  void schedule_next_locked();
  void finish(std::optional<shutdown_summary> s);
};

}  // namespace closewise::net::detail

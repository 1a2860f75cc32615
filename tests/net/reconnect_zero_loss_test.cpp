// No message lost silently (ARCHITECTURE §4, §7): a client sends 10,000
// numbered messages while its server is restarted three times on the same port.
// Each restart closes every session with 1012 (Service Restart), waits for the
// close handshakes, destroys the server and, once the client has seen the port
// refused, creates a new one. During the first two restarts the sender races
// the close handshake; during the last one it sends while no server exists. Every message must end
// up either received by a server exactly once, in order, or handed back to the application.
#include "closewise/net/reconnecting_client.hpp"

#include <gtest/gtest.h>

#include <charconv>
#include <condition_variable>
#include <iostream>
#include <set>
#include <thread>

#include "closewise/error.hpp"
#include "net/reconnect_support.hpp"

namespace closewise::net::test {
namespace {

using namespace std::chrono_literals;

constexpr int total = 10'000;

/// What both sides saw, with a condition variable to wait on the sum.
struct ledger {
  std::mutex mu;
  std::condition_variable cv;
  std::vector<int> received;     ///< by the servers, in arrival order
  std::vector<int> handed_back;  ///< by the client's on_undelivered
  std::vector<std::error_code> why;

  void add_received(int v) {
    std::lock_guard lock(mu);
    received.push_back(v);
    cv.notify_all();
  }
  void add_back(const std::vector<queued_message>& m, std::error_code ec) {
    std::lock_guard lock(mu);
    for (const auto& x : m) handed_back.push_back(std::stoi(x.data));
    why.push_back(ec);
    cv.notify_all();
  }
  /// Waits until every message is accounted for (or the deadline passes).
  bool wait_all(std::chrono::milliseconds limit) {
    std::unique_lock lock(mu);
    return cv.wait_for(lock, limit, [&] { return received.size() + handed_back.size() >= total; });
  }
};

/// A closewise server that can be restarted on the same port.
class restartable_server {
 public:
  restartable_server(boost::asio::io_context& ioc, ledger& l) : ioc_(ioc), ledger_(l) {
    // Below the ephemeral range: no socket takes the port while it is down.
    for (int tries = 0; tries < 5 && !start(restart_port()); ++tries) {
    }
  }
  /// The server goes first: its callbacks use closes_.
  ~restartable_server() { srv_.reset(); }
  restartable_server(const restartable_server&) = delete;
  restartable_server& operator=(const restartable_server&) = delete;
  std::uint16_t port() const { return port_; }

  /// Stops accepting and sends 1012 to every session; returns how many were
  /// asked to close. Not accepting first matters: a client that came back to
  /// the old server would be cut off by its destruction without a close
  /// handshake, and what it had written then is at-most-once.
  std::size_t begin_restart() {
    srv_->stop_accepting();
    const auto sessions = srv_->sessions();
    for (const auto& s : sessions) (void)s->close_endpoint(close_code::service_restart);
    return sessions.size();
  }
  /// Waits for `n` sessions to report their close, then destroys the server.
  bool finish_stop(std::size_t n) {
    for (std::size_t i = 0; i < n; ++i)
      if (!closes_.pop()) return false;
    srv_.reset();
    return true;
  }
  bool start_again() { return start(port_); }

 private:
  bool start(std::uint16_t port) {
    srv_ = std::make_unique<server>(ioc_);
    srv_->on_message([this](session&, proto::message_kind, std::string_view p) {
      int v = -1;
      std::from_chars(p.data(), p.data() + p.size(), v);
      ledger_.add_received(v);
    });
    srv_->on_close([this](session&, const closewise::close_event& ev) { closes_.push(ev); });
    if (srv_->listen("127.0.0.1", port)) return false;
    port_ = srv_->port();
    return true;
  }

  boost::asio::io_context& ioc_;
  ledger& ledger_;
  std::unique_ptr<server> srv_;
  std::uint16_t port_ = 0;
  channel<closewise::close_event> closes_;
};

TEST(reconnect_zero_loss, ten_thousand_messages_across_three_server_restarts) {
  ledger book;
  io_thread server_io;
  auto srv = std::make_unique<restartable_server>(server_io.ioc, book);
  const std::uint16_t port = srv->port();
  ASSERT_NE(port, 0);

  io_thread io;
  auto cfg = test_config();
  // A queue smaller than what piles up while the server is down, so the
  // overflow hand-back path runs too.
  cfg.queue = {1000, 1 << 20, overflow_policy::drop_oldest};
  // An attempt that reaches the old server in its last moments may sit in the
  // upgrade until a timeout; keep that short so the test moves on quickly.
  cfg.connection.connect_timeout = 1s;
  cfg.connection.handshake_timeout = 1s;
  reconnecting_client c(io.ioc, cfg);
  channel<rc_event> opens, refusals, restart_seen;
  std::atomic<int> closes{0};
  c.on_open([&](const open_info&) { opens.push(rc_event{rc_event::open}); });
  c.on_close([&](const closewise::close_event&) { ++closes; });
  c.on_reconnect_scheduled([&](std::uint32_t, milliseconds, const std::string& cause) {
    // Refused, or reset if the attempt raced the listener's close.
    if (cause.rfind("1012", 0) != 0)
      refusals.push(rc_event{rc_event::scheduled});
    else
      restart_seen.push(rc_event{rc_event::scheduled});
  });
  c.on_undelivered(
      [&](std::vector<queued_message> m, std::error_code ec) { book.add_back(m, ec); });
  ASSERT_FALSE(c.connect("ws://127.0.0.1:" + std::to_string(port) + "/"));
  ASSERT_TRUE(opens.pop());

  // The sender pauses at each milestone until the restart has begun, then
  // keeps sending through the close handshake and the downtime.
  constexpr int milestones[] = {2000, 4500, 7000};
  channel<int> reached, go_on;
  std::thread sender([&] {
    std::size_t m = 0;
    for (int i = 0; i < total; ++i) {
      if (m < std::size(milestones) && i == milestones[m]) {
        reached.push(i);
        if (!go_on.pop()) return;
        ++m;
      }
      const auto ec = c.send_text(std::to_string(i));
      if (ec) ADD_FAILURE() << "send " << i << ": " << ec.message();  // drop_oldest never refuses
    }
  });

  int restarts = 0;
  for (std::size_t k = 0; k < std::size(milestones); ++k) {
    const bool last = k + 1 == std::size(milestones);
    ASSERT_TRUE(reached.pop());
    const std::size_t n = srv->begin_restart();
    if (!last) go_on.push(1);  // sends now race the 1012 close handshake
    ASSERT_TRUE(srv->finish_stop(n));
    // The client has taken in the 1012 (a busy client may not have yet when the
    // server's side is done; until then it still sends on the old connection,
    // and what that connection did not send comes back to the queue's front).
    ASSERT_TRUE(restart_seen.pop()) << "restart " << k + 1;
    if (last) {
      // The last 3,000 messages are all sent while no server exists: more than
      // the queue holds, so drop_oldest must hand some back.
      go_on.push(1);
      sender.join();
    }
    ASSERT_TRUE(refusals.pop(15s)) << "the client should find the port closed; state "
                                   << to_string(c.get_state()) << ", closes " << closes.load();
    ASSERT_TRUE(srv->start_again());
    ASSERT_TRUE(opens.pop()) << "the client should come back after restart " << k + 1;
    ++restarts;
  }

  ASSERT_TRUE(book.wait_all(20s)) << "received " << book.received.size() << " + handed back "
                                  << book.handed_back.size();
  ASSERT_FALSE(c.close());
  EXPECT_EQ(restarts, 3);
  EXPECT_GE(closes.load(), 6) << "three 1012 closes and at least three refused attempts";

  std::lock_guard lock(book.mu);
  // Received: strictly increasing, so in order and without duplicates.
  for (std::size_t i = 1; i < book.received.size(); ++i)
    ASSERT_LT(book.received[i - 1], book.received[i]) << "at " << i;
  // Handed back: each at most once, never also received.
  std::set<int> back(book.handed_back.begin(), book.handed_back.end());
  EXPECT_EQ(back.size(), book.handed_back.size()) << "a message was handed back twice";
  for (int v : book.received) ASSERT_EQ(back.count(v), 0u) << v << " was received and handed back";
  EXPECT_EQ(book.received.size() + book.handed_back.size(), static_cast<std::size_t>(total));
  EXPECT_GT(book.handed_back.size(), 0u) << "the overflow path should have run";
  for (const auto& ec : book.why) EXPECT_EQ(ec, error::message_dropped);
  std::cout << "[ zero-loss ] received " << book.received.size() << ", handed back "
            << book.handed_back.size() << " (drop_oldest), restarts " << restarts << "\n";
}

}  // namespace
}  // namespace closewise::net::test

// Test helpers for resume over the network layer (docs/resume.md §10): a
// ledger of what both sides delivered and handed back, and an echoing
// resume-enabled server that can be torn down and rebuilt on one port.
#pragma once

#include <gtest/gtest.h>

#include <condition_variable>
#include <memory>
#include <mutex>
#include <string>
#include <vector>

#include "closewise/net/reconnecting_client.hpp"
#include "closewise/net/server.hpp"
#include "closewise/resume/memory_store.hpp"
#include "net/net_test_support.hpp"
#include "net/reconnect_support.hpp"

namespace closewise::net::test {

/// What each side delivered to its application, in order, and what the
/// client got back; waits are on its condition variable, never on sleeps.
struct resume_ledger {
  std::mutex mu;
  std::condition_variable cv;
  std::vector<int> at_server;  ///< c->s payloads, in delivery order
  std::vector<int> at_client;  ///< s->c payloads (the echoes), in delivery order
  std::vector<int> handed_back;
  std::vector<std::error_code> why;
  std::vector<resume::client_outcome> outcomes;  ///< handed_back already moved out

  void server_got(std::string_view p) {
    std::lock_guard l(mu);
    at_server.push_back(std::stoi(std::string(p)));
    cv.notify_all();
  }
  void client_got(std::string_view p) {
    std::lock_guard l(mu);
    at_client.push_back(std::stoi(std::string(p)));
    cv.notify_all();
  }
  void back(const std::vector<queued_message>& m, std::error_code ec) {
    std::lock_guard l(mu);
    for (const auto& x : m) handed_back.push_back(std::stoi(x.data));
    why.push_back(ec);
    cv.notify_all();
  }
  void outcome(const resume::client_outcome& o) {
    std::lock_guard l(mu);
    outcomes.push_back(o);
    cv.notify_all();
  }
  template <class Pred>
  bool wait(Pred p, std::chrono::milliseconds limit = std::chrono::milliseconds(30000)) {
    std::unique_lock l(mu);
    return cv.wait_for(l, limit, [&] { return p(*this); });
  }
};

/// A resume-enabled closewise echo server on 127.0.0.1 (port 0 at first).
struct resume_echo_server {
  resume_echo_server(boost::asio::io_context& ioc, resume_ledger& l,
                     std::shared_ptr<resume::session_store> store, std::uint16_t port = 0,
                     std::shared_ptr<metrics::observer> observer = nullptr, bool owned = false) {
    server_config cfg;
    cfg.resume_store = std::move(store);
    cfg.observer = std::move(observer);
    srv = std::make_unique<server>(ioc, cfg);
    srv->on_message([&l, owned](session& s, proto::message_kind k, std::string_view p) {
      // The payload is read after the send: a large one's buffer now belongs
      // to the replay buffer (zero-copy forwarding), and must still be valid.
      // `owned`: the echo is a string of its own, given up to the send.
      EXPECT_FALSE(owned ? s.send(k, std::string(p)) : s.send(k, p));
      l.server_got(p);
    });
    ec = srv->listen("127.0.0.1", port);
  }
  std::uint16_t port() const { return srv->port(); }
  std::unique_ptr<server> srv;
  std::error_code ec;
};

/// `cfg` offering a resumable session, with a queue the sender never waits on.
inline reconnecting_client_config resumable(reconnecting_client_config cfg = test_config()) {
  cfg.resume = resume::session_settings{};
  cfg.queue.max_messages = 20'000;
  cfg.queue.max_bytes = std::size_t{16} << 20;
  return cfg;
}

/// Routes `c`'s messages, hand-backs and resume outcomes into `l`.
inline void wire(reconnecting_client& c, resume_ledger& l) {
  c.on_message([&l](proto::message_kind, std::string_view p) { l.client_got(p); });
  c.on_undelivered([&l](std::vector<queued_message> m, std::error_code ec) { l.back(m, ec); });
  c.on_resume([&l](const resume::client_outcome& o) { l.outcome(o); });
}

/// Checks that `v` is exactly 1..n.
inline ::testing::AssertionResult exactly_once_in_order(const std::vector<int>& v, int n) {
  if (static_cast<int>(v.size()) != n)
    return ::testing::AssertionFailure() << "got " << v.size() << " messages, want " << n;
  for (int i = 0; i < n; ++i)
    if (v[static_cast<std::size_t>(i)] != i + 1)
      return ::testing::AssertionFailure() << "position " << i << " holds " << v[i];
  return ::testing::AssertionSuccess();
}

}  // namespace closewise::net::test

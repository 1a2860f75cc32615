// Test helpers for the fault tests: a closewise echo server behind a fault
// relay, and a ledger that accounts for every message sent.
#pragma once

#include <gtest/gtest.h>

#include <algorithm>
#include <mutex>
#include <set>
#include <string>
#include <vector>

#include "closewise/net/reconnecting_client.hpp"
#include "closewise/net/server.hpp"
#include "net/fault_relay.hpp"
#include "net/lifecycle_support.hpp"
#include "net/reconnect_support.hpp"

namespace closewise::net::test {

/// Where every message a test sent ended up.
class ledger {
 public:
  void sent(const std::string& m) {
    std::lock_guard lock(mu_);
    sent_.push_back(m);
  }
  void received(std::string_view m) {
    std::lock_guard lock(mu_);
    received_.emplace_back(m);
  }
  /// `may_have_arrived`: handed back by an unclean death (docs/reconnect.md,
  /// "Queued messages": "handed back, may have arrived"), so also receiving it is
  /// no error. Every other hand-back means the message never left.
  void handed_back(const std::vector<queued_message>& ms, bool may_have_arrived = false) {
    std::lock_guard lock(mu_);
    for (const auto& m : ms) {
      back_.push_back(m.data);
      if (may_have_arrived) uncertain_.insert(m.data);
    }
  }
  /// Written to the kernel before an unclean death, then neither received nor
  /// handed back: gone with the TCP connection (docs/reconnect.md, "Queued
  /// messages", last row; only the resume layer closes that gap). A test says
  /// so only where the bytes provably left closewise.
  void lost_with_tcp(const std::string& m) {
    std::lock_guard lock(mu_);
    lost_.push_back(m);
  }
  std::vector<std::string> received_list() const {
    std::lock_guard lock(mu_);
    return received_;
  }
  std::vector<std::string> back_list() const {
    std::lock_guard lock(mu_);
    return back_;
  }

  /// Exact accounting: every message sent was received exactly once or handed
  /// back exactly once, never both (unless the hand-back said "may have
  /// arrived"), and what was received arrived in send order.
  void expect_exact() const {
    std::lock_guard lock(mu_);
    std::size_t both = 0;
    for (const auto& m : back_) {
      if (uncertain_.count(m) && std::count(received_.begin(), received_.end(), m)) ++both;
    }
    EXPECT_EQ(received_.size() + back_.size() - both + lost_.size(), sent_.size())
        << "received " << received_.size() << " + handed back " << back_.size() << " - both "
        << both << " + lost with TCP " << lost_.size() << " != sent " << sent_.size();
    std::set<std::string> seen;
    for (const auto& m : received_) EXPECT_TRUE(seen.insert(m).second) << m << " received twice";
    std::set<std::string> back_seen;
    for (const auto& m : back_) {
      EXPECT_TRUE(back_seen.insert(m).second) << m << " handed back twice";
      if (!uncertain_.count(m)) {
        EXPECT_TRUE(seen.insert(m).second) << m << " handed back and received";
      }
      seen.insert(m);
    }
    for (const auto& m : lost_) EXPECT_TRUE(seen.insert(m).second) << m << " lost and also seen";
    for (const auto& m : sent_) EXPECT_EQ(seen.count(m), 1u) << m << " was sent and vanished";
    // In order: the received messages are a subsequence of the sent ones.
    std::size_t at = 0;
    for (const auto& m : received_) {
      while (at < sent_.size() && sent_[at] != m) ++at;
      EXPECT_LT(at, sent_.size()) << m << " arrived out of order";
    }
  }

 private:
  mutable std::mutex mu_;
  std::vector<std::string> sent_, received_, back_, lost_;
  std::set<std::string> uncertain_;
};

/// A closewise echo server on 127.0.0.1, reached through a fault relay. The
/// server records what it receives in `book`; "big" is answered with a 10,000
/// byte binary message instead of an echo.
struct faulty_path {
  explicit faulty_path(server_config cfg = {})
      : owned(std::make_unique<event_server>(server_io.ioc, std::move(cfg))), es(*owned) {
    es.on_message_hook = [this](session& s, proto::message_kind k, std::string_view p) {
      book.received(p);
      if (p == "big") {
        (void)s.send_binary(std::string(10000, 'B'));
      } else {
        (void)s.send(k, p);
      }
    };
    EXPECT_TRUE(es.listen());
    relay = std::make_unique<fault_relay>("127.0.0.1", es.port());
  }
  /// ~server waits for a callback running on the io thread
  /// (server_destruction_test.cpp), and ours use this object.
  ~faulty_path() {
    relay.reset();
    owned.reset();
  }

  /// The only open session (waits for it, bounded).
  std::shared_ptr<session> session_now() {
    EXPECT_TRUE(es.opened.wait_for(1));
    auto all = es.srv.sessions();
    return all.empty() ? nullptr : all.back();
  }

  ledger book;
  io_thread server_io;
  std::unique_ptr<event_server> owned;
  event_server& es;
  std::unique_ptr<fault_relay> relay;
};

/// A reconnecting client for fault tests: the scaled policy, a heartbeat of
/// 1 s + 1 s (first ping not jittered), and short attempt timeouts.
inline reconnecting_client_config fault_client_config() {
  auto cfg = test_config();
  cfg.heartbeat =
      heartbeat_config{std::chrono::milliseconds(1000), std::chrono::milliseconds(1000), 0.0};
  cfg.connection.connect_timeout = std::chrono::milliseconds(1000);
  cfg.connection.handshake_timeout = std::chrono::milliseconds(1000);
  return cfg;
}

inline std::chrono::milliseconds ms_between(steady::time_point a, steady::time_point b) {
  return std::chrono::duration_cast<std::chrono::milliseconds>(b - a);
}

}  // namespace closewise::net::test

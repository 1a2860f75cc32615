// The network layer reports exact counts to a metrics observer (issue 16).
// It lives with the metrics tests, which link the whole library for it.
#include "closewise/metrics/observer.hpp"

#include <gtest/gtest.h>

#include <algorithm>
#include <condition_variable>
#include <mutex>
#include <string>
#include <vector>

#include "closewise/error.hpp"
#include "closewise/net/reconnecting_client.hpp"
#include "net/net_test_support.hpp"

namespace closewise::net::test {
namespace {

using metrics::role;

/// Records every hook as one line of text, in arrival order.
class recording_observer final : public metrics::observer {
 public:
  void connection_opened(role r) override { add("opened " + who(r)); }
  void connection_closed(role r, const close_event& ev) override {
    add("closed " + who(r) + " " + std::to_string(static_cast<unsigned>(ev.code)) + " " +
        std::string(to_string(ev.initiator)) + (ev.was_clean ? " clean" : " unclean") +
        (ev.error == error::heartbeat_timeout ? " heartbeat" : ""));
  }
  void connect_failed(role r, std::error_code why) override {
    add("failed " + who(r) + " " + why.message());
  }
  void handshake_refused(role r, unsigned status) override {
    add("refused " + who(r) + " " + std::to_string(status));
  }
  void shed(metrics::shed_action a) override { add("shed " + std::string(to_string(a))); }
  void shutdown_completed(const metrics::shutdown_report& s) override {
    add("shutdown total=" + std::to_string(s.total) + " clean=" + std::to_string(s.clean) +
        " aborted=" + std::to_string(s.aborted) + " failed=" + std::to_string(s.failed));
  }
  void reconnect_attempt() override { add("attempt"); }
  void reconnect_scheduled(std::chrono::milliseconds d, std::string_view cause) override {
    add("scheduled " + std::to_string(d.count()) + "ms " + std::string(cause));
  }
  void gave_up(std::string_view cause) override { add("gave_up " + std::string(cause)); }
  void queue_depth_changed(std::ptrdiff_t delta) override { add("depth " + std::to_string(delta)); }
  void undelivered(std::error_code why, std::size_t n) override {
    add("undelivered " + std::to_string(n) + " " + why.message());
  }

  std::vector<std::string> events() const {
    std::lock_guard l(mu_);
    return ev_;
  }
  /// Waits (bounded) until `n` events were recorded; returns them.
  std::vector<std::string> wait(std::size_t n) {
    std::unique_lock l(mu_);
    cv_.wait_for(l, wait_limit, [&] { return ev_.size() >= n; });
    return ev_;
  }

 private:
  static std::string who(role r) { return std::string(to_string(r)); }
  void add(std::string s) {
    std::lock_guard l(mu_);
    ev_.push_back(std::move(s));
    cv_.notify_all();
  }
  mutable std::mutex mu_;
  std::condition_variable cv_;
  std::vector<std::string> ev_;
};

std::string msg(error e) { return std::error_code(e).message(); }

struct observed_server {
  std::shared_ptr<recording_observer> obs = std::make_shared<recording_observer>();
  io_thread io;
  server srv;
  explicit observed_server(server_config cfg = {})
      : srv(io.ioc, [&] {
          cfg.observer = obs;
          return cfg;
        }()) {
    // /close/CODE: the server closes at open with CODE.
    srv.on_open([](session& s) {
      const std::string t = s.request().target;
      if (t.rfind("/close/", 0) == 0)
        (void)s.close_endpoint(static_cast<close_code>(std::stoi(t.substr(7))));
    });
  }
  bool listen() { return !srv.listen("127.0.0.1", 0); }
  std::string url(const std::string& path) {
    return "ws://127.0.0.1:" + std::to_string(srv.port()) + path;
  }
};

TEST(observer, client_and_server_report_one_open_and_one_close_each) {
  observed_server s;
  ASSERT_TRUE(s.listen());
  auto obs = std::make_shared<recording_observer>();
  client_config cc;
  cc.observer = obs;
  channel<client_event> ch;
  client c(s.io.ioc, cc);
  record(c, ch);
  ASSERT_FALSE(c.connect(s.url("/close/1012")));
  while (auto e = ch.pop()) {
    if (e->type == client_event::closed) break;
  }
  EXPECT_EQ(obs->wait(2),
            (std::vector<std::string>{"opened client", "closed client 1012 remote clean"}));
  EXPECT_EQ(s.obs->wait(2),
            (std::vector<std::string>{"opened server", "closed server 1012 local clean"}));
}

TEST(observer, a_refused_upgrade_is_reported_by_status_on_both_sides) {
  observed_server s;
  s.srv.on_connect([](const proto::upgrade_request&) { return accept_decision::refused(403); });
  ASSERT_TRUE(s.listen());
  auto obs = std::make_shared<recording_observer>();
  client_config cc;
  cc.observer = obs;
  client c(s.io.ioc, cc);
  ASSERT_FALSE(c.connect(s.url("/")));
  EXPECT_EQ(obs->wait(2), (std::vector<std::string>{"refused client 403",
                                                    "failed client " + msg(error::bad_status)}));
  EXPECT_EQ(s.obs->wait(1), (std::vector<std::string>{"refused server 403"}));
}

TEST(observer, a_shed_is_reported_with_its_503_and_a_shutdown_with_its_summary) {
  server_config cfg;
  cfg.max_connections = 1;
  observed_server s(cfg);
  ASSERT_TRUE(s.listen());
  // The channels outlive the clients: a client's callbacks stop when it is destroyed.
  channel<client_event> ch1, ch2;
  client first(s.io.ioc), second(s.io.ioc);
  record(first, ch1);
  record(second, ch2);
  ASSERT_FALSE(first.connect(s.url("/")));
  ASSERT_EQ(ch1.pop()->type, client_event::opened);
  ASSERT_FALSE(second.connect(s.url("/")));
  while (auto e = ch2.pop()) {
    if (e->type == client_event::closed) break;
  }
  EXPECT_EQ(s.obs->wait(3),
            (std::vector<std::string>{"opened server", "shed http_503", "refused server 503"}));
  shutdown_options so;
  so.drain_deadline = 5s;
  const auto sum = s.srv.shutdown_and_wait(so);
  ASSERT_FALSE(sum.error);
  EXPECT_EQ(s.obs->wait(5),
            (std::vector<std::string>{"opened server", "shed http_503", "refused server 503",
                                      "closed server 1001 local clean",
                                      "shutdown total=1 clean=1 aborted=0 failed=0"}));
  while (auto e = ch1.pop()) {
    if (e->type == client_event::closed) break;
  }
}

TEST(observer, a_reconnecting_client_reports_attempts_retries_its_connections_and_the_give_up) {
  observed_server s;
  auto obs = std::make_shared<recording_observer>();
  reconnecting_client_config rc;
  rc.observer = obs;
  rc.uniform = [] { return 0.0; };  // the smallest delay the policy allows: its floor
  rc.heartbeat.interval = 0ms;
  // The first connection is closed with 4000 (retry), the second with 4500 (final).
  std::atomic<int> n{0};
  s.srv.on_open([&n](session& ss) {
    (void)ss.close(n++ == 0 ? static_cast<close_code>(4000) : static_cast<close_code>(4500));
  });
  ASSERT_TRUE(s.listen());
  channel<std::string> ch;
  reconnecting_client c(s.io.ioc, rc);
  c.on_give_up([&ch](const give_up_summary&) { ch.push("give_up"); });
  ASSERT_FALSE(c.send_text("a"));
  ASSERT_FALSE(c.send_text("b"));
  ASSERT_FALSE(c.connect(s.url("/")));
  ASSERT_EQ(ch.pop(), std::optional<std::string>("give_up"));
  const auto ev = obs->events();
  // on_give_up runs after every hook of the streak, the give-up's included.
  ASSERT_EQ(ev.size(), 11u) << ::testing::PrintToString(ev);
  EXPECT_EQ(ev[0], "depth 1");
  EXPECT_EQ(ev[1], "depth 1");
  EXPECT_EQ(ev[2], "attempt");
  EXPECT_EQ(ev[3], "opened client");
  EXPECT_EQ(ev[4], "depth -2");  // both handed to the connection at open
  EXPECT_EQ(ev[5], "closed client 4000 remote clean");
  EXPECT_EQ(ev[6].rfind("scheduled 500ms 4000", 0), 0u) << ev[6];
  EXPECT_EQ(ev[7], "attempt");
  EXPECT_EQ(ev[8], "opened client");
  EXPECT_EQ(ev[9], "closed client 4500 remote clean");
  EXPECT_EQ(ev[10].rfind("gave_up 4500", 0), 0u) << ev[10];
}

TEST(observer, a_reconnecting_client_reports_dropped_and_unsent_messages_and_its_queue) {
  boost::asio::io_context ioc;
  auto obs = std::make_shared<recording_observer>();
  reconnecting_client_config rc;
  rc.connection.observer = obs;  // either field installs it
  rc.queue.max_messages = 2;
  rc.queue.overflow = overflow_policy::drop_oldest;
  {
    reconnecting_client c(ioc, rc);
    for (const char* m : {"a", "b", "c"}) ASSERT_FALSE(c.send_text(m));
  }  // destroyed: what is queued is never sent
  EXPECT_EQ(obs->events(), (std::vector<std::string>{
                               "depth 1", "depth 1", "undelivered 1 " + msg(error::message_dropped),
                               "depth -2", "undelivered 2 " + msg(error::not_sent)}));
}

}  // namespace
}  // namespace closewise::net::test

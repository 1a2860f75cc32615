// The close-code matrix, live: a server closes with every code of the default
// table (and drops TCP once), and the reconnecting client retries or stops as
// ARCHITECTURE §3 says, waiting delays inside the (scaled) policy's bounds.
// Run against closewise's own server in-process and against python3-websockets.
#include "closewise/net/reconnecting_client.hpp"

#include <gtest/gtest.h>

#include <filesystem>
#include <iostream>

#include "net/reconnect_support.hpp"

namespace closewise::net::test {
namespace {

/// One connection of the matrix: how the server ends it and what must follow.
struct row {
  int code;  ///< step::drop for a TCP drop
  bool retries;
  delay_bounds bounds{};
};

/// The default table (ARCHITECTURE §3), written out independently of the registry.
const std::vector<row>& default_rows() {
  static const std::vector<row> rows = {
      {1000, false},
      {1001, true, spread_first},
      {1002, true, plain_first},
      {1003, true, plain_first},
      {1007, true, plain_first},
      {1008, false},
      {1009, false},
      {1010, false},
      {1011, true, spread_first},
      {1012, true, spread_first},
      {1013, true, raised_first},
      {1014, true, plain_first},
      {3000, true, plain_first},
      {3499, true, plain_first},
      {3500, false},
      {3999, false},
      {4000, true, plain_first},
      {4499, true, plain_first},
      {4500, false},
      {4999, false},
      {step::drop, true, plain_first},
  };
  return rows;
}

/// A timer may fire late but never early; how late is bounded generously so
/// the test holds under sanitizers on two shared cores. Measured under TSan
/// with both cores kept busy (8 walks, closewise and python servers): a wait
/// overran its delay by at most 82 ms, wait + reconnect + upgrade included.
/// 500 ms is six times that, and still fails a client that waits out an
/// attempt timeout (1 s and more here) or restarts the wait once over.
constexpr milliseconds lateness_slack{500};

/// Walks one client through `rows`: every connection is ended by the server as
/// the row says, the client's decision and the delay it waits are checked,
/// and a stop is left with reconnect(). The server's last step keeps the
/// connection open, so the walk ends with the application's own close.
void walk(const std::string& url, const std::vector<row>& rows) {
  io_thread io;
  channel<rc_event> ch;
  reconnecting_client c(io.ioc, test_config());
  record(c, ch);
  ASSERT_FALSE(c.connect(url));
  std::optional<rc_event> pending;  // the last retry scheduled, to time it
  milliseconds latest{0};           // the most a wait overran its delay
  for (std::size_t i = 0; i <= rows.size(); ++i) {
    if (i > 0) expect_next(ch, rc_event::reconnected);
    const rc_event open = expect_next(ch, rc_event::open);
    if (pending) {
      const auto waited = std::chrono::duration_cast<milliseconds>(open.at - pending->at);
      EXPECT_GE(waited, pending->delay) << "row " << i - 1;
      EXPECT_LE(waited, pending->delay + lateness_slack) << "row " << i - 1;
      latest = std::max(latest, waited - pending->delay);
      pending.reset();
    }
    if (i == rows.size()) break;
    const row& r = rows[i];
    SCOPED_TRACE("code " + std::to_string(r.code));
    const rc_event closed = expect_next(ch, rc_event::close);
    if (r.code == step::drop) {
      EXPECT_EQ(closed.close_ev.code, close_code::abnormal);
      EXPECT_FALSE(closed.close_ev.was_clean);
      EXPECT_EQ(closed.close_ev.initiator, initiator::none);
    } else {
      EXPECT_EQ(to_int(closed.close_ev.code), r.code);
      EXPECT_TRUE(closed.close_ev.was_clean);
      EXPECT_EQ(closed.close_ev.initiator, initiator::remote);
    }
    if (r.retries) {
      const rc_event s = expect_next(ch, rc_event::scheduled);
      EXPECT_EQ(s.attempt, 1u);  // min_uptime 0: each opened connection starts a streak
      EXPECT_GE(s.delay, r.bounds.lo);
      EXPECT_LT(s.delay, r.bounds.hi);
      EXPECT_EQ(c.get_state(), reconnect_state::waiting);
      pending = s;
    } else {
      const rc_event g = expect_next(ch, rc_event::give_up);
      const std::string code_text = std::to_string(r.code);
      EXPECT_EQ(g.summary.reason.rfind(code_text, 0), 0u) << g.summary.reason;
      EXPECT_EQ(g.summary.attempts, 1u);
      ASSERT_TRUE(std::holds_alternative<closewise::close_event>(g.summary.last_outcome));
      EXPECT_EQ(c.get_state(), reconnect_state::stopped);
      EXPECT_EQ(c.reconnect(), std::error_code{});
    }
  }
  ASSERT_FALSE(c.close(close_code::normal, "done"));
  const rc_event last = expect_next(ch, rc_event::close);
  // The reason is the peer's echo, which RFC 6455 §5.5.1 lets it leave empty.
  EXPECT_EQ(last.close_ev.code, close_code::normal);
  EXPECT_TRUE(last.close_ev.was_clean);
  EXPECT_EQ(last.close_ev.initiator, initiator::local);
  EXPECT_EQ(c.get_state(), reconnect_state::stopped);
  EXPECT_FALSE(ch.pop(milliseconds{100})) << "no event after the application's close";
  std::cout << "[ matrix ] " << rows.size() << " closes; every wait >= its reported delay, "
            << "at most " << latest.count() << " ms longer (wait + reconnect + upgrade)\n";
}

TEST(reconnect_matrix, closewise_server_every_default_code) {
  io_thread server_io;
  std::vector<step> steps;
  for (const row& r : default_rows()) steps.push_back({r.code});
  steps.push_back({step::stay});
  scripted_server srv(server_io.ioc, steps);
  ASSERT_FALSE(srv.ec);
  walk(srv.url(), default_rows());
  EXPECT_EQ(srv.opened(), default_rows().size() + 1);
}

TEST(reconnect_matrix, python_websockets_server_every_default_code) {
  const std::string script = source_dir() + "/tests/interop/reconnect_server.py";
  if (!std::filesystem::exists("/usr/bin/python3") ||
      !run_quiet("/usr/bin/python3 -c 'import websockets'")) {
    if (in_ci()) FAIL() << "python3-websockets is missing (apt-get install python3-websockets)";
    GTEST_SKIP() << "python3-websockets is not installed";
  }
  std::vector<std::string> argv = {"/usr/bin/python3", script};
  for (const row& r : default_rows())
    argv.push_back(r.code == step::drop ? "drop" : std::to_string(r.code));
  argv.push_back("open");
  child_process py(argv);
  ASSERT_TRUE(py.started());
  const auto first = py.read_line();
  ASSERT_TRUE(first && first->rfind("PORT ", 0) == 0) << (first ? *first : "no output");
  walk("ws://127.0.0.1:" + first->substr(5) + "/", default_rows());
  // The server saw every connection, in order.
  for (std::size_t i = 0; i <= default_rows().size(); ++i) {
    const auto line = py.read_line();
    ASSERT_TRUE(line);
    EXPECT_EQ(line->rfind("CONN " + std::to_string(i) + " ", 0), 0u) << *line;
  }
}

}  // namespace
}  // namespace closewise::net::test

// End to end: how `closewise connect` closes: at stdin EOF (also before the
// connection is open), with a chosen code and reason, and by a /close line.
#include <gtest/gtest.h>
#include <nlohmann/json.hpp>

#include <string>

#include "cli/cli_json.hpp"

using closewise::test::cli;
using closewise::test::cli_process;
using closewise::test::close_json;
using closewise::test::next_event;
using closewise::test::next_json;
using closewise::test::run_cli;
using closewise::test::start_serve;
using json = nlohmann::json;
using namespace std::chrono_literals;

namespace {

json with_id(json j, int id) {
  j["id"] = id;
  return j;
}

}  // namespace

// The reproduction: stdin is already at EOF when connect starts, so the
// close is asked for before the connection exists. It used to cancel the
// attempt with no event and hang; it must connect, close with 1000, exit 0.
TEST(cli_connect, eof_before_the_open_connects_then_closes_1000_and_exits_zero) {
  cli_process s(cli({"serve", "--json"}));
  const auto url = start_serve(s);
  cli_process c(cli({"connect", url, "--json", "--reconnect", "never", "--close-on-eof"}));
  c.close_stdin();  // EOF before the child has even parsed its arguments
  EXPECT_EQ(next_json(c), (json{{"event", "open"}, {"url", url}}));
  EXPECT_EQ(next_json(c), close_json(1000, "", true, "local"));
  EXPECT_EQ(c.wait(2s), 0);
  EXPECT_EQ(next_json(s)["event"], "open");
  EXPECT_EQ(next_json(s), with_id(close_json(1000, "", true, "remote"), 1));
}

// Lines read before the open are queued; the EOF close waits for them to go out.
TEST(cli_connect, lines_read_before_the_open_are_sent_before_the_eof_close) {
  cli_process s(cli({"serve", "--json", "--echo"}));
  const auto url = start_serve(s);
  cli_process c(cli({"connect", url, "--json", "--reconnect", "never", "--close-on-eof"}));
  c.write("one\ntwo\n");
  c.close_stdin();
  EXPECT_EQ(next_json(c)["event"], "open");
  EXPECT_EQ(next_json(c), (json{{"event", "message"}, {"type", "text"}, {"data", "one"}}));
  EXPECT_EQ(next_json(c), (json{{"event", "message"}, {"type", "text"}, {"data", "two"}}));
  EXPECT_EQ(next_json(c), close_json(1000, "", true, "local"));
  EXPECT_EQ(c.wait(2s), 0);
}

TEST(cli_connect, close_code_and_reason_at_eof_reach_the_server) {
  cli_process s(cli({"serve", "--json"}));
  const auto url = start_serve(s);
  cli_process c(cli({"connect", url, "--json", "--reconnect", "never", "--close-on-eof",
                     "--close-code", "4321", "--close-reason", "bye \xC3\xA9t\xC3\xA9"}));
  c.close_stdin();
  EXPECT_EQ(next_json(c)["event"], "open");
  // The event reports the server's echo: the same code, and closewise's server echoes no reason.
  EXPECT_EQ(next_json(c), close_json(4321, "", true, "local"));
  EXPECT_EQ(c.wait(2s), 0);
  EXPECT_EQ(next_json(s)["event"], "open");
  EXPECT_EQ(next_json(s), with_id(close_json(4321, "bye \xC3\xA9t\xC3\xA9", true, "remote"), 1));
}

TEST(cli_connect, slash_close_sends_the_code_and_reason_and_a_double_slash_sends_text) {
  cli_process s(cli({"serve", "--json", "--echo"}));
  const auto url = start_serve(s);
  cli_process c(cli({"connect", url, "--json", "--reconnect", "never", "--slash"}));
  EXPECT_EQ(next_json(c)["event"], "open");
  c.write("//close 4000 not a command\n");
  EXPECT_EQ(next_json(c),
            (json{{"event", "message"}, {"type", "text"}, {"data", "/close 4000 not a command"}}));
  c.write("/close 4999 bye  now\n");
  EXPECT_EQ(next_json(c), close_json(4999, "", true, "local"));
  EXPECT_EQ(c.wait(2s), 0);
  EXPECT_EQ(next_json(s)["event"], "open");
  EXPECT_EQ(next_event(s, "close"), with_id(close_json(4999, "bye  now", true, "remote"), 1));
}

TEST(cli_connect, slash_close_without_a_code_closes_with_1000) {
  cli_process s(cli({"serve", "--json"}));
  const auto url = start_serve(s);
  cli_process c(cli({"connect", url, "--json", "--reconnect", "never", "--slash"}));
  EXPECT_EQ(next_json(c)["event"], "open");
  c.write("/close  \n");  // trailing spaces from a terminal
  EXPECT_EQ(next_json(c), close_json(1000, "", true, "local"));
  EXPECT_EQ(c.wait(2s), 0);
}

// ARCHITECTURE §5: without --slash every line is text, slashes included.
TEST(cli_connect, without_slash_a_line_starting_with_a_slash_is_text) {
  cli_process s(cli({"serve", "--json", "--echo"}));
  const auto url = start_serve(s);
  cli_process c(cli({"connect", url, "--json", "--reconnect", "never", "--close-on-eof"}));
  c.write("/close 4000 bye\n//x\n");
  c.close_stdin();
  EXPECT_EQ(next_json(c)["event"], "open");
  EXPECT_EQ(next_json(c)["data"], "/close 4000 bye");
  EXPECT_EQ(next_json(c)["data"], "//x");
  EXPECT_EQ(next_json(c), close_json(1000, "", true, "local"));
  EXPECT_EQ(c.wait(2s), 0);
}

// A command that cannot be carried out is refused on stderr, sends nothing and
// leaves the connection open.
TEST(cli_connect, bad_slash_commands_are_refused_on_stderr_and_send_nothing) {
  cli_process s(cli({"serve", "--json", "--echo"}));
  const auto url = start_serve(s);
  cli_process c(cli({"connect", url, "--json", "--reconnect", "never", "--slash"}));
  EXPECT_EQ(next_json(c)["event"], "open");
  c.write("/close 1001\n/close 1005 x\n/close 70000\n/close abc\n/frob 1\n/close 4000 " +
          std::string(124, 'r') + "\n/close 4000 \xC3\n");
  c.write("after\n");
  // Nothing of the above reached the server: the next message is "after".
  EXPECT_EQ(next_json(c), (json{{"event", "message"}, {"type", "text"}, {"data", "after"}}));
  c.write("/close 4000\n");
  EXPECT_EQ(next_json(c), close_json(4000, "", true, "local"));
  EXPECT_EQ(c.wait(2s), 0);
  const std::string err = c.read_stderr(1s);
  for (const char* want :
       {"/close 1001: 1001 Going Away is not offered to clients: connect can send 1000 and "
        "3000-4999",
        "/close 1005 x: 1005 No Status Rcvd is never sent: a receiver reports it locally",
        "/close 70000: 70000 is not a close code", "/close abc: 'abc' is not a close code",
        "/frob 1: unknown command '/frob'",
        "the reason is 124 bytes; a close reason holds at most 123",
        "the reason is not valid UTF-8"})
    EXPECT_NE(err.find(want), std::string::npos) << "missing: " << want << "\n" << err;
  EXPECT_EQ(err.find("API"), std::string::npos) << err;
}

// Usage errors: exit 2, one line naming the flag, and no word of "API".
TEST(cli_connect, bad_close_flags_are_usage_errors_naming_the_flag) {
  const std::string url = "ws://127.0.0.1:1/";
  const std::vector<std::pair<std::vector<std::string>, std::string>> cases = {
      {cli({"connect", url, "--close-on-eof", "--close-code", "1001"}),
       "--close-code 1001: 1001 Going Away is not offered to clients"},
      {cli({"connect", url, "--close-on-eof", "--close-code", "1005"}),
       "--close-code 1005: 1005 No Status Rcvd is never sent"},
      {cli({"connect", url, "--close-on-eof", "--close-code", "2000"}),
       "--close-code 2000: 2000 (Reserved (future RFCs)) is not valid in a close frame"},
      {cli({"connect", url, "--close-on-eof", "--close-code", "70000"}), "--close-code"},
      {cli({"connect", url, "--close-on-eof", "--close-code", "x"}), "--close-code"},
      {cli({"connect", url, "--close-on-eof", "--close-reason", std::string(124, 'r')}),
       "--close-reason: the reason is 124 bytes"},
      {cli({"connect", url, "--close-code", "4000"}), "--close-code requires --close-on-eof"},
      {cli({"connect", url, "--close-reason", "bye"}), "--close-reason requires --close-on-eof"},
  };
  for (const auto& [args, want] : cases) {
    const auto r = run_cli(args);
    EXPECT_EQ(r.status, 2) << want << "\n" << r.err;
    EXPECT_NE(r.err.find(want), std::string::npos) << "want: " << want << "\ngot: " << r.err;
    EXPECT_EQ(r.err.find("API"), std::string::npos) << r.err;
  }
}

// A signal while no connection is open (here: waiting to retry a refused
// connect) stops at once; there is nothing to close.
TEST(cli_connect, a_signal_while_waiting_to_reconnect_exits_at_once) {
  cli_process s(cli({"serve", "--json", "--reject-status", "500"}));
  const auto url = start_serve(s);
  cli_process c(cli({"connect", url, "--json", "--reconnect", "always", "--close-on-eof"}));
  c.close_stdin();  // the EOF close waits for an open that never comes
  EXPECT_EQ(next_json(c)["event"], "error");
  const json close = next_json(c);
  EXPECT_EQ(close["code"], 1006);
  EXPECT_EQ(close["was_clean"], false);
  EXPECT_EQ(close["initiator"], "none");
  EXPECT_EQ(next_json(c)["event"], "reconnect_scheduled");
  c.signal(SIGINT);
  const auto rc = c.wait(2s);
  ASSERT_TRUE(rc.has_value()) << "connect hung after SIGINT";
  EXPECT_EQ(*rc, 1);
  EXPECT_NE(c.read_stderr(1s).find("interrupted before a connection was open"), std::string::npos);
}

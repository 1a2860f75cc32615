// End to end: `closewise connect --json` against `closewise serve --json`,
// asserting the exact JSON events of ARCHITECTURE §5.
#include <gtest/gtest.h>
#include <nlohmann/json.hpp>

#include <string>

#include "cli/cli_json.hpp"

using closewise::test::cli;
using closewise::test::cli_process;
using closewise::test::next_json;
using closewise::test::start_serve;
using json = nlohmann::json;
using namespace std::chrono_literals;

TEST(cli_events, echo_then_local_close_on_eof) {
  cli_process s(cli({"serve", "--port", "0", "--json", "--echo"}));
  const auto url = start_serve(s);
  cli_process c(
      cli({"connect", url + "/chat?room=1", "--json", "--reconnect", "never", "--close-on-eof"}));
  json open = next_json(c);
  EXPECT_EQ(open["event"], "open");
  c.write("hello\n");
  json msg = next_json(c);
  EXPECT_EQ(msg, (json{{"event", "message"}, {"type", "text"}, {"data", "hello"}}));
  c.close_stdin();
  // Like the browser's CloseEvent, the event reports the peer's echo: same code, and
  // closewise's server echoes no reason.
  json close = next_json(c);
  EXPECT_EQ(close, (json{{"event", "close"},
                         {"code", 1000},
                         {"reason", ""},
                         {"was_clean", true},
                         {"initiator", "local"}}));
  EXPECT_EQ(c.wait(2s), 0);
  // The server saw exactly the path and query the client asked for.
  json sopen = next_json(s);
  EXPECT_EQ(sopen["event"], "open");
  EXPECT_EQ(sopen["path"], "/chat?room=1");
}

TEST(cli_events, remote_close_with_final_code_stops_and_exits_zero) {
  cli_process s(cli({"serve", "--port", "0", "--json", "--close-after-ms", "50", "--code", "4500",
                     "--reason", "h\xC3\xA9 bye"}));
  const auto url = start_serve(s);
  cli_process c(cli({"connect", url, "--json"}));
  EXPECT_EQ(next_json(c)["event"], "open");
  EXPECT_EQ(next_json(c), (json{{"event", "close"},
                                {"code", 4500},
                                {"reason", "h\xC3\xA9 bye"},
                                {"was_clean", true},
                                {"initiator", "remote"}}));
  json g = next_json(c);
  EXPECT_EQ(g["event"], "give_up");
  EXPECT_TRUE(g["reason"].is_string());
  EXPECT_EQ(c.wait(2s), 0);
}

TEST(cli_events, retryable_close_schedules_a_reconnect_with_the_real_delay) {
  cli_process s(
      cli({"serve", "--port", "0", "--json", "--close-after-ms", "20", "--code", "4000"}));
  const auto url = start_serve(s);
  cli_process c(cli({"connect", url, "--json", "--max-attempts", "1"}));
  EXPECT_EQ(next_json(c)["event"], "open");
  EXPECT_EQ(next_json(c)["code"], 4000);
  json r = next_json(c);
  ASSERT_EQ(r["event"], "reconnect_scheduled");
  EXPECT_EQ(r["attempt"], 1);
  EXPECT_EQ(r["cause"], "4000 Private use");
  // Full jitter with a 500 ms floor: the first delay is within [500, 1000] ms.
  EXPECT_GE(r["delay_ms"].get<int>(), 500);
  EXPECT_LE(r["delay_ms"].get<int>(), 1000);
  EXPECT_EQ(next_json(c)["event"], "open");
  EXPECT_EQ(next_json(c)["event"], "close");
  EXPECT_EQ(next_json(c)["event"], "give_up");
  EXPECT_EQ(c.wait(3s), 0);
}

TEST(cli_events, refused_handshake_yields_error_then_close_1006_and_nonzero_exit) {
  cli_process s(
      cli({"serve", "--port", "0", "--json", "--reject-status", "503", "--retry-after", "1"}));
  const auto url = start_serve(s);
  cli_process c(cli({"connect", url, "--json", "--reconnect", "never"}));
  EXPECT_EQ(next_json(c)["event"], "error");
  json close = next_json(c);
  EXPECT_EQ(close["event"], "close");
  EXPECT_EQ(close["code"], 1006);
  EXPECT_EQ(close["was_clean"], false);
  EXPECT_EQ(close["initiator"], "none");
  EXPECT_EQ(close["reason"], "");
  EXPECT_EQ(next_json(c)["event"], "give_up");
  const auto rc = c.wait(2s);
  ASSERT_TRUE(rc.has_value()) << "--reconnect never exits within 2 s";
  EXPECT_NE(*rc, 0);
}

TEST(cli_events, max_message_is_inclusive_and_1009_above) {
  cli_process s(cli({"serve", "--port", "0", "--json", "--echo", "--max-message", "100"}));
  const auto url = start_serve(s);
  cli_process c(cli({"connect", url, "--json", "--reconnect", "never"}));
  EXPECT_EQ(next_json(c)["event"], "open");
  const std::string exact(100, 'x');
  c.write(exact + "\n");
  EXPECT_EQ(next_json(c)["data"], exact);
  c.write(std::string(101, 'y') + "\n");
  json close = next_json(c);
  EXPECT_EQ(close["event"], "close");
  EXPECT_EQ(close["code"], 1009);
  EXPECT_EQ(close["initiator"], "remote");
  EXPECT_EQ(close["was_clean"], true) << "the failing server must not reset the client: " << close;
  EXPECT_EQ(next_json(c)["event"], "give_up");
  EXPECT_EQ(c.wait(2s), 0);
}

TEST(cli_events, sigterm_sends_1001_and_serve_exits) {
  cli_process s(cli({"serve", "--port", "0", "--json"}));
  const auto url = start_serve(s);
  cli_process c(cli({"connect", url, "--json", "--reconnect", "never"}));
  EXPECT_EQ(next_json(c)["event"], "open");
  EXPECT_EQ(next_json(s)["event"], "open");
  const auto t0 = std::chrono::steady_clock::now();
  s.signal(SIGTERM);
  json close = next_json(c, 3s);
  EXPECT_EQ(close["code"], 1001);
  EXPECT_EQ(close["initiator"], "remote");
  EXPECT_EQ(close["was_clean"], true);
  EXPECT_LT(std::chrono::steady_clock::now() - t0, 3s);
  EXPECT_EQ(s.wait(5s), 0);
}

TEST(cli_bad_input, each_gets_one_clear_line_and_a_nonzero_exit) {
  const std::vector<std::vector<std::string>> cases = {
      cli({"connect", "http://example.invalid/"}),
      cli({"connect", "ws://[::1"}),
      cli({"connect", "ws://127.0.0.1:1/", "--reconnect", "/nonexistent/policy.json"}),
      cli({"connect", "ws://127.0.0.1:1/", "--bogus"}),
      cli({"serve", "--port", "70000"}),
      cli({"serve", "--port", "0", "--code", "1005", "--close-after-ms", "1"}),
      cli({"serve", "--port", "0", "--code", "1000", "--reason", std::string(124, 'r')}),
      cli({"frobnicate"}),
  };
  for (const auto& args : cases) {
    cli_process p(args);
    p.close_stdin();
    // Generous: it only tells a hang from an exit (sanitized starts are slow under load).
    const auto rc = p.wait(20s);
    ASSERT_TRUE(rc.has_value()) << args[1] << " hung";
    EXPECT_NE(*rc, 0) << args[1];
    EXPECT_LT(*rc, 128) << "no crash";
    const std::string err = p.read_stderr(1s);
    EXPECT_NE(err.find("closewise"), std::string::npos) << err;
    EXPECT_EQ(err.find("terminate called"), std::string::npos) << err;
  }
}

TEST(cli_events, max_connections_sheds_with_1013_and_retry_after) {
  cli_process s(cli({"serve", "--port", "0", "--json", "--max-connections", "1", "--shed-1013",
                     "--retry-after", "7"}));
  const auto url = start_serve(s);
  cli_process first(cli({"connect", url, "--json", "--reconnect", "never"}));
  EXPECT_EQ(next_json(first)["event"], "open");
  cli_process second(cli({"connect", url, "--json", "--reconnect", "never"}));
  EXPECT_EQ(next_json(second)["event"], "open");
  EXPECT_EQ(next_json(second), (json{{"event", "close"},
                                     {"code", 1013},
                                     {"reason", "retry-after=7"},
                                     {"was_clean", true},
                                     {"initiator", "remote"}}));
  EXPECT_EQ(next_json(second)["event"], "give_up");
  EXPECT_EQ(second.wait(2s), 0);
  first.signal(SIGTERM);
  EXPECT_EQ(next_json(first)["event"], "close");
  // The summary counts the shed connection, which never reached the server's callbacks.
  s.signal(SIGTERM);
  const json sum = closewise::test::next_event(s, "summary");
  EXPECT_EQ(sum["served"], 1) << sum;
  EXPECT_EQ(sum["shed"], 1) << sum;
  EXPECT_EQ(sum["refused"], 0) << sum;
  EXPECT_EQ(s.wait(5s), 0);
}

// End to end: `closewise demo --json` walks the close-code table, and every
// scenario's close, decision and measured wait match the policy table, as
// this file restates it (never the demo's own expected_* fields alone).
#include <arpa/inet.h>
#include <gtest/gtest.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>
#include <nlohmann/json.hpp>

#include <closewise/error.hpp>

#include <cerrno>
#include <chrono>
#include <csignal>
#include <cstdlib>
#include <map>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include "cli/cli_process.hpp"
#ifdef CLOSEWISE_HAVE_REDIS
#include "resume/redis_process.hpp"
#endif

namespace {

using namespace std::chrono_literals;

// Timers on a loaded (or sanitized) machine fire late, never early; the
// demo's own tolerance is +250 ms, the test adds a little on top of it.
constexpr long late_slack_ms = 250;
constexpr long early_slack_ms = 10;

struct demo_run {
  std::optional<int> status;
  std::string out;
  std::string err;
  nlohmann::json report;
};

/// `closewise ARGS...` to its end (bounded): stdout, the exit status, one JSON
/// report. CLOSEWISE_REDIS_SERVER is set to `redis` for the child when given.
demo_run run_cli(std::vector<std::string> args, std::optional<std::string> redis = std::nullopt) {
  demo_run d;
  const char* old = std::getenv("CLOSEWISE_REDIS_SERVER");
  const std::optional<std::string> saved = old ? std::optional<std::string>(old) : std::nullopt;
  if (redis) setenv("CLOSEWISE_REDIS_SERVER", redis->c_str(), 1);
  args.insert(args.begin(), CLOSEWISE_CLI);
  closewise::test::cli_process p(args);
  if (redis && saved) setenv("CLOSEWISE_REDIS_SERVER", saved->c_str(), 1);
  if (redis && !saved) unsetenv("CLOSEWISE_REDIS_SERVER");
  p.close_stdin();
  const auto deadline = std::chrono::steady_clock::now() + 120s;
  while (std::chrono::steady_clock::now() < deadline) {
    auto line = p.read_line(std::chrono::duration_cast<std::chrono::milliseconds>(
        deadline - std::chrono::steady_clock::now()));
    if (!line) break;
    d.out += *line + "\n";
  }
  d.status = p.wait(5s);
  d.err = p.read_stderr(1s);
  d.report = nlohmann::json::parse(d.out, nullptr, /*allow_exceptions=*/false);
  return d;
}

// The demo runs once (it takes seconds, ctest runs each TEST in its own
// process), so the checks below are steps of one test reading one report.
const demo_run& demo() {
  static const demo_run r = run_cli({"demo", "--json"});
  return r;
}

/// Whether the demo's resume row must kill a real process: redis-server is
/// installed (found as tests/resume/redis_process.hpp finds it, which honours
/// CLOSEWISE_REDIS_SERVER as the demo does) and the build has the Redis store.
/// Under CI=true both are required.
bool redis_row_expected() {
#ifdef CLOSEWISE_HAVE_REDIS
  if (!closewise::resume::test::find_redis_server().empty()) return true;
  if (closewise::resume::test::in_ci())
    ADD_FAILURE() << "redis-server is required under CI=true (scripts/deps.sh test)";
#else
  const char* ci = std::getenv("CI");
  if (ci != nullptr && std::string(ci) == "true")
    ADD_FAILURE() << "built without hiredis: the Redis store is required under CI";
#endif
  return false;
}

/// Nothing listens on 127.0.0.1:port any more.
bool refused(int port) {
  const int fd = ::socket(AF_INET, SOCK_STREAM, 0);
  sockaddr_in a{};
  a.sin_family = AF_INET;
  a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  a.sin_port = htons(static_cast<std::uint16_t>(port));
  const bool r =
      ::connect(fd, reinterpret_cast<sockaddr*>(&a), sizeof a) != 0 && errno == ECONNREFUSED;
  ::close(fd);
  return r;
}

/// The port in "redis://127.0.0.1:PORT", or 0.
int port_of(const nlohmann::json& store) {
  if (!store.is_string()) return 0;
  const auto s = store.get<std::string>();
  const auto colon = s.rfind(':');
  return colon == std::string::npos ? 0 : std::atoi(s.c_str() + colon + 1);
}

/// The row's contract (issue 13), whichever way the server died: the second
/// connection resumed, every echo came back exactly once and in order, and
/// nothing was handed back.
void expect_nothing_lost(const nlohmann::json& r) {
  EXPECT_EQ(r["outcome"], "resumed") << r.dump(2);
  EXPECT_EQ(r["handed_back"], 0) << r.dump(2);
  EXPECT_EQ(r["exactly_once_in_order"], true) << r.dump(2);
  EXPECT_EQ(r["echoes"], r["messages"]) << r.dump(2);
  EXPECT_GT(r["messages"].get<int>(), 0);
  EXPECT_GT(r["killed_after_echoes"].get<int>(), 0);
  EXPECT_LT(r["killed_after_echoes"].get<int>(), r["messages"].get<int>()) << "not mid-stream";
  EXPECT_TRUE(r["problem"].is_null()) << r.dump(2);
  EXPECT_EQ(r["agrees"], true) << r.dump(2);
}

/// A real process was killed and a new one resumed from the demo's Redis,
/// and none of them (nor redis-server) outlived the demo.
void expect_a_killed_process(const nlohmann::json& r) {
  const auto how = r["how"].get<std::string>();
  EXPECT_EQ(how.rfind("process: `closewise serve --resume redis://127.0.0.1:", 0), 0u) << how;
  EXPECT_NE(how.find("killed with SIGKILL"), std::string::npos) << how;
  EXPECT_NE(how.find("on the same port resumed from Redis"), std::string::npos) << how;
  ASSERT_TRUE(r["killed_pid"].is_number()) << r.dump(2);
  ASSERT_TRUE(r["restarted_pid"].is_number()) << r.dump(2);
  EXPECT_NE(r["killed_pid"], r["restarted_pid"]);
  EXPECT_NE(how.find("(pid " + std::to_string(r["killed_pid"].get<long>()) + ")"),
            std::string::npos)
      << how;
  // The restarted process saw the session come back, not a new one.
  EXPECT_EQ(r["server_outcome"], "resumed") << r.dump(2);
  const int redis_port = port_of(r["store"]);
  ASSERT_GT(redis_port, 0) << r.dump(2);
  EXPECT_TRUE(refused(redis_port)) << "redis-server outlived the demo";
  for (const char* pid : {"killed_pid", "restarted_pid"})
    EXPECT_TRUE(::kill(static_cast<pid_t>(r[pid].get<long>()), 0) != 0 && errno == ESRCH)
        << pid << " " << r[pid] << " is still a process";
}

std::map<std::string, nlohmann::json> by_name() {
  std::map<std::string, nlohmann::json> m;
  for (const auto& s : demo().report["scenarios"]) m[s["name"].get<std::string>()] = s;
  return m;
}

void prints_one_json_report_and_exits_zero() {
  const auto& d = demo();
  ASSERT_TRUE(d.status.has_value()) << "the demo did not finish within 120 s";
  ASSERT_FALSE(d.report.is_discarded()) << "stdout is not one JSON document:\n"
                                        << d.out << "\nstderr:\n"
                                        << d.err;
  EXPECT_EQ(*d.status, 0) << d.out << d.err;
  EXPECT_EQ(d.report["report"], "closewise demo");
  EXPECT_EQ(d.report["version"], 2);
  EXPECT_EQ(d.report["time_scale"], "1/10");
  EXPECT_TRUE(d.report["all_agree"].get<bool>());
  // It runs in about 14 s; the bound leaves room for sanitizers on a loaded machine.
  EXPECT_LT(d.report["elapsed_ms"].get<long>(), 40'000) << "the demo should finish within ~40 s";
}

// What the policy table (ARCHITECTURE §3) says for each scenario, restated
// here at the demo's 1/10 timings and independent of the demo's own expected_*
// fields: the close the client must report, its (last) decision, and the
// inclusive range of the delay it may choose.
//   backoff: base = floor = 50 ms, so a first retry is 50 + U(0, 50) -> [50, 99]
//   RD 1001/1011/1012: first retry 50 + U(0, 500) -> [50, 549]
//   RD 1013: floor 500 + U(0, 500) -> [500, 999]
//   server hint of 1 s (Retry-After: 1, retry-after=1): 1000 + U(0, 20%) -> [1000, 1199]
//   HTTP 503 without Retry-After: raised floor 500 + U(0, 500) -> [500, 999]
struct table_row {
  int code;                                    // the close code the client reports
  bool clean;                                  // was_clean
  const char* initiator;                       // who closed
  const char* decision;                        // the client's last decision
  std::optional<std::pair<long, long>> range;  // retry delay, inclusive
};

using range = std::pair<long, long>;
const range backoff{50, 99};
const range spread{50, 549};
const range try_later{500, 999};
const range hint_1s{1000, 1199};

const std::map<std::string, table_row>& policy_table() {
  static const std::map<std::string, table_row> t = {
      {"close-1000", {1000, true, "remote", "stop", {}}},
      {"close-1001", {1001, true, "remote", "retry", spread}},
      {"close-1002", {1002, true, "remote", "retry", backoff}},
      {"close-1003", {1003, true, "remote", "retry", backoff}},
      {"close-1007", {1007, true, "remote", "retry", backoff}},
      {"close-1008", {1008, true, "remote", "stop", {}}},  // no credential hook
      {"close-1009", {1009, true, "remote", "stop", {}}},
      {"close-1010", {1010, true, "remote", "stop", {}}},
      {"close-1011", {1011, true, "remote", "retry", spread}},
      {"close-1012", {1012, true, "remote", "retry", spread}},
      {"close-1013", {1013, true, "remote", "retry", try_later}},
      {"close-1014", {1014, true, "remote", "retry", backoff}},
      {"close-3000", {3000, true, "remote", "retry", backoff}},
      {"close-3500", {3500, true, "remote", "stop", {}}},
      {"close-4000", {4000, true, "remote", "retry", backoff}},
      {"close-4500", {4500, true, "remote", "stop", {}}},
      {"drop", {1006, false, "none", "retry", backoff}},
      {"silent", {1006, false, "none", "retry", backoff}},
      {"http-401", {1006, false, "none", "stop", {}}},  // no credential hook
      {"http-429", {1006, false, "none", "retry", hint_1s}},
      {"http-503", {1006, false, "none", "retry", try_later}},
      // The third quick identical 1002 stops (the steps are checked below).
      {"strikes-1002", {1002, true, "remote", "stop", {}}},
      // With a hook that returns new credentials: one retry with normal backoff.
      {"refresh-1008", {1008, true, "remote", "retry", backoff}},
      {"refresh-401", {1006, false, "none", "retry", backoff}},
      // max_connections with overload_retry_after 1 s: 1013 "retry-after=1" (the
      // 1013 floor is lower than the hint), or 503 with Retry-After: 1.
      {"shed-1013", {1013, true, "remote", "retry", hint_1s}},
      {"shed-503", {1006, false, "none", "retry", hint_1s}},
      {"restart", {1012, true, "remote", "retry", spread}},
  };
  return t;
}

void covers_every_scenario_of_the_table_and_no_other() {
  const auto m = by_name();
  for (const auto& [name, row] : policy_table())
    EXPECT_TRUE(m.count(name)) << "missing scenario " << name;
  for (const auto& [name, s] : m)
    EXPECT_TRUE(policy_table().count(name)) << "scenario not in the table: " << name;
}

void every_decision_matches_the_policy_table() {
  const auto m = by_name();
  for (const auto& [name, want] : policy_table()) {
    SCOPED_TRACE(name);
    const auto it = m.find(name);
    ASSERT_NE(it, m.end());
    const auto& s = it->second;
    EXPECT_EQ(s["decision"], want.decision) << s.dump(2);
    // The demo's own reading of the table must agree with this one.
    EXPECT_EQ(s["expected_decision"], want.decision);
    EXPECT_TRUE(s["agrees"].get<bool>()) << s.dump(2);
  }
}

void close_events_are_the_ones_the_table_names() {
  const auto m = by_name();
  for (const auto& [name, want] : policy_table()) {
    SCOPED_TRACE(name);
    const auto& s = m.at(name);
    ASSERT_TRUE(s["close"].is_object()) << s.dump(2);
    const auto& c = s["close"];
    EXPECT_EQ(c["code"], want.code) << c;
    EXPECT_EQ(c["was_clean"], want.clean) << c;
    EXPECT_EQ(c["initiator"], want.initiator) << c;
    EXPECT_TRUE(c["reason"].is_string());
    EXPECT_EQ(s["expected_close_code"], want.code);
  }
  // closewise's server sheds with the reason its policy honours.
  EXPECT_EQ(m.at("shed-1013")["close"]["reason"], "retry-after=1");
}

void measured_delays_lie_in_the_tables_ranges() {
  const auto m = by_name();
  for (const auto& [name, want] : policy_table()) {
    SCOPED_TRACE(name);
    const auto& s = m.at(name);
    if (!want.range) {
      EXPECT_TRUE(s["delay_ms"].is_null()) << s.dump(2);
      EXPECT_TRUE(s["expected_delay_range_ms"].is_null());
      continue;
    }
    const auto [lo, hi] = *want.range;
    EXPECT_EQ(s["expected_delay_range_ms"], nlohmann::json::array({lo, hi}));
    ASSERT_TRUE(s["delay_ms"].is_number()) << s.dump(2);
    const long d = s["delay_ms"].get<long>();
    EXPECT_GE(d, lo - early_slack_ms) << s.dump(2);
    EXPECT_LE(d, hi + late_slack_ms) << s.dump(2);
    // The scheduled delay is the policy's own choice: exactly within its range.
    EXPECT_GE(s["scheduled_delay_ms"].get<long>(), lo);
    EXPECT_LE(s["scheduled_delay_ms"].get<long>(), hi);
  }
}

// Three quick identical 1002 closes: retry, retry (backoff attempt 1: 50 +
// U(0, 100) -> [50, 149]), then stop at the strike limit.
void the_strike_limit_stops_the_third_quick_1002() {
  const auto s = by_name().at("strikes-1002");
  EXPECT_EQ(s["strike_limit"], 3);
  const auto& steps = s["steps"];
  ASSERT_EQ(steps.size(), 3u) << s.dump(2);
  const std::vector<std::optional<range>> want = {backoff, range{50, 149}, std::nullopt};
  for (std::size_t i = 0; i < 3; ++i) {
    SCOPED_TRACE(i);
    const auto& st = steps[i];
    EXPECT_EQ(st["close"]["code"], 1002);
    EXPECT_EQ(st["close"]["was_clean"], true);
    EXPECT_EQ(st["close"]["initiator"], "remote");
    EXPECT_EQ(st["decision"], want[i] ? "retry" : "stop") << st;
    if (!want[i]) continue;
    const auto [lo, hi] = *want[i];
    EXPECT_EQ(st["expected_delay_range_ms"], nlohmann::json::array({lo, hi}));
    EXPECT_GE(st["scheduled_delay_ms"].get<long>(), lo) << st;
    EXPECT_LE(st["scheduled_delay_ms"].get<long>(), hi) << st;
    ASSERT_TRUE(st["delay_ms"].is_number()) << st;
    EXPECT_GE(st["delay_ms"].get<long>(), lo - early_slack_ms) << st;
    EXPECT_LE(st["delay_ms"].get<long>(), hi + late_slack_ms) << st;
  }
  EXPECT_NE(steps[2]["stop_reason"].get<std::string>().find("3 identical closes in a row"),
            std::string::npos)
      << steps[2];
}

void the_credential_hook_runs_once_and_the_retry_carries_its_credentials() {
  for (const char* name : {"refresh-1008", "refresh-401"}) {
    SCOPED_TRACE(name);
    const auto s = by_name().at(name);
    EXPECT_EQ(s["credential_refreshes"], 1) << s.dump(2);
    EXPECT_EQ(s["came_back_with_fresh_credentials"], true) << s.dump(2);
  }
  EXPECT_EQ(by_name().at("refresh-401")["http_status"], 401);
}

void load_is_shed_by_max_connections() {
  const auto m = by_name();
  EXPECT_EQ(m.at("shed-1013")["overload"], "close_1013");
  EXPECT_EQ(m.at("shed-503")["overload"], "http_503");
  EXPECT_EQ(m.at("shed-503")["http_status"], 503);
  for (const char* name : {"shed-1013", "shed-503"})
    EXPECT_EQ(m.at(name)["max_connections"], 1) << name;
}

void heartbeat_finds_the_silent_peer_in_interval_plus_grace() {
  const auto s = by_name().at("silent");
  ASSERT_TRUE(s["detection_ms"].is_number()) << s.dump(2);
  // ARCHITECTURE §6: interval + grace (400 + 400 ms in the demo), +/-20%.
  const long d = s["detection_ms"].get<long>();
  EXPECT_GE(d, 640);
  EXPECT_LE(d, 960 + late_slack_ms);
  EXPECT_EQ(s["close"]["error"],
            closewise::make_error_code(closewise::error::heartbeat_timeout).message());
}

// server::shutdown(1012, spread 200 ms) closes every client cleanly, spread
// out, and a new server on the same port takes them back over U(50, 550).
void the_graceful_restart_closes_everyone_cleanly_and_spreads_them() {
  const auto s = by_name().at("restart");
  const auto n = s["clients"].get<std::size_t>();
  EXPECT_EQ(s["shutdown"]["total"], n) << s.dump(2);
  EXPECT_EQ(s["shutdown"]["clean"], n) << s.dump(2);
  EXPECT_EQ(s["shutdown"]["aborted"], 0);
  EXPECT_EQ(s["shutdown"]["failed"], 0);
  EXPECT_EQ(s["spread_ms"], 200);
  // Stratified over 200 ms, the first close goes out in [0, 10) ms and the last
  // in [190, 200) ms of 20 slots; half the window leaves room for the clients'
  // own scheduling on a loaded machine, and still fails a shutdown that closes
  // everyone at once.
  ASSERT_TRUE(s["close_spread_ms"].is_number()) << s.dump(2);
  EXPECT_GE(s["close_spread_ms"].get<long>(), 100) << s.dump(2);
  EXPECT_LE(s["close_spread_ms"].get<long>(), 200 + late_slack_ms) << s.dump(2);
  ASSERT_EQ(s["delays_ms"].size(), n) << s.dump(2);
  for (const auto& d : s["delays_ms"]) {
    EXPECT_GE(d.get<long>(), spread.first - early_slack_ms);
    EXPECT_LE(d.get<long>(), spread.second + late_slack_ms);
  }
  const auto& st = s["delay_stats_ms"];
  EXPECT_LE(st["min"].get<long>(), st["median"].get<long>());
  EXPECT_LE(st["median"].get<long>(), st["max"].get<long>());
  // 20 draws from U(50, 550): they do not all land in one 100 ms window.
  EXPECT_GT(st["max"].get<long>() - st["min"].get<long>(), 100) << s.dump(2);
}

}  // namespace

TEST(cli_demo, walks_the_table_and_every_decision_and_wait_agrees_with_the_policy) {
  ASSERT_NO_FATAL_FAILURE(prints_one_json_report_and_exits_zero());
  covers_every_scenario_of_the_table_and_no_other();
  every_decision_matches_the_policy_table();
  close_events_are_the_ones_the_table_names();
  measured_delays_lie_in_the_tables_ranges();
  the_strike_limit_stops_the_third_quick_1002();
  the_credential_hook_runs_once_and_the_retry_carries_its_credentials();
  load_is_shed_by_max_connections();
  heartbeat_finds_the_silent_peer_in_interval_plus_grace();
  the_graceful_restart_closes_everyone_cleanly_and_spreads_them();
}

// Issue 13: `closewise serve --resume redis://...` is killed with SIGKILL
// mid-stream and a new process on the same port resumes the client's session
// from Redis, with nothing lost or duplicated.
TEST(cli_demo, the_resume_row_loses_and_duplicates_nothing_across_a_server_death) {
  const auto& r = demo().report["resume"];
  ASSERT_TRUE(r.is_object()) << demo().out << demo().err;
  expect_nothing_lost(r);
  if (redis_row_expected()) {
    expect_a_killed_process(r);
  } else {
    EXPECT_NE(r["how"].get<std::string>().find(": in-process:"), std::string::npos) << r["how"];
    EXPECT_EQ(r["store"], "memory");
  }
}

// The same row alone, as its own command, ends the same way.
TEST(cli_demo, only_resume_runs_the_row_alone) {
  const auto d = run_cli({"demo", "--json", "--only-resume"});
  ASSERT_TRUE(d.status.has_value()) << "demo --only-resume did not finish within 120 s";
  ASSERT_FALSE(d.report.is_discarded()) << d.out << d.err;
  EXPECT_EQ(*d.status, 0) << d.out << d.err;
  EXPECT_FALSE(d.report.contains("scenarios"));
  const auto& r = d.report["resume"];
  ASSERT_TRUE(r.is_object()) << d.out;
  expect_nothing_lost(r);
  if (redis_row_expected()) expect_a_killed_process(r);
}

// No redis-server: the in-process row runs instead, and `how` says why.
TEST(cli_demo, without_redis_server_the_row_runs_in_process_and_says_why) {
  const auto d = run_cli({"demo", "--json", "--only-resume"}, "/nonexistent/redis-server");
  ASSERT_TRUE(d.status.has_value());
  ASSERT_FALSE(d.report.is_discarded()) << d.out << d.err;
  EXPECT_EQ(*d.status, 0) << d.out << d.err;
  const auto& r = d.report["resume"];
  expect_nothing_lost(r);
  const auto how = r["how"].get<std::string>();
#ifdef CLOSEWISE_HAVE_REDIS
  EXPECT_EQ(how.rfind("redis-server not found", 0), 0u) << how;
#else
  EXPECT_EQ(how.rfind("this build has no Redis support", 0), 0u) << how;
#endif
  EXPECT_NE(how.find(": in-process: "), std::string::npos) << how;
  EXPECT_EQ(r["store"], "memory");
  EXPECT_TRUE(r["killed_pid"].is_null());
}

#ifdef CLOSEWISE_HAVE_REDIS
// redis-server that exits at once (/bin/false stands in for it): the row ends
// promptly with ok=false and says why; nothing is killed, nothing is left.
TEST(cli_demo, a_redis_server_that_does_not_start_fails_the_row_with_a_reason) {
  const auto started = std::chrono::steady_clock::now();
  const auto d = run_cli({"demo", "--json", "--only-resume"}, "/bin/false");
  ASSERT_TRUE(d.status.has_value());
  // Well within the demo's own 10 s start deadline: the death is an event.
  EXPECT_LT(std::chrono::steady_clock::now() - started, 8s);
  ASSERT_FALSE(d.report.is_discarded()) << d.out << d.err;
  EXPECT_EQ(*d.status, 1) << d.out << d.err;
  const auto& r = d.report["resume"];
  EXPECT_EQ(r["agrees"], false) << r.dump(2);
  ASSERT_TRUE(r["problem"].is_string()) << r.dump(2);
  const auto problem = r["problem"].get<std::string>();
  EXPECT_EQ(
      problem.rfind("redis-server (/bin/false) exited with status 1 before answering PING", 0), 0u)
      << problem;
  EXPECT_NE(r["how"].get<std::string>().find("not killed"), std::string::npos) << r["how"];
  EXPECT_TRUE(r["killed_pid"].is_null());
  EXPECT_EQ(r["outcome"], "");
}
#endif

// Piped, the timeline is plain text: the banner says the timings are scaled,
// decisions read as sentences, and no ANSI escape leaks into the output.

TEST(cli_demo, piped_output_is_a_plain_readable_timeline) {
  closewise::test::cli_process p({CLOSEWISE_CLI, "demo"});
  p.close_stdin();
  std::string out;
  const auto deadline = std::chrono::steady_clock::now() + 120s;
  while (std::chrono::steady_clock::now() < deadline) {
    auto line = p.read_line(std::chrono::duration_cast<std::chrono::milliseconds>(
        deadline - std::chrono::steady_clock::now()));
    if (!line) break;
    out += *line + "\n";
  }
  const auto status = p.wait(5s);
  ASSERT_TRUE(status.has_value());
  EXPECT_EQ(*status, 0) << out;
  EXPECT_EQ(out.find('\x1b'), std::string::npos) << "colour escapes in piped output";
  for (const char* want : {"timings scaled 1/10 for the demo; real defaults", "reconnecting in",
                           "(attempt 1, cause 1012 Service Restart)",
                           "stopping: 1008 Policy Violation:", "saw close 1006 Abnormal Closure",
                           "heartbeat", "clients came back: min", "3 identical closes in a row",
                           "credential hook: new Authorization",
                           "another client holds the one slot (max_connections 1)",
                           "old server's shutdown: 20 connection(s), 20 closed cleanly, 0 aborted",
                           "27 of 27 scenarios as the table says"}) {
    EXPECT_NE(out.find(want), std::string::npos) << "missing: " << want << "\n" << out;
  }
}

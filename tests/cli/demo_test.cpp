// End to end: `closewise demo --json` walks the close-code table, and every
// scenario's decision and measured wait match the policy table.
#include <gtest/gtest.h>
#include <nlohmann/json.hpp>

#include <closewise/error.hpp>

#include <chrono>
#include <map>
#include <optional>
#include <set>
#include <string>

#include "cli/cli_process.hpp"

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

// The demo runs once (it takes seconds, ctest runs each TEST in its own
// process), so the checks below are steps of one test reading one report.
const demo_run& demo() {
  static const demo_run r = [] {
    demo_run d;
    closewise::test::cli_process p({CLOSEWISE_CLI, "demo", "--json"});
    p.close_stdin();
    const auto deadline = std::chrono::steady_clock::now() + 120s;
    while (std::chrono::steady_clock::now() < deadline) {
      const auto left = std::chrono::duration_cast<std::chrono::milliseconds>(deadline - std::chrono::steady_clock::now());
      auto line = p.read_line(left);
      if (!line) break;
      d.out += *line + "\n";
    }
    d.status = p.wait(5s);
    d.err = p.read_stderr(1s);
    d.report = nlohmann::json::parse(d.out, nullptr, /*allow_exceptions=*/false);
    return d;
  }();
  return r;
}

std::map<std::string, nlohmann::json> by_name() {
  std::map<std::string, nlohmann::json> m;
  for (const auto& s : demo().report["scenarios"]) m[s["name"].get<std::string>()] = s;
  return m;
}

void prints_one_json_report_and_exits_zero() {
  const auto& d = demo();
  ASSERT_TRUE(d.status.has_value()) << "the demo did not finish within 120 s";
  ASSERT_FALSE(d.report.is_discarded()) << "stdout is not one JSON document:\n" << d.out << "\nstderr:\n" << d.err;
  EXPECT_EQ(*d.status, 0) << d.out << d.err;
  EXPECT_EQ(d.report["report"], "closewise demo");
  EXPECT_EQ(d.report["time_scale"], "1/10");
  EXPECT_TRUE(d.report["all_agree"].get<bool>());
  EXPECT_LT(d.report["elapsed_ms"].get<long>(), 40'000) << "the demo should finish within ~40 s";
}

void covers_every_code_and_every_misbehaviour() {
  const auto m = by_name();
  std::set<std::string> want;
  for (int code : {1000, 1001, 1002, 1003, 1007, 1008, 1009, 1010, 1011, 1012, 1013, 1014, 3000, 3500, 4000, 4500})
    want.insert("close-" + std::to_string(code));
  for (const char* n : {"drop", "silent", "http-401", "http-429", "http-503", "shed", "restart"}) want.insert(n);
  for (const auto& n : want) EXPECT_TRUE(m.count(n)) << "missing scenario " << n;
}

// The policy table (ARCHITECTURE §3), restated independently of the demo.
void every_decision_matches_the_policy_table() {
  const std::map<std::string, std::string> table = {
      {"close-1000", "stop"},  {"close-1001", "retry"}, {"close-1002", "retry"}, {"close-1003", "retry"},
      {"close-1007", "retry"}, {"close-1008", "stop"},  {"close-1009", "stop"},  {"close-1010", "stop"},
      {"close-1011", "retry"}, {"close-1012", "retry"}, {"close-1013", "retry"}, {"close-1014", "retry"},
      {"close-3000", "retry"}, {"close-3500", "stop"},  {"close-4000", "retry"}, {"close-4500", "stop"},
      {"drop", "retry"},       {"silent", "retry"},     {"http-401", "stop"},    {"http-429", "retry"},
      {"http-503", "retry"},   {"shed", "retry"},       {"restart", "retry"},
  };
  const auto m = by_name();
  for (const auto& [name, want] : table) {
    SCOPED_TRACE(name);
    const auto it = m.find(name);
    ASSERT_NE(it, m.end());
    const auto& s = it->second;
    EXPECT_EQ(s["expected_decision"], want);
    EXPECT_EQ(s["decision"], want) << s.dump(2);
    EXPECT_TRUE(s["agrees"].get<bool>()) << s.dump(2);
  }
}

void close_events_are_reported_like_close_events() {
  for (const auto& [name, s] : by_name()) {
    SCOPED_TRACE(name);
    ASSERT_TRUE(s["close"].is_object()) << s.dump(2);
    const auto& c = s["close"];
    EXPECT_EQ(c["code"], s["expected_close_code"]);
    if (name.rfind("close-", 0) == 0 || name == "shed" || name == "restart") {
      EXPECT_TRUE(c["was_clean"].get<bool>());
      EXPECT_EQ(c["initiator"], "remote");
    } else {
      // A drop, a dead peer and a refused upgrade all end without a close handshake.
      EXPECT_EQ(c["code"], 1006);
      EXPECT_FALSE(c["was_clean"].get<bool>());
    }
  }
}

void measured_delays_lie_in_the_expected_ranges() {
  for (const auto& [name, s] : by_name()) {
    SCOPED_TRACE(name);
    if (s["expected_decision"] != "retry") {
      EXPECT_TRUE(s["delay_ms"].is_null());
      EXPECT_TRUE(s["expected_delay_range_ms"].is_null());
      continue;
    }
    const long lo = s["expected_delay_range_ms"][0].get<long>();
    const long hi = s["expected_delay_range_ms"][1].get<long>();
    ASSERT_TRUE(s["delay_ms"].is_number()) << s.dump(2);
    const long d = s["delay_ms"].get<long>();
    EXPECT_GE(d, lo - early_slack_ms) << s.dump(2);
    EXPECT_LE(d, hi + late_slack_ms) << s.dump(2);
    // The scheduled delay is the policy's own choice: exactly within its range.
    EXPECT_GE(s["scheduled_delay_ms"].get<long>(), lo);
    EXPECT_LE(s["scheduled_delay_ms"].get<long>(), hi);
  }
}

// The ranges the demo reports are the table's, at 1/10 timings: spot-check the
// ones with a raised floor or a server hint.
void expected_ranges_follow_the_scaled_table() {
  const auto m = by_name();
  const auto range = [&](const char* n) {
    const auto& r = m.at(n)["expected_delay_range_ms"];
    return std::pair<long, long>{r[0].get<long>(), r[1].get<long>()};
  };
  EXPECT_EQ(range("close-1014"), (std::pair<long, long>{50, 99}));     // R: 50 ms + U(0, 50 ms)
  EXPECT_EQ(range("close-1012"), (std::pair<long, long>{50, 549}));    // RD: first spread U(0, 500 ms)
  EXPECT_EQ(range("close-1013"), (std::pair<long, long>{500, 999}));   // floor 500 ms + U(0, 500 ms)
  EXPECT_EQ(range("shed"), (std::pair<long, long>{1000, 1199}));       // retry-after=1: 1 s + 20%
  EXPECT_EQ(range("http-429"), (std::pair<long, long>{1000, 1199}));   // Retry-After: 1
  EXPECT_EQ(range("http-503"), (std::pair<long, long>{500, 999}));     // no Retry-After: raised floor
}

void heartbeat_finds_the_silent_peer_in_interval_plus_grace() {
  const auto s = by_name().at("silent");
  ASSERT_TRUE(s["detection_ms"].is_number()) << s.dump(2);
  const long d = s["detection_ms"].get<long>();
  EXPECT_GE(d, s["expected_detection_range_ms"][0].get<long>());
  EXPECT_LE(d, s["expected_detection_range_ms"][1].get<long>() + late_slack_ms);
  EXPECT_EQ(s["close"]["error"], closewise::make_error_code(closewise::error::heartbeat_timeout).message());
}

void restart_spreads_the_clients_over_the_first_retry_window() {
  const auto s = by_name().at("restart");
  ASSERT_EQ(s["delays_ms"].size(), s["clients"].get<std::size_t>()) << s.dump(2);
  const auto& st = s["delay_stats_ms"];
  EXPECT_LE(st["min"].get<long>(), st["median"].get<long>());
  EXPECT_LE(st["median"].get<long>(), st["max"].get<long>());
  // 20 draws from U(50, 550): they do not all land in one 100 ms window.
  EXPECT_GT(st["max"].get<long>() - st["min"].get<long>(), 100) << s.dump(2);
}

}  // namespace

TEST(cli_demo, walks_the_table_and_every_decision_and_wait_agrees_with_the_policy) {
  ASSERT_NO_FATAL_FAILURE(prints_one_json_report_and_exits_zero());
  covers_every_code_and_every_misbehaviour();
  every_decision_matches_the_policy_table();
  close_events_are_reported_like_close_events();
  measured_delays_lie_in_the_expected_ranges();
  expected_ranges_follow_the_scaled_table();
  heartbeat_finds_the_silent_peer_in_interval_plus_grace();
  restart_spreads_the_clients_over_the_first_retry_window();
}

// Piped, the timeline is plain text: the banner says the timings are scaled,
// decisions read as sentences, and no ANSI escape leaks into the output.
TEST(cli_demo, piped_output_is_a_plain_readable_timeline) {
  closewise::test::cli_process p({CLOSEWISE_CLI, "demo"});
  p.close_stdin();
  std::string out;
  const auto deadline = std::chrono::steady_clock::now() + 120s;
  while (std::chrono::steady_clock::now() < deadline) {
    auto line = p.read_line(std::chrono::duration_cast<std::chrono::milliseconds>(deadline - std::chrono::steady_clock::now()));
    if (!line) break;
    out += *line + "\n";
  }
  const auto status = p.wait(5s);
  ASSERT_TRUE(status.has_value());
  EXPECT_EQ(*status, 0) << out;
  EXPECT_EQ(out.find('\x1b'), std::string::npos) << "colour escapes in piped output";
  for (const char* want : {"timings scaled 1/10 for the demo; real defaults", "reconnecting in",
                           "(attempt 1, cause 1012 Service Restart)", "stopping: 1008 Policy Violation:",
                           "saw close 1006 Abnormal Closure", "heartbeat", "clients came back: min",
                           "23 of 23 scenarios as the table says"}) {
    EXPECT_NE(out.find(want), std::string::npos) << "missing: " << want << "\n" << out;
  }
}

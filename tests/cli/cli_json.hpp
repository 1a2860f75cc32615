// Helpers for CLI end-to-end tests that read `--json` output.
#pragma once

#include <gtest/gtest.h>
#include <nlohmann/json.hpp>

#include <chrono>
#include <initializer_list>
#include <string>
#include <vector>

#include "cli/cli_process.hpp"

namespace closewise::test {

/// The CLI binary followed by `args`.
inline std::vector<std::string> cli(std::initializer_list<std::string> args) {
  std::vector<std::string> v{CLOSEWISE_CLI};
  v.insert(v.end(), args);
  return v;
}

/// The next stdout line as JSON; {"event": "<timeout>"} when none came in time.
/// Every line must be JSON: with --json, stdout carries nothing else (ARCHITECTURE §5).
inline nlohmann::json next_json(cli_process& p,
                                std::chrono::milliseconds timeout = std::chrono::seconds(10)) {
  auto line = p.read_line(timeout);
  if (!line) return nlohmann::json{{"event", "<timeout>"}};
  auto j = nlohmann::json::parse(*line, nullptr, false);
  EXPECT_FALSE(j.is_discarded()) << "stdout carries only JSON lines, got: " << *line;
  EXPECT_TRUE(j.is_object()) << *line;
  return j;
}

/// The next JSON line whose event is `event`, skipping others; {"event": "<timeout>"} if none.
inline nlohmann::json next_event(cli_process& p, const std::string& event,
                                 std::chrono::milliseconds timeout = std::chrono::seconds(10)) {
  const auto end = std::chrono::steady_clock::now() + timeout;
  for (;;) {
    const auto left = std::chrono::duration_cast<std::chrono::milliseconds>(
        end - std::chrono::steady_clock::now());
    if (left.count() <= 0) return nlohmann::json{{"event", "<timeout>"}};
    auto j = next_json(p, left);
    if (j["event"] == event || j["event"] == "<timeout>") return j;
  }
}

/// Reads `serve --json`'s first line (it must be "listening") and returns the bound port.
inline int listening_port(cli_process& s) {
  const nlohmann::json l = next_json(s);
  EXPECT_EQ(l["event"], "listening") << l;
  return l.contains("port") && l["port"].is_number_integer() ? l["port"].get<int>() : 0;
}

/// `serve --json`'s URL, from its first line.
inline std::string start_serve(cli_process& s) {
  return "ws://127.0.0.1:" + std::to_string(listening_port(s));
}

/// A close event as `connect --json` and `serve --json` print it (without `id`).
inline nlohmann::json close_json(int code, const std::string& reason, bool was_clean,
                                 const std::string& initiator) {
  return {{"event", "close"},
          {"code", code},
          {"reason", reason},
          {"was_clean", was_clean},
          {"initiator", initiator}};
}

/// Runs the CLI with stdin closed and returns (exit status, stderr); status -1 if it hung.
/// The limit only tells a hang from an exit: a sanitized process start on a loaded
/// 2-core machine took seconds, so it is generous.
struct cli_result {
  int status = -1;
  std::string err;
};
inline cli_result run_cli(std::vector<std::string> args,
                          std::chrono::milliseconds limit = std::chrono::seconds(20)) {
  cli_process p(std::move(args));
  p.close_stdin();
  cli_result r;
  if (const auto st = p.wait(limit)) r.status = *st;
  r.err = p.read_stderr(std::chrono::seconds(1));
  return r;
}

}  // namespace closewise::test

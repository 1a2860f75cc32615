// Interop with headless Chromium (Debian's chromium via playwright-core): a
// page opens WebSockets to a closewise server, which closes with endpoint
// codes and reasons, drops TCP, or receives the browser's own close. The
// browser's CloseEvent is asserted exactly; docs/close-codes-peers.md records it.
#include "closewise/net/server.hpp"

#include <gtest/gtest.h>

#include <iostream>
#include <map>

#include "closewise/error.hpp"
#include "net/interop_support.hpp"

namespace closewise::net {
namespace {

using namespace test;
using json = nlohmann::json;

/// What Chromium reports for a server close frame with `code`.
///
/// Observed with Chromium 156 (Debian 12): every code below arrives in the
/// CloseEvent exactly as sent, reason included, with wasClean=true; 1012,
/// 1013 and 1014 are not rewritten. Should a release start to diverge, this
/// table and the peer matrix change together.
struct browser_view {
  std::uint16_t code;
  bool same_reason;
  bool was_clean;
};
const std::map<std::uint16_t, browser_view> chromium_observed = {
    {1000, {1000, true, true}}, {1001, {1001, true, true}}, {1008, {1008, true, true}},
    {1011, {1011, true, true}}, {1012, {1012, true, true}}, {1013, {1013, true, true}},
    {1014, {1014, true, true}}, {4000, {4000, true, true}}, {4999, {4999, true, true}},
};

TEST(interop_chromium, close_events_seen_by_the_browser_and_by_the_server) {
  const std::string interop = source_dir() + "/tests/interop";
  const std::string chromium = chromium_path();
  const bool have =
      ::access(chromium.c_str(), X_OK) == 0 &&
      run_quiet("node -e \"require('" + interop + "/node_modules/playwright-core')\"");
  if (!have) {
    if (in_ci()) {
      FAIL() << "chromium (" << chromium << ") or playwright-core is missing (run scripts/deps.sh)";
    } else {
      GTEST_SKIP() << "chromium or playwright-core is missing";
    }
  }

  io_thread io;
  server srv(io.ioc);
  channel<std::pair<std::string, closewise::close_event>> closes;
  srv.on_open([](session& s) { act_on_scripted_path(s); });
  srv.on_close([&](session& s, const closewise::close_event& e) {
    closes.push({s.request().target, e});
  });
  ASSERT_FALSE(srv.listen("127.0.0.1", 0));

  struct case_t {
    std::string kind;
    std::uint16_t code;
    std::string reason, path;
  };
  std::vector<case_t> cases;
  json cases_json = json::array();
  auto add = [&](const std::string& kind, std::uint16_t code, const std::string& reason,
                 const std::string& path, const std::string& action) {
    const auto id = cases.size();
    const std::string p = path + "/" + std::to_string(id);
    cases.push_back({kind, code, reason, p});
    cases_json.push_back(
        {{"id", id}, {"path", p}, {"action", action}, {"code", code}, {"reason", reason}});
  };
  const std::string multibyte = "redémarrage — 再起動 ✓";
  for (const auto& [code, view] : chromium_observed) {
    add("server_closes", code, "server says " + std::to_string(code),
        "/close/" + std::to_string(code) + "/" + hex("server says " + std::to_string(code)),
        "await");
  }
  add("server_closes", 1012, multibyte, "/close/1012/" + hex(multibyte), "await");
  add("server_closes", 4999, reasons[2], "/close/4999/" + hex(reasons[2]), "await");
  add("browser_closes", 1000, "", "/await", "close");
  add("browser_closes", 4001, "bye", "/await", "close");
  add("server_drops", 0, "", "/drop", "await");

  const std::string base = "ws://127.0.0.1:" + std::to_string(srv.port());
  child_process peer({"node", interop + "/chromium_peer.js", chromium, base, cases_json.dump()});
  ASSERT_TRUE(peer.started());
  std::map<std::size_t, json> seen;
  for (;;) {
    auto line = next_json(peer, std::chrono::milliseconds(90000));
    ASSERT_TRUE(line) << "chromium reported " << seen.size() << " of " << cases.size() << " cases";
    ASSERT_NE((*line)["event"], "error") << line->dump();
    if ((*line)["event"] == "version") std::cout << "peer: " << (*line)["version"] << "\n";
    if ((*line)["event"] == "done") break;
    if (line->contains("id")) seen[(*line)["id"].get<std::size_t>()] = *line;
  }
  std::map<std::string, closewise::close_event> ours;
  while (ours.size() < cases.size()) {
    auto c = closes.pop();
    ASSERT_TRUE(c) << "server reported " << ours.size() << " of " << cases.size() << " closes";
    ours[c->first] = c->second;
  }

  for (std::size_t id = 0; id < cases.size(); ++id) {
    const auto& k = cases[id];
    const auto& b = seen[id];
    const auto& e = ours[k.path];
    std::cout << k.kind << " " << k.code << ": browser " << b.dump() << " server {"
              << to_int(e.code) << ", \"" << e.reason << "\", " << e.was_clean << ", "
              << to_string(e.initiator) << "}\n";
    ASSERT_EQ(b["event"], "closed") << b.dump();
    if (k.kind == "server_closes") {
      const auto& v = chromium_observed.at(k.code);
      EXPECT_EQ(b["code"], v.code) << k.path;
      if (v.same_reason) {
        EXPECT_EQ(b["reason"], k.reason) << k.path;
      }
      EXPECT_EQ(b["wasClean"], v.was_clean) << k.path;
      // Chromium echoes code and reason, and lets the server close TCP first.
      EXPECT_EQ(e, cev(static_cast<close_code>(k.code), k.reason, true, initiator::local))
          << k.path;
    } else if (k.kind == "browser_closes") {
      EXPECT_EQ(e, cev(static_cast<close_code>(k.code), k.reason, true, initiator::remote))
          << k.path;
      // The CloseEvent carries the server's close frame: closewise echoes the
      // code without the reason (RFC 6455 §5.5.1 "typically echoing the status code").
      EXPECT_EQ(b["code"], k.code);
      EXPECT_EQ(b["reason"], "");
      EXPECT_EQ(b["wasClean"], true);
    } else {
      EXPECT_EQ(b["code"], 1006);
      EXPECT_EQ(b["reason"], "");
      EXPECT_EQ(b["wasClean"], false);
      EXPECT_EQ(e, cev(close_code::abnormal, "", false, initiator::none, error::aborted));
    }
  }
}

}  // namespace
}  // namespace closewise::net

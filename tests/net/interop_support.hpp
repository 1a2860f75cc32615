// The interop matrix shared by the peer tests: codes, reasons, message sizes.
#pragma once

#include <cstdint>
#include <cstdlib>
#include <string>
#include <utility>
#include <vector>

#include <nlohmann/json.hpp>

#include <gtest/gtest.h>

#include "closewise/close_code.hpp"
#include "closewise/net/session.hpp"
#include "net/net_test_support.hpp"

namespace closewise::net::test {

/// The Chromium the interop test drives: Debian's package (scripts/deps.sh
/// installs it), or CLOSEWISE_CHROMIUM. The one place the path is written:
/// tests/interop/chromium_peer.js takes it as an argument.
inline std::string chromium_path() {
  const char* env = std::getenv("CLOSEWISE_CHROMIUM");
  return env && *env ? env : "/usr/bin/chromium";
}

/// Every code valid on the wire that an endpoint may send (RFC 6455 §7.4, IANA).
inline const std::vector<std::uint16_t> wire_codes = {
    1000, 1001, 1002, 1003, 1007, 1008, 1009, 1010, 1011, 1012, 1013, 1014, 3000, 3999, 4000, 4999};
/// The codes an application's close() may send.
inline const std::vector<std::uint16_t> app_codes = {1000, 3000, 3999, 4000, 4999};

/// Reasons: empty, multibyte UTF-8, and exactly 123 bytes (61 two-byte letters + 1).
inline const std::vector<std::string> reasons = {"", "redémarrage — 再起動 ✓", [] {
                                                   std::string s;
                                                   for (int i = 0; i < 61; ++i) s += "é";
                                                   return s + "x";
                                                 }()};

/// Message sizes echoed, as (bytes, text?). Text payloads are multibyte UTF-8.
inline const std::vector<std::pair<std::size_t, bool>> echo_sizes = {
    {0, false},    {0, true},      {1, false},       {125, true},        {126, false},
    {65535, true}, {65536, false}, {1 << 20, false}, {(16 << 20), false}};

/// The same deterministic data the peer scripts build.
inline std::string make_payload(std::size_t size, bool text) {
  std::string s;
  s.reserve(size);
  if (text) {
    for (std::size_t i = 0; i < size / 2; ++i) s += "é";
    if (size % 2) s += 'x';
    return s;
  }
  for (std::size_t i = 0; i < size; ++i) s += static_cast<char>(((i * 131) ^ (i >> 8)) & 0xFF);
  return s;
}

inline std::string hex(std::string_view s) {
  static const char* d = "0123456789abcdef";
  std::string h;
  for (unsigned char c : s) {
    h += d[c >> 4];
    h += d[c & 15];
  }
  return h;
}

/// Reads lines from a peer until one parses as JSON with `event`; nullopt on timeout.
inline std::optional<nlohmann::json> next_json(child_process& p,
                                               std::chrono::milliseconds timeout = wait_limit) {
  const auto deadline = std::chrono::steady_clock::now() + timeout;
  for (;;) {
    const auto left = std::chrono::duration_cast<std::chrono::milliseconds>(
        deadline - std::chrono::steady_clock::now());
    if (left.count() <= 0) return std::nullopt;
    auto line = p.read_line(left);
    if (!line) return std::nullopt;
    auto j = nlohmann::json::parse(*line, nullptr, false);
    if (!j.is_discarded() && j.is_object()) return j;
  }
}

/// The peer asks the closewise server what to do through the request path:
/// "/close/<code>/<hex reason>/<id>" closes with that code and reason,
/// "/drop/<id>" drops TCP with no close frame; anything else is left open.
inline void act_on_scripted_path(session& s) {
  const std::string& t = s.request().target;
  if (t.rfind("/close/", 0) == 0) {
    const auto code = static_cast<close_code>(std::stoi(t.substr(7, 4)));
    const auto hx = t.substr(12, t.rfind('/') - 12);
    std::string reason;
    for (std::size_t i = 0; i + 1 < hx.size(); i += 2)
      reason += static_cast<char>(std::stoi(hx.substr(i, 2), nullptr, 16));
    EXPECT_FALSE(s.close_endpoint(code, reason)) << t;
  } else if (t.rfind("/drop/", 0) == 0) {
    s.abort();
  }
}

}  // namespace closewise::net::test

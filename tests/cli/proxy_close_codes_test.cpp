// End to end through `closewise proxy`: every close code valid on the wire
// arrives exactly (code and reason), upstream -> client and client -> upstream.
#include <gtest/gtest.h>

#include <closewise/close_code.hpp>

#include <memory>
#include <string>
#include <vector>

#include "cli/proxy_support.hpp"

using namespace closewise;
using namespace closewise::test;
using namespace std::chrono_literals;

namespace {

/// 1000-1003, 1007-1014, 3000-4999: what may appear on the wire (ARCHITECTURE §2).
std::vector<std::uint16_t> wire_valid_codes() {
  std::vector<std::uint16_t> v;
  for (unsigned c = 0; c < 65536; ++c)
    if (is_endpoint_sendable(static_cast<close_code>(c)))
      v.push_back(static_cast<std::uint16_t>(c));
  return v;
}

std::string reason_for(std::uint16_t code) { return "r" + std::to_string(code); }

// Connections at once: enough to keep the run short, few enough for TSan.
constexpr std::size_t batch = 50;

}  // namespace

TEST(cli_proxy, the_wire_valid_codes_are_the_ones_expected) {
  const auto codes = wire_valid_codes();
  ASSERT_EQ(codes.size(), 4u + 8u + 2000u);
  EXPECT_EQ(codes.front(), 1000);
  EXPECT_EQ(codes.back(), 4999);
}

TEST(cli_proxy, every_wire_valid_code_and_reason_from_the_upstream_reaches_the_client) {
  io_thread io;
  upstream_server up(io.ioc);
  const int up_port = up.listen();
  cli_process proxy(proxy_args("ws://127.0.0.1:" + std::to_string(up_port)));
  const std::string url = proxy_url(proxy);
  auto codes = wire_valid_codes();
  codes.push_back(1005);  // an empty close frame passes on as an empty close frame
  for (std::size_t i = 0; i < codes.size(); i += batch) {
    std::vector<std::unique_ptr<probe_client>> cs;
    for (std::size_t k = i; k < std::min(codes.size(), i + batch); ++k) {
      cs.push_back(std::make_unique<probe_client>(io.ioc));
      const std::string reason = codes[k] == 1005 ? "" : reason_for(codes[k]);
      cs.back()->start(url + "/close/" + std::to_string(codes[k]) + "/" + reason);
    }
    for (std::size_t k = 0; k < cs.size(); ++k) {
      const auto code = codes[i + k];
      const close_event ev = cs[k]->wait_close();
      EXPECT_EQ(to_int(ev.code), code) << ev.reason;
      EXPECT_EQ(ev.reason, code == 1005 ? "" : reason_for(code));
      EXPECT_TRUE(ev.was_clean) << code;
      EXPECT_EQ(ev.initiator, initiator::remote) << code;
    }
  }
}

TEST(cli_proxy, every_wire_valid_code_and_reason_from_the_client_reaches_the_upstream) {
  io_thread io;
  upstream_server up(io.ioc);
  const int up_port = up.listen();
  cli_process proxy(proxy_args("ws://127.0.0.1:" + std::to_string(up_port)));
  const std::string url = proxy_url(proxy);
  auto codes = wire_valid_codes();
  codes.push_back(1005);
  std::size_t done = 0;
  for (std::size_t i = 0; i < codes.size(); i += batch) {
    std::vector<std::unique_ptr<probe_client>> cs;
    for (std::size_t k = i; k < std::min(codes.size(), i + batch); ++k) {
      const auto code = static_cast<close_code>(codes[k]);
      const std::string reason = codes[k] == 1005 ? "" : reason_for(codes[k]);
      cs.push_back(std::make_unique<probe_client>(io.ioc));
      // close_relay: a client application may not send 1001-1003 or 1007-1014
      // with close(); the relay path may send every wire-valid code.
      // The close goes after an echo: the upstream leg is open by then (a
      // client closing before it is open cancels the upstream attempt).
      cs.back()->start(
          url + "/echo/" + std::to_string(codes[k]),
          [](net::client& c) { EXPECT_FALSE(c.send_text("x")); },
          [code, reason](net::client& c) {
            EXPECT_FALSE(c.close_relay(code, reason)) << to_int(code);
          });
    }
    for (std::size_t k = 0; k < cs.size(); ++k) {
      const close_event ev = cs[k]->wait_close();
      EXPECT_EQ(to_int(ev.code), codes[i + k]);  // the proxy's echo
      EXPECT_TRUE(ev.was_clean);
      EXPECT_EQ(ev.initiator, initiator::local);
    }
    done += cs.size();
    const auto seen = up.wait_ended(done, 20s);
    for (std::size_t k = i; k < i + cs.size(); ++k) {
      const auto it = seen.find("/echo/" + std::to_string(codes[k]));
      ASSERT_NE(it, seen.end()) << codes[k];
      const close_event& ev = it->second.ended;
      EXPECT_EQ(to_int(ev.code), codes[k]);
      EXPECT_EQ(ev.reason, codes[k] == 1005 ? "" : reason_for(codes[k]));
      EXPECT_TRUE(ev.was_clean) << codes[k];
      EXPECT_EQ(ev.initiator, initiator::remote) << codes[k];
    }
  }
}

TEST(cli_proxy, a_reason_of_123_utf8_bytes_passes_unchanged_both_ways) {
  io_thread io;
  upstream_server up(io.ioc);
  const int up_port = up.listen();
  cli_process proxy(proxy_args("ws://127.0.0.1:" + std::to_string(up_port)));
  const std::string url = proxy_url(proxy);
  std::string reason;
  while (reason.size() + 2 <= 121) reason += "\xC3\xA9";  // é, two bytes each
  reason += "abc";
  reason.resize(123);
  ASSERT_FALSE(validate_close_reason(reason));
  probe_client to_up(io.ioc);
  to_up.start(
      url + "/echo", [](net::client& c) { EXPECT_FALSE(c.send_text("x")); },
      [&](net::client& c) { EXPECT_FALSE(c.close_relay(close_code{4001}, reason)); });
  EXPECT_EQ(to_int(to_up.wait_close().code), 4001);
  const auto seen = up.wait_ended(1, 10s);
  ASSERT_EQ(seen.count("/echo"), 1u);
  EXPECT_EQ(seen.at("/echo").ended.reason, reason);
}

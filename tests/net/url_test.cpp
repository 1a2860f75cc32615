#include "closewise/net/url.hpp"

#include <gtest/gtest.h>

#include "closewise/error.hpp"

namespace closewise::net {
namespace {

ws_url parse_ok(std::string_view s) {
  ws_url u;
  EXPECT_EQ(parse_ws_url(s, u), std::error_code()) << s;
  return u;
}

TEST(url, ws_default_port_and_root_target) {
  const auto u = parse_ok("ws://example.com");
  EXPECT_FALSE(u.secure);
  EXPECT_EQ(u.host, "example.com");
  EXPECT_EQ(u.port, 80);
  EXPECT_EQ(u.target, "/");
  EXPECT_EQ(u.host_header, "example.com:80");
  EXPECT_FALSE(u.host_is_ip);
}

TEST(url, wss_default_port_443) {
  const auto u = parse_ok("wss://Example.COM/");
  EXPECT_TRUE(u.secure);
  EXPECT_EQ(u.host, "example.com");
  EXPECT_EQ(u.port, 443);
  EXPECT_EQ(u.host_header, "example.com:443");
}

TEST(url, target_is_exactly_path_and_query) {
  const auto u = parse_ok("ws://h:9001/a/b%20c?x=1&y=%2F#frag");
  EXPECT_EQ(u.port, 9001);
  EXPECT_EQ(u.target, "/a/b%20c?x=1&y=%2F");
  EXPECT_EQ(u.host_header, "h:9001");
}

TEST(url, query_without_path_gets_a_slash) {
  EXPECT_EQ(parse_ok("ws://h?q").target, "/?q");
  EXPECT_EQ(parse_ok("ws://h/?").target, "/?");
}

TEST(url, ipv6_literal_in_brackets_only_in_host_header) {
  const auto u = parse_ok("ws://[::1]:8080/chat");
  EXPECT_EQ(u.host, "::1");
  EXPECT_TRUE(u.host_is_ip);
  EXPECT_EQ(u.host_header, "[::1]:8080");
  EXPECT_EQ(u.target, "/chat");
}

TEST(url, ipv4_literal) {
  const auto u = parse_ok("wss://127.0.0.1:1/");
  EXPECT_TRUE(u.host_is_ip);
  EXPECT_EQ(u.host_header, "127.0.0.1:1");
}

TEST(url, other_schemes_are_unsupported) {
  ws_url u;
  EXPECT_EQ(parse_ws_url("http://h/", u), error::unsupported_scheme);
  EXPECT_EQ(parse_ws_url("https://h/", u), error::unsupported_scheme);
  EXPECT_EQ(parse_ws_url("ftp://h/", u), error::unsupported_scheme);
}

TEST(url, malformed_urls_are_invalid) {
  ws_url u;
  for (const char* s : {"",
                        "ws",
                        "ws:",
                        "ws:/x",
                        "ws://",
                        "ws://:80/",
                        "ws://h:0/",
                        "ws://h:99999/",
                        "ws://h:x/",
                        "ws://[::1/",
                        "ws://a b/",
                        "not a url",
                        "ws://%2F/path",
                        "ws://h%3A1/",
                        "ws://a%20b/",
                        "ws://%C3%A9.com/",
                        "ws://h%00/",
                        "ws://h:8+/x",
                        "WS://Example.COM:8+",
                        "ws://1.2.3.4.com/",
                        "ws://2.0.%352.0.%35"}) {
    EXPECT_EQ(parse_ws_url(s, u), error::invalid_url) << s;
  }
}

}  // namespace
}  // namespace closewise::net

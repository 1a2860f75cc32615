#include "closewise/proto/handshake.hpp"

#include <gtest/gtest.h>

#include <string>
#include <string_view>

#include "closewise/error.hpp"

namespace closewise::proto {
namespace {

using namespace std::string_literals;
using cresult = client_handshake::result;
using sresult = server_handshake::result;

// RFC 6455 §1.3's sample key and its accept value.
constexpr std::string_view sample_key = "dGhlIHNhbXBsZSBub25jZQ==";
constexpr std::string_view sample_accept = "s3pPLMBiTxaQ9kYGzzhZRbK+xOo=";

const std::string good_request =
    "GET /chat?room=1 HTTP/1.1\r\n"
    "Host: server.example.com:8080\r\n"
    "Upgrade: websocket\r\n"
    "Connection: Upgrade\r\n"
    "Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n"
    "Sec-WebSocket-Version: 13\r\n"
    "\r\n";

std::string response_101(std::string_view extra = {}) {
  return "HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
         "Sec-WebSocket-Accept: s3pPLMBiTxaQ9kYGzzhZRbK+xOo=\r\n"s +
         std::string(extra) + "\r\n";
}

client_request_options sample_options() {
  client_request_options o;
  o.host = "server.example.com:8080";
  o.target = "/chat?room=1";
  o.key = std::string(sample_key);
  return o;
}

// ------------------------------------------------------------ key, accept --

TEST(handshake_key, rfc6455_sample_accept) { EXPECT_EQ(compute_accept(sample_key), sample_accept); }

TEST(handshake_key, generated_keys_are_valid_and_random) {
  const auto a = generate_key();
  const auto b = generate_key();
  EXPECT_EQ(a.size(), 24u);
  EXPECT_TRUE(is_valid_key(a));
  EXPECT_TRUE(is_valid_key(b));
  EXPECT_NE(a, b);
}

TEST(handshake_key, validity) {
  EXPECT_TRUE(is_valid_key(sample_key));
  EXPECT_FALSE(is_valid_key(""));
  EXPECT_FALSE(is_valid_key("dGhlIHNhbXBsZSBub25jZQ="));    // 23 chars
  EXPECT_FALSE(is_valid_key("dGhlIHNhbXBsZSBub25jZQ==="));  // 25 chars
  EXPECT_FALSE(is_valid_key("dGhlIHNhbXBsZSBub25jZ==="));   // 15 bytes
  EXPECT_FALSE(is_valid_key("dGhlIHNhbXBsZSBub25jZQAA"));   // 18 bytes
  EXPECT_FALSE(is_valid_key("dGhlIHNhbXBsZSBub25j*Q=="));   // not base64
  EXPECT_FALSE(is_valid_key("dGhlIHNhbX BsZSBub25jZ=="));   // space inside
  EXPECT_FALSE(is_valid_key("dGhl=HNhbXBsZSBub25jZQ=="));   // padding inside
}

// ---------------------------------------------------------- client request --

TEST(client_handshake, request_bytes_are_exact) {
  auto o = sample_options();
  o.origin = "https://example.com";
  o.subprotocols = {"chat", "superchat"};
  o.deflate.enabled = true;
  o.extra_headers.fields = {{"Authorization", "Bearer abc"}};
  client_handshake c(o);
  EXPECT_FALSE(c.error());
  EXPECT_EQ(c.request(),
            "GET /chat?room=1 HTTP/1.1\r\n"
            "Host: server.example.com:8080\r\n"
            "Upgrade: websocket\r\n"
            "Connection: Upgrade\r\n"
            "Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n"
            "Sec-WebSocket-Version: 13\r\n"
            "Origin: https://example.com\r\n"
            "Sec-WebSocket-Protocol: chat, superchat\r\n"
            "Sec-WebSocket-Extensions: permessage-deflate; client_max_window_bits\r\n"
            "Authorization: Bearer abc\r\n"
            "\r\n");
}

TEST(client_handshake, empty_target_is_slash_and_key_is_generated) {
  client_request_options o;
  o.host = "h:1";
  client_handshake c(o);
  const auto& r = c.request();
  EXPECT_EQ(r.rfind("GET / HTTP/1.1\r\nHost: h:1\r\n", 0), 0u) << r;
  const auto at = r.find("Sec-WebSocket-Key: ");
  ASSERT_NE(at, std::string::npos);
  EXPECT_TRUE(is_valid_key(r.substr(at + 19, 24)));
}

TEST(client_handshake, bad_options_are_refused) {
  auto check = [](client_request_options o, const char* what) {
    client_handshake c(std::move(o));
    EXPECT_EQ(c.error(), error::invalid_argument) << what;
    EXPECT_TRUE(c.request().empty()) << what;
    std::size_t consumed = 99;
    EXPECT_EQ(c.receive(response_101(), consumed), cresult::failed) << what;
    EXPECT_EQ(consumed, 0u) << what;
  };
  auto o = sample_options();
  o.host = "evil\r\nX-Injected: 1";
  check(o, "CRLF in host");
  o = sample_options();
  o.host.clear();
  check(o, "empty host");
  o = sample_options();
  o.target = "chat";
  check(o, "target without slash");
  o = sample_options();
  o.target = "/a b";
  check(o, "space in target");
  o = sample_options();
  o.origin = "x\ny";
  check(o, "LF in origin");
  o = sample_options();
  o.subprotocols = {"a b"};
  check(o, "subprotocol not a token");
  o = sample_options();
  o.subprotocols = {"chat", "chat"};
  check(o, "duplicate subprotocol");
  o = sample_options();
  o.extra_headers.fields = {{"Sec-WebSocket-Key", "x"}};
  check(o, "managed header");
  o = sample_options();
  o.extra_headers.fields = {{"X-A", "1\r\n"}};
  check(o, "CRLF in extra header");
  o = sample_options();
  o.extra_headers.fields = {{"X A", "1"}};
  check(o, "bad header name");
  o = sample_options();
  o.key = "short";
  check(o, "invalid key");
}

// --------------------------------------------------------- client response --

TEST(client_handshake, accepts_and_leaves_frames_for_the_connection) {
  client_handshake c(sample_options());
  const std::string frames = "\x81\x02hi"s;
  const std::string resp = response_101();
  std::size_t consumed = 0;
  EXPECT_EQ(c.receive(resp + frames, consumed), cresult::accepted);
  EXPECT_EQ(consumed, resp.size());
  EXPECT_FALSE(c.error());
  EXPECT_EQ(c.subprotocol(), "");
  EXPECT_FALSE(c.deflate());
  EXPECT_FALSE(c.failure());
  EXPECT_EQ(c.response_headers().get("sec-websocket-accept"), sample_accept);
  // Done: later bytes are not the handshake's.
  EXPECT_EQ(c.receive(frames, consumed), cresult::accepted);
  EXPECT_EQ(consumed, 0u);
}

TEST(client_handshake, byte_at_a_time) {
  client_handshake c(sample_options());
  const std::string resp = response_101() + "\x88\x00"s;
  const std::size_t head = response_101().size();
  for (std::size_t i = 0; i < head; ++i) {
    std::size_t consumed = 0;
    const auto r = c.receive(std::string_view(resp).substr(i, 1), consumed);
    EXPECT_EQ(consumed, 1u) << i;
    ASSERT_EQ(r, i + 1 == head ? cresult::accepted : cresult::need_more) << i;
  }
  std::size_t consumed = 5;
  EXPECT_EQ(c.receive(std::string_view(resp).substr(head, 1), consumed), cresult::accepted);
  EXPECT_EQ(consumed, 0u);
}

TEST(client_handshake, split_response_with_frames_in_last_piece) {
  client_handshake c(sample_options());
  const std::string resp = response_101();
  std::size_t consumed = 0;
  EXPECT_EQ(c.receive(resp.substr(0, 40), consumed), cresult::need_more);
  EXPECT_EQ(consumed, 40u);
  EXPECT_EQ(c.receive(resp.substr(40) + "\x81\x00", consumed), cresult::accepted);
  EXPECT_EQ(consumed, resp.size() - 40);
}

TEST(client_handshake, tokens_are_case_insensitive) {
  client_handshake c(sample_options());
  const std::string resp =
      "HTTP/1.1 101 Switching Protocols\r\nupgrade: WebSocket\r\n"
      "CONNECTION: keep-alive, UPGRADE\r\nsec-websocket-accept:   s3pPLMBiTxaQ9kYGzzhZRbK+xOo=  "
      "\r\n\r\n";
  std::size_t consumed = 0;
  EXPECT_EQ(c.receive(resp, consumed), cresult::accepted) << c.error().message();
}

struct response_case {
  const char* name;
  std::string response;
  error expected;
};

TEST(client_handshake, bad_101_responses_fail_with_exact_errors) {
  const std::string accept = "Sec-WebSocket-Accept: s3pPLMBiTxaQ9kYGzzhZRbK+xOo=\r\n";
  const response_case cases[] = {
      {"no upgrade", "HTTP/1.1 101 OK\r\nConnection: Upgrade\r\n" + accept + "\r\n",
       error::bad_upgrade},
      {"wrong upgrade",
       "HTTP/1.1 101 OK\r\nUpgrade: h2c\r\nConnection: Upgrade\r\n" + accept + "\r\n",
       error::bad_upgrade},
      {"no connection", "HTTP/1.1 101 OK\r\nUpgrade: websocket\r\n" + accept + "\r\n",
       error::bad_connection},
      {"connection without upgrade",
       "HTTP/1.1 101 OK\r\nUpgrade: websocket\r\nConnection: keep-alive\r\n" + accept + "\r\n",
       error::bad_connection},
      {"no accept", "HTTP/1.1 101 OK\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n\r\n",
       error::bad_accept},
      {"wrong accept",
       "HTTP/1.1 101 OK\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
       "Sec-WebSocket-Accept: AAAAAAAAAAAAAAAAAAAAAAAAAAA=\r\n\r\n",
       error::bad_accept},
      {"two accepts",
       "HTTP/1.1 101 OK\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n" + accept + accept +
           "\r\n",
       error::bad_accept},
      {"HTTP/1.0",
       "HTTP/1.0 101 OK\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n" + accept + "\r\n",
       error::bad_http_version},
      {"subprotocol not offered", response_101("Sec-WebSocket-Protocol: chat\r\n"),
       error::bad_subprotocol},
      {"extension not offered", response_101("Sec-WebSocket-Extensions: permessage-deflate\r\n"),
       error::bad_extension},
      {"garbage", "HTTQ/1.1 101\r\n\r\n", error::bad_http},
  };
  for (const auto& tc : cases) {
    client_handshake c(sample_options());
    std::size_t consumed = 0;
    EXPECT_EQ(c.receive(tc.response, consumed), cresult::failed) << tc.name;
    EXPECT_EQ(c.error(), tc.expected) << tc.name << ": " << c.error().message();
    EXPECT_EQ(c.error(), condition::handshake_failed) << tc.name;
    EXPECT_FALSE(c.failure()) << tc.name;
  }
}

TEST(client_handshake, subprotocol_must_be_one_offered) {
  auto o = sample_options();
  o.subprotocols = {"chat", "superchat"};
  {
    client_handshake c(o);
    std::size_t consumed = 0;
    EXPECT_EQ(c.receive(response_101("Sec-WebSocket-Protocol: superchat\r\n"), consumed),
              cresult::accepted);
    EXPECT_EQ(c.subprotocol(), "superchat");
  }
  {
    client_handshake c(o);
    std::size_t consumed = 0;
    EXPECT_EQ(c.receive(response_101("Sec-WebSocket-Protocol: mqtt\r\n"), consumed),
              cresult::failed);
    EXPECT_EQ(c.error(), error::bad_subprotocol);
    EXPECT_EQ(c.subprotocol(), "");
  }
  {
    client_handshake c(o);
    std::size_t consumed = 0;
    EXPECT_EQ(c.receive(response_101("Sec-WebSocket-Protocol: chat, superchat\r\n"), consumed),
              cresult::failed);
    EXPECT_EQ(c.error(), error::bad_subprotocol);
  }
  {
    client_handshake c(o);
    std::size_t consumed = 0;
    EXPECT_EQ(
        c.receive(response_101("Sec-WebSocket-Protocol: chat\r\nSec-WebSocket-Protocol: chat\r\n"),
                  consumed),
        cresult::failed);
    EXPECT_EQ(c.error(), error::bad_subprotocol);
  }
  {
    client_handshake c(o);  // case matters for subprotocol names
    std::size_t consumed = 0;
    EXPECT_EQ(c.receive(response_101("Sec-WebSocket-Protocol: CHAT\r\n"), consumed),
              cresult::failed);
    EXPECT_EQ(c.error(), error::bad_subprotocol);
  }
}

TEST(client_handshake, deflate_response_is_checked) {
  auto o = sample_options();
  o.deflate.enabled = true;
  {
    client_handshake c(o);
    std::size_t consumed = 0;
    EXPECT_EQ(c.receive(response_101("Sec-WebSocket-Extensions: permessage-deflate; "
                                     "server_no_context_takeover; client_max_window_bits=10\r\n"),
                        consumed),
              cresult::accepted);
    ASSERT_TRUE(c.deflate());
    EXPECT_EQ(*c.deflate(), (deflate_params{true, false, 15, 10}));
  }
  {
    client_handshake c(o);
    std::size_t consumed = 0;
    EXPECT_EQ(
        c.receive(response_101("Sec-WebSocket-Extensions: permessage-deflate; foo\r\n"), consumed),
        cresult::failed);
    EXPECT_EQ(c.error(), error::bad_extension);
    EXPECT_FALSE(c.deflate());
  }
  {
    client_handshake c(o);  // no extension in the answer: no deflate
    std::size_t consumed = 0;
    EXPECT_EQ(c.receive(response_101(), consumed), cresult::accepted);
    EXPECT_FALSE(c.deflate());
  }
}

TEST(client_handshake, refusal_with_retry_after_and_body) {
  client_handshake c(sample_options());
  const std::string resp =
      "HTTP/1.1 503 Service Unavailable\r\nRetry-After: 30\r\nContent-Length: 11\r\n\r\n"
      "come back\r\n";
  std::size_t consumed = 0;
  EXPECT_EQ(c.receive(resp + "trailing", consumed), cresult::failed);
  EXPECT_EQ(consumed, resp.size());
  EXPECT_EQ(c.error(), error::bad_status);
  ASSERT_TRUE(c.failure());
  EXPECT_EQ(c.failure()->status, 503u);
  EXPECT_EQ(c.failure()->reason_phrase, "Service Unavailable");
  EXPECT_EQ(c.failure()->headers.get("retry-after"), "30");
  EXPECT_EQ(c.failure()->body, "come back\r\n");
}

TEST(client_handshake, refusal_body_arriving_in_pieces) {
  client_handshake c(sample_options());
  const std::string head = "HTTP/1.1 429 Too Many Requests\r\nContent-Length: 6\r\n\r\n";
  std::size_t consumed = 0;
  EXPECT_EQ(c.receive(head + "sl", consumed), cresult::need_more);
  EXPECT_EQ(consumed, head.size() + 2);
  EXPECT_EQ(c.receive("ow", consumed), cresult::need_more);
  EXPECT_EQ(consumed, 2u);
  EXPECT_EQ(c.receive("!!\x81", consumed), cresult::failed);
  EXPECT_EQ(consumed, 2u);
  EXPECT_EQ(c.failure()->status, 429u);
  EXPECT_EQ(c.failure()->body, "slow!!");
}

TEST(client_handshake, refusal_body_is_truncated_at_the_bound) {
  client_handshake c(sample_options(), handshake_limits{8 * 1024, 4});
  std::size_t consumed = 0;
  // Content-Length promises 100 bytes; the result is final once 4 are in.
  EXPECT_EQ(c.receive("HTTP/1.1 403 Forbidden\r\nContent-Length: 100\r\n\r\nab", consumed),
            cresult::need_more);
  EXPECT_EQ(c.receive("cdefgh", consumed), cresult::failed);
  EXPECT_EQ(c.error(), error::bad_status);
  EXPECT_EQ(c.failure()->status, 403u);
  EXPECT_EQ(c.failure()->body, "abcd");
}

TEST(client_handshake, refusal_without_length_has_empty_body_and_does_not_wait) {
  client_handshake c(sample_options());
  std::size_t consumed = 0;
  const std::string head = "HTTP/1.1 404 Not Found\r\nContent-Type: text/plain\r\n\r\n";
  EXPECT_EQ(c.receive(head, consumed), cresult::failed);
  EXPECT_EQ(consumed, head.size());
  EXPECT_EQ(c.failure()->status, 404u);
  EXPECT_EQ(c.failure()->body, "");
}

TEST(client_handshake, chunked_refusal_body) {
  client_handshake c(sample_options());
  std::size_t consumed = 0;
  const std::string resp =
      "HTTP/1.1 401 Unauthorized\r\nTransfer-Encoding: chunked\r\n\r\n4\r\nauth\r\n5\r\n "
      "fail\r\n0\r\n\r\n";
  EXPECT_EQ(c.receive(resp, consumed), cresult::failed);
  EXPECT_EQ(consumed, resp.size());
  EXPECT_EQ(c.failure()->status, 401u);
  EXPECT_EQ(c.failure()->body, "auth fail");
}

TEST(client_handshake, oversized_response_header) {
  client_handshake c(sample_options(), handshake_limits{256, 16});
  std::string resp =
      "HTTP/1.1 101 Switching Protocols\r\nX-Pad: " + std::string(300, 'a') + "\r\n\r\n";
  std::size_t consumed = 0;
  EXPECT_EQ(c.receive(resp, consumed), cresult::failed);
  EXPECT_EQ(c.error(), error::header_too_large);
}

// ----------------------------------------------------------------- server --

TEST(server_handshake, accepts_and_answers_exactly) {
  server_handshake s;
  std::size_t consumed = 0;
  const std::string frames = "\x81\x82\x00\x00\x00\x00hi"s;
  EXPECT_EQ(s.receive(good_request + frames, consumed), sresult::valid);
  EXPECT_EQ(consumed, good_request.size());
  EXPECT_FALSE(s.error());
  EXPECT_EQ(s.request().method, "GET");
  EXPECT_EQ(s.request().target, "/chat?room=1");
  EXPECT_EQ(s.request().version, 11u);
  EXPECT_EQ(s.request().headers.get("HOST"), "server.example.com:8080");
  EXPECT_EQ(s.request().headers.fields.size(), 5u);
  EXPECT_EQ(s.accept(),
            "HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
            "Sec-WebSocket-Accept: s3pPLMBiTxaQ9kYGzzhZRbK+xOo=\r\n\r\n");
  EXPECT_FALSE(s.deflate());
  EXPECT_EQ(s.error_response(), "");
  EXPECT_EQ(s.receive(frames, consumed), sresult::valid);
  EXPECT_EQ(consumed, 0u);
}

TEST(server_handshake, byte_at_a_time) {
  server_handshake s;
  for (std::size_t i = 0; i < good_request.size(); ++i) {
    std::size_t consumed = 0;
    const auto r = s.receive(std::string_view(good_request).substr(i, 1), consumed);
    EXPECT_EQ(consumed, 1u) << i;
    ASSERT_EQ(r, i + 1 == good_request.size() ? sresult::valid : sresult::need_more) << i;
  }
  EXPECT_EQ(s.request().target, "/chat?room=1");
}

TEST(server_handshake, case_insensitive_headers_and_tokens) {
  server_handshake s;
  const std::string req =
      "GET / HTTP/1.1\r\nhost: a\r\nUPGRADE: WebSocket\r\nconnection: keep-alive, upgrade\r\n"
      "sec-websocket-key: dGhlIHNhbXBsZSBub25jZQ==\r\nSEC-WEBSOCKET-VERSION: 13\r\n\r\n";
  std::size_t consumed = 0;
  EXPECT_EQ(s.receive(req, consumed), sresult::valid) << s.error().message();
}

TEST(server_handshake, connection_and_upgrade_across_several_fields) {
  server_handshake s;
  const std::string req =
      "GET / HTTP/1.1\r\nHost: a\r\nUpgrade: h2c, websocket\r\nConnection: keep-alive\r\n"
      "Connection: Upgrade\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n"
      "Sec-WebSocket-Version: 13\r\n\r\n";
  std::size_t consumed = 0;
  EXPECT_EQ(s.receive(req, consumed), sresult::valid) << s.error().message();
}

std::string replace(std::string s, std::string_view from, std::string_view to) {
  const auto at = s.find(from);
  if (at != std::string::npos) s.replace(at, from.size(), to);
  return s;
}

struct request_case {
  const char* name;
  std::string request;
  error expected;
  unsigned status;
  std::string body;
};

TEST(server_handshake, faults_get_exact_status_error_and_reason) {
  const std::string& g = good_request;
  const request_case cases[] = {
      {"POST", replace(g, "GET", "POST"), error::bad_method, 400, "method must be GET\n"},
      {"HTTP/1.0", replace(g, "HTTP/1.1", "HTTP/1.0"), error::bad_http_version, 400,
       "HTTP/1.1 or later required\n"},
      {"HTTP/2.0", replace(g, "HTTP/1.1", "HTTP/2.0"), error::bad_http_version, 400,
       "HTTP/1.1 or later required\n"},
      {"no Host", replace(g, "Host: server.example.com:8080\r\n", ""), error::no_host, 400,
       "missing Host\n"},
      {"two Hosts", replace(g, "Host:", "Host: a\r\nHost:"), error::bad_http, 400,
       "more than one Host\n"},
      {"no Upgrade", replace(g, "Upgrade: websocket\r\n", ""), error::bad_upgrade, 400,
       "Upgrade must include websocket\n"},
      {"Upgrade h2c", replace(g, "Upgrade: websocket", "Upgrade: h2c"), error::bad_upgrade, 400,
       "Upgrade must include websocket\n"},
      {"no Connection", replace(g, "Connection: Upgrade\r\n", ""), error::bad_connection, 400,
       "Connection must include Upgrade\n"},
      {"Connection close", replace(g, "Connection: Upgrade", "Connection: close"),
       error::bad_connection, 400, "Connection must include Upgrade\n"},
      {"no key", replace(g, "Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n", ""), error::bad_key,
       400, "missing Sec-WebSocket-Key\n"},
      {"short key", replace(g, "dGhlIHNhbXBsZSBub25jZQ==", "dGhlIHNhbXBsZQ=="), error::bad_key, 400,
       "invalid Sec-WebSocket-Key\n"},
      {"two keys",
       replace(g, "Sec-WebSocket-Key:",
               "Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Key:"),
       error::bad_key, 400, "more than one Sec-WebSocket-Key\n"},
      {"version 8", replace(g, "Version: 13", "Version: 8"), error::bad_version, 426,
       "unsupported Sec-WebSocket-Version (want 13)\n"},
      {"no version", replace(g, "Sec-WebSocket-Version: 13\r\n", ""), error::bad_version, 426,
       "unsupported Sec-WebSocket-Version (want 13)\n"},
      {"body", replace(g, "\r\n\r\n", "\r\nContent-Length: 2\r\n\r\nhi"), error::bad_http, 400,
       "request body not allowed\n"},
      {"garbage", "\x16\x03\x01\x02\x00\x01\x00\r\n\r\n", error::bad_http, 400,
       "malformed HTTP request\n"},
      {"bad line ending", replace(g, "Upgrade: websocket\r\n", "Upgrade: websocket\n"),
       error::bad_http, 400, "malformed HTTP request\n"},
  };
  for (const auto& tc : cases) {
    server_handshake s;
    std::size_t consumed = 0;
    ASSERT_EQ(s.receive(tc.request, consumed), sresult::invalid) << tc.name;
    EXPECT_EQ(s.error(), tc.expected) << tc.name << ": " << s.error().message();
    EXPECT_EQ(s.error(), condition::handshake_failed) << tc.name;
    const auto resp = s.error_response();
    const std::string status_line = "HTTP/1.1 " + std::to_string(tc.status) + " ";
    EXPECT_EQ(resp.rfind(status_line, 0), 0u) << tc.name << "\n" << resp;
    EXPECT_EQ(resp.substr(resp.find("\r\n\r\n") + 4), tc.body) << tc.name;
    const bool closes = resp.find("\r\nConnection: close\r\n") != std::string::npos ||
                        resp.find("\r\nConnection: Upgrade, close\r\n") != std::string::npos;
    EXPECT_TRUE(closes) << tc.name;
    EXPECT_EQ(s.accept(), "") << tc.name;
  }
}

TEST(server_handshake, missing_key_response_bytes) {
  server_handshake s;
  std::size_t consumed = 0;
  ASSERT_EQ(s.receive(replace(good_request, "Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n", ""),
                      consumed),
            sresult::invalid);
  EXPECT_EQ(s.error_response(),
            "HTTP/1.1 400 Bad Request\r\nContent-Type: text/plain; charset=utf-8\r\n"
            "Content-Length: 26\r\nConnection: close\r\n\r\nmissing Sec-WebSocket-Key\n");
}

TEST(server_handshake, wrong_version_gets_426_with_version_header) {
  server_handshake s;
  std::size_t consumed = 0;
  ASSERT_EQ(s.receive(replace(good_request, "Version: 13", "Version: 7"), consumed),
            sresult::invalid);
  EXPECT_EQ(s.error_response(),
            "HTTP/1.1 426 Upgrade Required\r\nUpgrade: websocket\r\nSec-WebSocket-Version: 13\r\n"
            "Content-Type: text/plain; charset=utf-8\r\nContent-Length: 44\r\n"
            "Connection: Upgrade, close\r\n\r\nunsupported Sec-WebSocket-Version (want 13)\n");
}

TEST(server_handshake, header_limit_is_exact) {
  // A request of exactly the limit passes; one byte more is refused with 431.
  const std::size_t limit = good_request.size() + 20;
  const std::string pad_field = "X-Pad: ";
  const std::size_t pad = limit - good_request.size() - pad_field.size() - 2;
  const std::string fits =
      replace(good_request, "\r\n\r\n", "\r\n" + pad_field + std::string(pad, 'p') + "\r\n\r\n");
  ASSERT_EQ(fits.size(), limit);
  {
    server_handshake s(handshake_limits{limit, 0});
    std::size_t consumed = 0;
    EXPECT_EQ(s.receive(fits, consumed), sresult::valid) << s.error().message();
  }
  {
    server_handshake s(handshake_limits{limit - 1, 0});
    std::size_t consumed = 0;
    EXPECT_EQ(s.receive(fits, consumed), sresult::invalid);
    EXPECT_EQ(s.error(), error::header_too_large);
    EXPECT_EQ(s.error_response().rfind("HTTP/1.1 431 Request Header Fields Too Large\r\n", 0), 0u);
  }
}

TEST(server_handshake, slow_endless_headers_hit_the_limit) {
  // Fields dribbled in small pieces must still count against the limit.
  server_handshake s;  // 8 KiB
  std::size_t consumed = 0;
  ASSERT_EQ(s.receive("GET / HTTP/1.1\r\n", consumed), sresult::need_more);
  std::size_t sent = 16;
  sresult r = sresult::need_more;
  while (r == sresult::need_more && sent < 64 * 1024) {
    r = s.receive("X-A: b\r\n", consumed);
    sent += 8;
  }
  EXPECT_EQ(r, sresult::invalid);
  EXPECT_EQ(s.error(), error::header_too_large);
  EXPECT_LE(sent, 8u * 1024 + 8);
}

TEST(server_handshake, huge_single_read_is_refused_without_waiting) {
  server_handshake s;
  std::size_t consumed = 0;
  const std::string big = "GET / HTTP/1.1\r\nX: " + std::string(20000, 'a');
  EXPECT_EQ(s.receive(big, consumed), sresult::invalid);
  EXPECT_EQ(s.error(), error::header_too_large);
}

TEST(server_handshake, subprotocols_and_extensions_are_collected) {
  server_handshake s;
  const std::string req =
      replace(good_request, "\r\n\r\n",
              "\r\nSec-WebSocket-Protocol: chat, superchat\r\n"
              "Sec-WebSocket-Protocol: v2.mqtt\r\n"
              "Sec-WebSocket-Extensions: x-foo\r\n"
              "Sec-WebSocket-Extensions: permessage-deflate; client_max_window_bits\r\n\r\n");
  std::size_t consumed = 0;
  ASSERT_EQ(s.receive(req, consumed), sresult::valid);
  EXPECT_EQ(s.request().subprotocols, (std::vector<std::string>{"chat", "superchat", "v2.mqtt"}));
  EXPECT_EQ(s.request().extensions, "x-foo, permessage-deflate; client_max_window_bits");
  deflate_options d;
  d.enabled = true;
  d.server_no_context_takeover = true;
  EXPECT_EQ(s.accept("superchat", d),
            "HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
            "Sec-WebSocket-Accept: s3pPLMBiTxaQ9kYGzzhZRbK+xOo=\r\n"
            "Sec-WebSocket-Protocol: superchat\r\n"
            "Sec-WebSocket-Extensions: permessage-deflate; server_no_context_takeover\r\n\r\n");
  ASSERT_TRUE(s.deflate());
  EXPECT_EQ(*s.deflate(), (deflate_params{true, false, 15, 15}));
  // A subprotocol the client did not offer is left out; deflate off is off.
  EXPECT_EQ(s.accept("mqtt"),
            "HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
            "Sec-WebSocket-Accept: s3pPLMBiTxaQ9kYGzzhZRbK+xOo=\r\n\r\n");
  EXPECT_FALSE(s.deflate());
}

TEST(server_handshake, refuse_builds_complete_responses) {
  http_headers h;
  h.fields = {{"Retry-After", "5"}};
  EXPECT_EQ(server_handshake::refuse(503, h, "busy\n"),
            "HTTP/1.1 503 Service Unavailable\r\nRetry-After: 5\r\n"
            "Content-Type: text/plain; charset=utf-8\r\nContent-Length: 5\r\nConnection: "
            "close\r\n\r\nbusy\n");
  EXPECT_EQ(server_handshake::refuse(403),
            "HTTP/1.1 403 Forbidden\r\nContent-Length: 0\r\nConnection: close\r\n\r\n");
  // Injected, managed and malformed fields are dropped; a bad status is 500.
  h.fields = {{"X-Evil", "a\r\nSet-Cookie: x"},
              {"Content-Length", "99"},
              {"Bad Name", "v"},
              {"Connection", "keep-alive"}};
  EXPECT_EQ(server_handshake::refuse(101, h),
            "HTTP/1.1 500 Internal Server Error\r\nContent-Length: 0\r\nConnection: close\r\n\r\n");
  EXPECT_EQ(server_handshake::refuse(598).rfind("HTTP/1.1 598 Error\r\n", 0), 0u);
}

// ------------------------------------------------------ both halves, paired --

TEST(handshake_pair, client_and_server_agree) {
  client_request_options o;
  o.host = "localhost:9001";
  o.target = "/live?x=1";
  o.subprotocols = {"v1", "v2"};
  o.deflate.enabled = true;
  o.deflate.client_no_context_takeover = true;
  client_handshake c(o);
  server_handshake s;
  std::size_t consumed = 0;
  ASSERT_EQ(s.receive(c.request(), consumed), sresult::valid) << s.error().message();
  EXPECT_EQ(consumed, c.request().size());
  EXPECT_EQ(s.request().target, "/live?x=1");
  deflate_options sd;
  sd.enabled = true;
  sd.client_max_window_bits = 12;
  const auto answer = s.accept("v2", sd);
  ASSERT_EQ(c.receive(answer, consumed), cresult::accepted) << c.error().message();
  EXPECT_EQ(consumed, answer.size());
  EXPECT_EQ(c.subprotocol(), "v2");
  ASSERT_TRUE(c.deflate());
  ASSERT_TRUE(s.deflate());
  EXPECT_EQ(*c.deflate(), *s.deflate());
  EXPECT_EQ(*c.deflate(), (deflate_params{false, true, 15, 12}));
}

TEST(handshake_pair, server_refusal_reaches_the_client_policy) {
  client_handshake c(sample_options());
  http_headers h;
  h.fields = {{"Retry-After", "120"}};
  const auto refusal = server_handshake::refuse(503, h, "maintenance\n");
  std::size_t consumed = 0;
  ASSERT_EQ(c.receive(refusal, consumed), cresult::failed);
  EXPECT_EQ(consumed, refusal.size());
  EXPECT_EQ(c.error(), error::bad_status);
  EXPECT_EQ(c.failure()->status, 503u);
  EXPECT_EQ(c.failure()->headers.get("Retry-After"), "120");
  EXPECT_EQ(c.failure()->body, "maintenance\n");
}

TEST(handshake_pair, objects_move) {
  client_handshake c(sample_options());
  client_handshake moved(std::move(c));
  std::size_t consumed = 0;
  EXPECT_EQ(moved.receive(response_101(), consumed), cresult::accepted);
  server_handshake s;
  server_handshake s2(std::move(s));
  EXPECT_EQ(s2.receive(good_request, consumed), sresult::valid);
}

}  // namespace
}  // namespace closewise::proto

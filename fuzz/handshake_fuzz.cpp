// libFuzzer target: the opening handshake parsers (RFC 6455 §4) and the
// permessage-deflate negotiation and inflater (RFC 7692) they feed.
//
// The first byte picks the target, the second how the rest is split into
// reads, so every parser also sees its input arriving in pieces. Invariants
// (consumed never exceeds what was given, results are final) abort on failure.
#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <string>
#include <string_view>

#include "closewise/proto/deflate.hpp"
#include "closewise/proto/handshake.hpp"

namespace {

using namespace closewise::proto;

void check(bool ok) {
  if (!ok) std::abort();
}

void fuzz_server(std::string_view in, std::size_t piece) {
  server_handshake s(handshake_limits{1024, 256});
  server_handshake::result r = server_handshake::result::need_more;
  std::size_t at = 0;
  while (at < in.size() && r == server_handshake::result::need_more) {
    const auto chunk = in.substr(at, piece);
    std::size_t consumed = 0;
    r = s.receive(chunk, consumed);
    check(consumed <= chunk.size());
    if (r == server_handshake::result::need_more) check(consumed == chunk.size());
    at += chunk.size();
  }
  if (r == server_handshake::result::valid) {
    check(!s.error());
    deflate_options d;
    d.enabled = true;
    d.client_max_window_bits = static_cast<std::uint8_t>(8 + piece % 8);
    const auto sp =
        s.request().subprotocols.empty() ? std::string{} : s.request().subprotocols.front();
    const auto answer = s.accept(sp, d);
    check(answer.rfind("HTTP/1.1 101 Switching Protocols\r\n", 0) == 0);
  } else if (r == server_handshake::result::invalid) {
    check(static_cast<bool>(s.error()));
    check(!s.error_response().empty());
  }
  std::size_t consumed = 1;
  if (r != server_handshake::result::need_more) {
    check(s.receive("x", consumed) == r && consumed == 0);
  }
}

void fuzz_client(std::string_view in, std::size_t piece) {
  client_request_options o;
  o.host = "example.com:80";
  o.target = "/";
  o.key = "dGhlIHNhbXBsZSBub25jZQ==";
  o.subprotocols = {"chat", "v2"};
  o.deflate.enabled = true;
  o.deflate.server_max_window_bits = static_cast<std::uint8_t>(8 + piece % 8);
  client_handshake c(o, handshake_limits{1024, 64});
  client_handshake::result r = client_handshake::result::need_more;
  std::size_t at = 0;
  while (at < in.size() && r == client_handshake::result::need_more) {
    const auto chunk = in.substr(at, piece);
    std::size_t consumed = 0;
    r = c.receive(chunk, consumed);
    check(consumed <= chunk.size());
    if (r == client_handshake::result::need_more) check(consumed == chunk.size());
    at += chunk.size();
  }
  if (r == client_handshake::result::failed) {
    check(static_cast<bool>(c.error()));
    if (c.failure()) check(c.failure()->body.size() <= 64);
  } else if (r == client_handshake::result::accepted) {
    check(!c.error());
  }
}

void fuzz_extensions(std::string_view in, std::size_t piece) {
  deflate_options server;
  server.enabled = true;
  server.server_no_context_takeover = piece & 1;
  server.client_max_window_bits = static_cast<std::uint8_t>(8 + piece % 8);
  std::string response;
  const auto p = negotiate_deflate(in, server, response);
  check(p.has_value() == !response.empty());
  if (p) {
    // Whatever the server answers must be acceptable to a browser-like offer.
    deflate_options offer;
    offer.enabled = true;
    std::optional<deflate_params> client_side;
    (void)accept_deflate_response(response, offer, client_side);
  }
  std::optional<deflate_params> out;
  deflate_options offer;
  offer.enabled = true;
  offer.offer_client_max_window_bits = piece & 2;
  (void)accept_deflate_response(in, offer, out);
}

void fuzz_inflate(std::string_view in, std::size_t piece) {
  deflate_params p;
  p.server_max_window_bits = static_cast<std::uint8_t>(8 + piece % 8);
  p.server_no_context_takeover = piece & 8;
  deflate_codec d(role::client, p);
  std::string out;
  constexpr std::size_t max_out = 64 * 1024;
  std::size_t at = 0;
  while (at < in.size()) {
    const auto chunk = in.substr(at, piece);
    at += chunk.size();
    out.clear();
    if (d.decompress(chunk, at >= in.size() || (piece & 16), out, max_out)) break;
    check(out.size() <= max_out + 1);
  }
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  if (size < 2) return 0;
  const std::size_t piece = 1 + data[1];
  const std::string_view in(reinterpret_cast<const char*>(data) + 2, size - 2);
  switch (data[0] % 4) {
    case 0:
      fuzz_server(in, piece);
      break;
    case 1:
      fuzz_client(in, piece);
      break;
    case 2:
      fuzz_extensions(in, piece);
      break;
    default:
      fuzz_inflate(in, piece);
      break;
  }
  return 0;
}

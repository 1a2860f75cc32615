// Fuzzes permessage-deflate (RFC 7692) with negotiated parameters taken from
// the input: both max_window_bits (8..15) and both no_context_takeover flags.
//
// Input: byte 0 flags, byte 1 the two window sizes, byte 2 the fragment size,
// byte 3 the inflate limit; the rest is used twice:
// 1. as compressed data from the peer, fed to the inflater in fragments: the
//    output never exceeds the limit by more than one byte, and a failed
//    direction stays failed;
// 2. split at '\n' into messages that one side compresses and the other
//    inflates, fragment by fragment: every message comes back exactly,
//    whatever the window sizes and context takeover say.
#include <algorithm>
#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <string>
#include <string_view>

#include "closewise/error.hpp"
#include "closewise/proto/deflate.hpp"

namespace {

using namespace closewise::proto;

// A broken invariant aborts, naming itself, so a crash report says which.
#define CHECK(cond)                                                                     \
  do {                                                                                  \
    if (!(cond)) {                                                                      \
      std::fprintf(stderr, "%s:%d: invariant broken: %s\n", __FILE__, __LINE__, #cond); \
      std::abort();                                                                     \
    }                                                                                   \
  } while (false)

struct setup {
  deflate_params params;
  role inflating_side = role::client;  // the inflater of part 1 and part 2
  bool fin_every_fragment = false;     // part 1: every fragment ends a message
  std::size_t fragment = 1;
  std::size_t max_out = 0;
};

setup read_setup(const std::uint8_t* d) {
  setup s;
  s.inflating_side = (d[0] & 1) != 0 ? role::server : role::client;
  s.params.server_no_context_takeover = (d[0] & 2) != 0;
  s.params.client_no_context_takeover = (d[0] & 4) != 0;
  s.fin_every_fragment = (d[0] & 8) != 0;
  s.params.server_max_window_bits = static_cast<std::uint8_t>(min_window_bits + (d[1] & 7));
  s.params.client_max_window_bits = static_cast<std::uint8_t>(min_window_bits + ((d[1] >> 3) & 7));
  s.fragment = 1 + d[2];
  constexpr std::size_t limits[] = {0, 1, 16, 255, 4096, 64 * 1024};
  s.max_out = limits[d[3] % std::size(limits)];
  return s;
}

void inflate_raw(const setup& s, std::string_view in) {
  deflate_codec codec(s.inflating_side, s.params);
  std::string out;
  bool failed = false;
  for (std::size_t at = 0; at < in.size();) {
    const auto chunk = in.substr(at, s.fragment);
    at += chunk.size();
    const bool fin = s.fin_every_fragment || at >= in.size();
    const std::error_code ec = codec.decompress(chunk, fin, out, s.max_out);
    // RFC 6455 §10.4: a deflate bomb stops at the limit (one byte over, to tell).
    CHECK(out.size() <= s.max_out + 1);
    if (failed) CHECK(ec == closewise::error::bad_compression);
    if (ec) {
      CHECK(ec == closewise::error::bad_compression || ec == closewise::error::message_too_big);
      failed = true;
    }
    if (fin) out.clear();
  }
}

void round_trip(const setup& s, std::string_view in) {
  const role sender = s.inflating_side == role::client ? role::server : role::client;
  deflate_codec tx(sender, s.params);
  deflate_codec rx(s.inflating_side, s.params);
  constexpr std::size_t no_limit = std::size_t{1} << 24;
  std::size_t start = 0;
  while (start <= in.size()) {
    const std::size_t end = std::min(in.find('\n', start), in.size());
    const std::string_view message = in.substr(start, end - start);
    start = end + 1;
    std::string wire;
    CHECK(!tx.compress(message, wire));
    CHECK(!wire.empty());  // even an empty message is one byte (RFC 7692 §7.2.3.6)
    std::string out;
    for (std::size_t at = 0; at < wire.size();) {
      const auto chunk = std::string_view(wire).substr(at, s.fragment);
      at += chunk.size();
      CHECK(!rx.decompress(chunk, at >= wire.size(), out, no_limit));
    }
    CHECK(out == message);
  }
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  if (size < 4) return 0;
  const setup s = read_setup(data);
  const std::string_view rest(reinterpret_cast<const char*>(data) + 4, size - 4);
  inflate_raw(s, rest);
  round_trip(s, rest);
  return 0;
}

#include "closewise/proto/deflate.hpp"

#include <gtest/gtest.h>

#include <random>
#include <string>
#include <string_view>
#include <vector>

#include "closewise/error.hpp"

namespace closewise::proto {
namespace {

using namespace std::string_literals;

std::string hex(std::string_view s) {
  static const char* digits = "0123456789abcdef";
  std::string out;
  for (unsigned char c : s) {
    if (!out.empty()) out += ' ';
    out += digits[c >> 4];
    out += digits[c & 15];
  }
  return out;
}

deflate_options enabled() {
  deflate_options o;
  o.enabled = true;
  return o;
}

// ------------------------------------------------------------------ offer --

TEST(deflate_offer, formats_each_parameter) {
  EXPECT_EQ(format_deflate_offer(deflate_options{}), "");
  auto o = enabled();
  EXPECT_EQ(format_deflate_offer(o), "permessage-deflate; client_max_window_bits");
  o.offer_client_max_window_bits = false;
  EXPECT_EQ(format_deflate_offer(o), "permessage-deflate");
  o.server_no_context_takeover = true;
  o.client_no_context_takeover = true;
  o.server_max_window_bits = 10;
  o.client_max_window_bits = 9;
  EXPECT_EQ(format_deflate_offer(o),
            "permessage-deflate; server_no_context_takeover; client_no_context_takeover; "
            "server_max_window_bits=10; client_max_window_bits=9");
  o.server_max_window_bits = 3;  // clamped into 8..15
  o.client_max_window_bits = 200;
  EXPECT_EQ(format_deflate_offer(o),
            "permessage-deflate; server_no_context_takeover; client_no_context_takeover; "
            "server_max_window_bits=8");
}

// ---------------------------------------------------------- server choice --

struct negotiation_case {
  const char* offer;
  deflate_options server;
  std::optional<deflate_params> params;
  const char* response;
};

deflate_options srv(bool snct = false, bool cnct = false, std::uint8_t sbits = 15,
                    std::uint8_t cbits = 15) {
  deflate_options o;
  o.enabled = true;
  o.server_no_context_takeover = snct;
  o.client_no_context_takeover = cnct;
  o.server_max_window_bits = sbits;
  o.client_max_window_bits = cbits;
  return o;
}

TEST(deflate_negotiate, table) {
  const negotiation_case cases[] = {
      {"permessage-deflate", srv(), deflate_params{}, "permessage-deflate"},
      {"permessage-deflate; client_max_window_bits", srv(), deflate_params{}, "permessage-deflate"},
      {"permessage-deflate; client_max_window_bits=10", srv(), deflate_params{false, false, 15, 10},
       "permessage-deflate; client_max_window_bits=10"},
      {"permessage-deflate; server_max_window_bits=10", srv(), deflate_params{false, false, 10, 15},
       "permessage-deflate; server_max_window_bits=10"},
      {"permessage-deflate; server_no_context_takeover", srv(), deflate_params{true, false, 15, 15},
       "permessage-deflate; server_no_context_takeover"},
      {"permessage-deflate; client_no_context_takeover", srv(), deflate_params{false, true, 15, 15},
       "permessage-deflate; client_no_context_takeover"},
      // The server may add no_context_takeover and a smaller server window unasked.
      {"permessage-deflate", srv(true, true, 11), deflate_params{true, true, 11, 15},
       "permessage-deflate; server_no_context_takeover; client_no_context_takeover; "
       "server_max_window_bits=11"},
      // The smaller of the offer and the server's own limit wins.
      {"permessage-deflate; server_max_window_bits=12", srv(false, false, 9),
       deflate_params{false, false, 9, 15}, "permessage-deflate; server_max_window_bits=9"},
      {"permessage-deflate; server_max_window_bits=9", srv(false, false, 12),
       deflate_params{false, false, 9, 15}, "permessage-deflate; server_max_window_bits=9"},
      {"permessage-deflate; client_max_window_bits", srv(false, false, 15, 10),
       deflate_params{false, false, 15, 10}, "permessage-deflate; client_max_window_bits=10"},
      {"permessage-deflate; client_max_window_bits=9", srv(false, false, 15, 10),
       deflate_params{false, false, 15, 9}, "permessage-deflate; client_max_window_bits=9"},
      // A client window limit needs the client's consent: decline without it.
      {"permessage-deflate", srv(false, false, 15, 10), std::nullopt, ""},
      // ... and take the next offer that gives it.
      {"permessage-deflate, permessage-deflate; client_max_window_bits=12",
       srv(false, false, 15, 10), deflate_params{false, false, 15, 10},
       "permessage-deflate; client_max_window_bits=10"},
      // Other extensions are skipped; quoted values are unquoted.
      {"x-webkit-deflate-frame, permessage-deflate; server_max_window_bits=\"10\"", srv(),
       deflate_params{false, false, 10, 15}, "permessage-deflate; server_max_window_bits=10"},
      {"PerMessage-Deflate; Server_No_Context_Takeover", srv(), deflate_params{true, false, 15, 15},
       "permessage-deflate; server_no_context_takeover"},
      // Malformed offers are declined (and the first acceptable one is taken).
      {"permessage-deflate; server_no_context_takeover; server_no_context_takeover", srv(),
       std::nullopt, ""},
      {"permessage-deflate; server_max_window_bits=7", srv(), std::nullopt, ""},
      {"permessage-deflate; server_max_window_bits=16", srv(), std::nullopt, ""},
      {"permessage-deflate; server_max_window_bits=08", srv(), std::nullopt, ""},
      {"permessage-deflate; server_max_window_bits", srv(), std::nullopt, ""},
      {"permessage-deflate; client_max_window_bits=1x", srv(), std::nullopt, ""},
      {"permessage-deflate; server_no_context_takeover=1", srv(), std::nullopt, ""},
      {"permessage-deflate; client_no_context_takeover=\"x\"", srv(), std::nullopt, ""},
      {"permessage-deflate; mystery", srv(), std::nullopt, ""},
      {"permessage-deflate;", srv(), std::nullopt, ""},
      {"permessage-deflate; server_max_window_bits=\"1 0\"", srv(), std::nullopt, ""},
      {"permessage-deflate; mystery, permessage-deflate; client_no_context_takeover", srv(),
       deflate_params{false, true, 15, 15}, "permessage-deflate; client_no_context_takeover"},
      {"x-foo", srv(), std::nullopt, ""},
      {"", srv(), std::nullopt, ""},
      {"permessage-deflate", deflate_options{}, std::nullopt, ""},
  };
  for (const auto& tc : cases) {
    std::string response = "stale";
    const auto p = negotiate_deflate(tc.offer, tc.server, response);
    EXPECT_EQ(p, tc.params) << tc.offer;
    EXPECT_EQ(response, tc.response) << tc.offer;
  }
}

TEST(deflate_negotiate, every_window_size_both_directions) {
  for (std::uint8_t bits = 8; bits <= 15; ++bits) {
    const std::string b = std::to_string(bits);
    std::string response;
    auto p = negotiate_deflate("permessage-deflate; server_max_window_bits=" + b, srv(), response);
    ASSERT_TRUE(p) << b;
    EXPECT_EQ(p->server_max_window_bits, bits);
    EXPECT_EQ(response, "permessage-deflate; server_max_window_bits=" + b);
    p = negotiate_deflate("permessage-deflate; client_max_window_bits=" + b, srv(), response);
    ASSERT_TRUE(p) << b;
    EXPECT_EQ(p->client_max_window_bits, bits);
    EXPECT_EQ(response, bits == 15 ? "permessage-deflate"
                                   : "permessage-deflate; client_max_window_bits=" + b);
    // And the server's own limits, against an offer that allows them.
    p = negotiate_deflate("permessage-deflate; client_max_window_bits",
                          srv(false, false, bits, bits), response);
    ASSERT_TRUE(p) << b;
    EXPECT_EQ(*p, (deflate_params{false, false, bits, bits}));
  }
}

// -------------------------------------------------------- client checking --

struct response_case {
  const char* response;
  deflate_options offered;
  std::optional<deflate_params> params;  ///< nullopt with ok=false: bad_extension
  bool ok;
};

deflate_options offer(bool snct = false, bool cnct = false, std::uint8_t sbits = 15,
                      std::uint8_t cbits = 15, bool offer_cbits = true) {
  auto o = srv(snct, cnct, sbits, cbits);
  o.offer_client_max_window_bits = offer_cbits;
  return o;
}

TEST(deflate_accept_response, table) {
  const response_case cases[] = {
      {"", offer(), std::nullopt, true},
      {"  ", offer(), std::nullopt, true},
      {"permessage-deflate", offer(), deflate_params{}, true},
      {"permessage-deflate", deflate_options{}, std::nullopt, false},  // never offered
      {"permessage-deflate; server_no_context_takeover", offer(),
       deflate_params{true, false, 15, 15}, true},
      {"permessage-deflate; client_no_context_takeover", offer(),
       deflate_params{false, true, 15, 15}, true},
      // Our own client_no_context_takeover holds even if not echoed.
      {"permessage-deflate", offer(false, true), deflate_params{false, true, 15, 15}, true},
      {"permessage-deflate; server_max_window_bits=12", offer(),
       deflate_params{false, false, 12, 15}, true},
      {"permessage-deflate; client_max_window_bits=12", offer(),
       deflate_params{false, false, 15, 12}, true},
      // We offered server_no_context_takeover: it must be accepted.
      {"permessage-deflate", offer(true), std::nullopt, false},
      // We offered server_max_window_bits=10: a larger or absent echo is refused.
      {"permessage-deflate; server_max_window_bits=10", offer(false, false, 10),
       deflate_params{false, false, 10, 15}, true},
      {"permessage-deflate; server_max_window_bits=9", offer(false, false, 10),
       deflate_params{false, false, 9, 15}, true},
      {"permessage-deflate; server_max_window_bits=11", offer(false, false, 10), std::nullopt,
       false},
      {"permessage-deflate", offer(false, false, 10), std::nullopt, false},
      // client_max_window_bits only when offered, and not above the offer.
      {"permessage-deflate; client_max_window_bits=10", offer(false, false, 15, 15, false),
       std::nullopt, false},
      {"permessage-deflate; client_max_window_bits=11", offer(false, false, 15, 10), std::nullopt,
       false},
      {"permessage-deflate; client_max_window_bits=9", offer(false, false, 15, 10),
       deflate_params{false, false, 15, 9}, true},
      {"permessage-deflate", offer(false, false, 15, 10), deflate_params{false, false, 15, 10},
       true},
      // A bare client_max_window_bits is an offer form, not a response.
      {"permessage-deflate; client_max_window_bits", offer(), std::nullopt, false},
      {"permessage-deflate; server_max_window_bits", offer(), std::nullopt, false},
      {"permessage-deflate; server_max_window_bits=7", offer(), std::nullopt, false},
      {"permessage-deflate; server_max_window_bits=16", offer(), std::nullopt, false},
      {"permessage-deflate; server_no_context_takeover=yes", offer(), std::nullopt, false},
      {"permessage-deflate; server_no_context_takeover; server_no_context_takeover", offer(),
       std::nullopt, false},
      {"permessage-deflate; x=1", offer(), std::nullopt, false},
      {"x-foo", offer(), std::nullopt, false},
      {"permessage-deflate, permessage-deflate", offer(), std::nullopt, false},
      {"permessage-deflate, x-foo", offer(), std::nullopt, false},
      {"permessage-deflate;;", offer(), std::nullopt, false},
      {"permessage-deflate; server_max_window_bits=\"10", offer(), std::nullopt, false},
  };
  for (const auto& tc : cases) {
    std::optional<deflate_params> out = deflate_params{true, true, 9, 9};
    const auto ec = accept_deflate_response(tc.response, tc.offered, out);
    if (tc.ok) {
      EXPECT_FALSE(ec) << tc.response << ": " << ec.message();
    } else {
      EXPECT_EQ(ec, error::bad_extension) << tc.response;
    }
    EXPECT_EQ(out, tc.params) << tc.response;
  }
}

TEST(deflate_accept_response, every_window_size) {
  for (std::uint8_t bits = 8; bits <= 15; ++bits) {
    const std::string b = std::to_string(bits);
    std::optional<deflate_params> out;
    EXPECT_FALSE(
        accept_deflate_response("permessage-deflate; server_max_window_bits=" + b, offer(), out));
    ASSERT_TRUE(out);
    EXPECT_EQ(out->server_max_window_bits, bits);
    EXPECT_FALSE(
        accept_deflate_response("permessage-deflate; client_max_window_bits=" + b, offer(), out));
    ASSERT_TRUE(out);
    EXPECT_EQ(out->client_max_window_bits, bits);
  }
}

TEST(deflate_negotiate, server_answer_is_accepted_by_the_offering_client) {
  // Every combination of the four client offer parameters, against servers
  // with and without their own demands: whatever the server answers, the
  // client accepts it and both sides agree on the parameters.
  const deflate_options servers[] = {srv(), srv(true, true), srv(false, false, 9, 12),
                                     srv(true, false, 12, 15)};
  int agreed = 0;
  for (int mask = 0; mask < 32; ++mask) {
    deflate_options o = enabled();
    o.server_no_context_takeover = mask & 1;
    o.client_no_context_takeover = mask & 2;
    o.server_max_window_bits = (mask & 4) ? 10 : 15;
    o.client_max_window_bits = (mask & 8) ? 11 : 15;
    o.offer_client_max_window_bits = mask & 16;
    for (const auto& s : servers) {
      std::string response;
      const auto server_side = negotiate_deflate(format_deflate_offer(o), s, response);
      std::optional<deflate_params> client_side;
      ASSERT_FALSE(accept_deflate_response(response, o, client_side)) << response;
      EXPECT_EQ(client_side, server_side) << format_deflate_offer(o) << " -> " << response;
      agreed += server_side.has_value();
    }
  }
  EXPECT_GT(agreed, 100);
}

// ------------------------------------------------------------------ codec --

std::string inflate_all(deflate_codec& d, std::string_view data, std::size_t max_out = 1 << 24) {
  std::string out;
  const auto ec = d.decompress(data, true, out, max_out);
  EXPECT_FALSE(ec) << ec.message();
  return out;
}

TEST(deflate_codec, rfc7692_examples_inflate) {
  // RFC 7692 §7.2.3.1: "Hello" in one compressed block.
  deflate_codec a(role::client, deflate_params{});
  EXPECT_EQ(inflate_all(a, "\xf2\x48\xcd\xc9\xc9\x07\x00"s), "Hello");
  // §7.2.3.2: the same message again, sharing the LZ77 window.
  EXPECT_EQ(inflate_all(a, "\xf2\x00\x11\x00\x00"s), "Hello");
  // §7.2.3.3: a block with no compression.
  deflate_codec b(role::client, deflate_params{});
  EXPECT_EQ(inflate_all(b, "\x00\x05\x00\xfa\xff\x48\x65\x6c\x6c\x6f\x00"s), "Hello");
  // §7.2.3.4: a block with BFINAL set; the next message starts a new stream.
  EXPECT_EQ(inflate_all(b, "\xf3\x48\xcd\xc9\xc9\x07\x00\x00"s), "Hello");
  EXPECT_EQ(inflate_all(b, "\xf2\x48\xcd\xc9\xc9\x07\x00"s), "Hello");
  // §7.2.3.5: two blocks in one message.
  deflate_codec c(role::server, deflate_params{});
  EXPECT_EQ(inflate_all(c, "\xf2\x48\x05\x00\x00\x00\xff\xff\xca\xc9\xc9\x07\x00"s), "Hello");
}

TEST(deflate_codec, compress_matches_rfc7692_bytes) {
  deflate_codec d(role::server, deflate_params{});
  std::string out;
  ASSERT_FALSE(d.compress("Hello", out));
  EXPECT_EQ(hex(out), "f2 48 cd c9 c9 07 00");
  // With context takeover the second "Hello" refers back to the first.
  out.clear();
  ASSERT_FALSE(d.compress("Hello", out));
  EXPECT_EQ(hex(out), "f2 00 11 00 00");
  // An empty message is the single byte 00 (RFC 7692 §7.2.3.6).
  out = "prefix";
  ASSERT_FALSE(d.compress("", out));
  EXPECT_EQ(out, "prefix\x00"s);
}

TEST(deflate_codec, no_context_takeover_restarts_every_message) {
  deflate_params p;
  p.server_no_context_takeover = true;
  deflate_codec d(role::server, p);
  for (int i = 0; i < 3; ++i) {
    std::string out;
    ASSERT_FALSE(d.compress("Hello", out));
    EXPECT_EQ(hex(out), "f2 48 cd c9 c9 07 00") << i;
  }
  // The client side of the same params keeps its context.
  deflate_codec c(role::client, p);
  std::string first, second;
  ASSERT_FALSE(c.compress("Hello", first));
  ASSERT_FALSE(c.compress("Hello", second));
  EXPECT_EQ(hex(second), "f2 00 11 00 00");
}

std::string sample_message(std::mt19937& rng, std::size_t size) {
  // Compressible text with repeats near and far, so windows matter.
  static const char* words[] = {"close ", "right ",      "reconnect ",    "frame ", "1000 ",
                                "1001 ",  "going away ", "\xe2\x82\xac ", "ping ",  "pong "};
  std::string s;
  std::uniform_int_distribution<int> pick(0, 9), byte(0, 255);
  while (s.size() < size) {
    if (pick(rng) == 0)
      s += static_cast<char>(byte(rng));
    else
      s += words[pick(rng)];
  }
  s.resize(size);
  return s;
}

void round_trip(const deflate_params& p, role sender, int messages, std::uint32_t seed) {
  deflate_codec tx(sender, p);
  deflate_codec rx(sender == role::client ? role::server : role::client, p);
  std::mt19937 rng(seed);
  std::uniform_int_distribution<std::size_t> size(0, 3000), cut(1, 64);
  for (int i = 0; i < messages; ++i) {
    const std::string msg = sample_message(rng, i % 7 == 0 ? 70000 : size(rng));
    std::string wire;
    ASSERT_FALSE(tx.compress(msg, wire));
    // Inflate in fragments, as frames of one message would arrive.
    std::string out;
    std::size_t at = 0;
    while (true) {
      const std::size_t n = std::min(cut(rng), wire.size() - at);
      const bool fin = at + n == wire.size();
      ASSERT_FALSE(rx.decompress(std::string_view(wire).substr(at, n), fin, out, 1 << 20));
      at += n;
      if (fin) break;
    }
    ASSERT_EQ(out, msg) << "message " << i;
  }
}

TEST(deflate_codec, round_trips_every_parameter_combination) {
  for (int mask = 0; mask < 4; ++mask) {
    for (std::uint8_t bits = 8; bits <= 15; ++bits) {
      deflate_params p;
      p.server_no_context_takeover = mask & 1;
      p.client_no_context_takeover = mask & 2;
      p.server_max_window_bits = bits;
      p.client_max_window_bits = static_cast<std::uint8_t>(23 - bits);  // the other end of 8..15
      SCOPED_TRACE(testing::Message() << "mask " << mask << " bits " << int(bits));
      round_trip(p, role::client, 12, 100 + bits);
      round_trip(p, role::server, 12, 200 + bits);
    }
  }
}

TEST(deflate_codec, window_8_is_respected_by_the_9_bit_compressor) {
  // zlib cannot compress raw deflate with an 8-bit window; we use 9, whose
  // matches still reach back at most 250 bytes, so an 8-bit inflater copes.
  deflate_params p;
  p.server_max_window_bits = 8;
  deflate_codec tx(role::server, p);
  deflate_codec rx(role::client, p);
  std::mt19937 rng(8);
  std::uniform_int_distribution<int> byte(0, 255);
  std::string block(300, '\0');
  for (auto& c : block) c = static_cast<char>(byte(rng));
  for (std::size_t len : {std::size_t{255}, std::size_t{257}, std::size_t{300}, std::size_t{511}}) {
    const std::string msg = block.substr(0, len) + block.substr(0, len) + block.substr(0, len);
    std::string wire;
    ASSERT_FALSE(tx.compress(msg, wire));
    EXPECT_EQ(inflate_all(rx, wire), msg) << len;
  }
}

TEST(deflate_codec, many_messages_with_context_takeover_shrink) {
  deflate_codec tx(role::client, deflate_params{});
  deflate_codec rx(role::server, deflate_params{});
  const std::string msg = "{\"type\":\"tick\",\"symbol\":\"CLOSEWISE\",\"price\":1000.01}";
  std::size_t first = 0;
  for (int i = 0; i < 500; ++i) {
    std::string wire;
    ASSERT_FALSE(tx.compress(msg, wire));
    if (i == 0)
      first = wire.size();
    else
      EXPECT_LT(wire.size(), first / 2) << i;
    ASSERT_EQ(inflate_all(rx, wire), msg) << i;
  }
}

TEST(deflate_codec, bomb_stops_at_max_out) {
  // 100 MB of zeros compress to about 100 KB; inflating must stop at the bound.
  const std::string zeros(100u * 1000 * 1000, '\0');
  deflate_codec tx(role::server, deflate_params{});
  std::string wire;
  ASSERT_FALSE(tx.compress(zeros, wire));
  EXPECT_LT(wire.size(), 200u * 1000);
  deflate_codec rx(role::client, deflate_params{});
  std::string out;
  const std::size_t max_out = 1 << 20;
  EXPECT_EQ(rx.decompress(wire, true, out, max_out), error::message_too_big);
  EXPECT_LE(out.size(), max_out + 1);
  EXPECT_LE(out.capacity(), 4 * max_out);
  // The inflater stays failed; the compressor still works.
  std::string more;
  EXPECT_EQ(rx.decompress("\x00"s, true, more, max_out), error::bad_compression);
  EXPECT_FALSE(rx.compress("Hello", more));
  EXPECT_EQ(hex(more), "f2 48 cd c9 c9 07 00");
}

TEST(deflate_codec, bound_is_exact) {
  deflate_codec tx(role::client, deflate_params{});
  const std::string msg(5000, 'x');
  std::string wire;
  ASSERT_FALSE(tx.compress(msg, wire));
  {
    deflate_codec rx(role::server, deflate_params{});
    std::string out;
    EXPECT_FALSE(rx.decompress(wire, true, out, 5000));
    EXPECT_EQ(out, msg);
  }
  {
    deflate_codec rx(role::server, deflate_params{});
    std::string out;
    EXPECT_EQ(rx.decompress(wire, true, out, 4999), error::message_too_big);
  }
  {
    // Data already in `out` counts against the bound.
    deflate_codec rx(role::server, deflate_params{});
    std::string out(10, 'a');
    EXPECT_EQ(rx.decompress(wire, true, out, 5005), error::message_too_big);
  }
}

TEST(deflate_codec, corrupt_data_is_bad_compression) {
  const std::string bad[] = {"\xff\xff\xff\xff"s, "\x06"s /* reserved block type 3 */,
                             "\x00\x05\x00\x00\x00hello"s /* stored length check fails */};
  for (const auto& b : bad) {
    deflate_codec rx(role::server, deflate_params{});
    std::string out;
    EXPECT_EQ(rx.decompress(b, true, out, 1 << 20), error::bad_compression) << hex(b);
    EXPECT_EQ(rx.decompress("\xf2\x48\xcd\xc9\xc9\x07\x00"s, true, out, 1 << 20),
              error::bad_compression);
  }
}

}  // namespace
}  // namespace closewise::proto

// The connection's zero-copy paths for large payloads: receive_window /
// commit_window (payload read straight into the message) and send_external
// (the caller transmits the payload). Each must be byte-for-byte what the
// ordinary receive() / send() would have done.
#include "closewise/proto/connection.hpp"

#include <gtest/gtest.h>

#include <cstring>
#include <string>
#include <thread>

#include "closewise/error.hpp"
#include "closewise/proto/buffer_pool.hpp"
#include "proto/peer.hpp"

namespace cw = closewise;
namespace proto = closewise::proto;
using cw::close_code;
using cw::test::frame;
using cw::test::peer;
using cw::test::to_hex;
using proto::message_kind;
using proto::opcode;
using proto::role;
using proto::state;

namespace {

std::string pattern(std::size_t n) {
  std::string s(n, '\0');
  for (std::size_t i = 0; i < n; ++i) s[i] = static_cast<char>('a' + i % 26);
  return s;
}

/// Feeds `wire` like the I/O layer does: `head` bytes through receive(), then
/// whatever the window takes straight into it (at most `chunk` per read), and
/// the rest through receive() again. Returns how many bytes went direct.
std::size_t feed_windowed(peer& p, const std::string& wire, std::size_t head, std::size_t chunk,
                          std::size_t min_size = 1) {
  std::size_t at = std::min(head, wire.size());
  p.conn.receive(wire.data(), at);
  std::size_t direct = 0;
  while (at < wire.size() && p.conn.can_receive()) {
    auto [dst, room] = p.conn.receive_window(min_size);
    if (room == 0) {
      const std::size_t k = std::min(chunk, wire.size() - at);
      p.conn.receive(wire.data() + at, k);
      at += k;
      continue;
    }
    const std::size_t k = std::min({room, chunk, wire.size() - at});
    std::memcpy(dst, wire.data() + at, k);
    p.conn.commit_window(k);
    at += k;
    direct += k;
  }
  return direct;
}

}  // namespace

TEST(zero_copy, window_receives_a_masked_binary_payload_intact) {
  peer s(role::server);
  const std::string payload = pattern(70000);
  const std::string wire = frame(opcode::binary, payload, true);
  // 64 bytes first, as the network layer's inline read does: header + 50 bytes of payload.
  const std::size_t direct = feed_windowed(s, wire, 64, 65536);
  EXPECT_EQ(direct, wire.size() - 64);
  ASSERT_EQ(s.rec.messages.size(), 1u);
  EXPECT_EQ(s.rec.messages[0].first, message_kind::binary);
  EXPECT_EQ(s.rec.messages[0].second, payload);
  EXPECT_EQ(s.conn.get_state(), state::open);
  // The frame is done: no window until the next frame's header arrived.
  EXPECT_EQ(s.conn.receive_window(1).second, 0u);
}

TEST(zero_copy, window_is_bounded_by_what_the_frame_still_owes) {
  peer s(role::server);
  const std::string wire = frame(opcode::binary, pattern(10000), true);
  s.conn.receive(wire.data(), 100);  // header (8 bytes) + 92 payload bytes
  auto [dst, room] = s.conn.receive_window(1);
  ASSERT_NE(dst, nullptr);
  EXPECT_EQ(room, 10000u - 92u);
  EXPECT_EQ(s.conn.receive_window(10000u - 92u + 1).second, 0u) << "below min_size";
}

TEST(zero_copy, window_masks_across_odd_chunk_boundaries) {
  // Chunks of 7 bytes keep the masking key offset moving through all four phases.
  peer s(role::server);
  const std::string payload = pattern(5000);
  feed_windowed(s, frame(opcode::binary, payload, true), 11, 7);
  ASSERT_EQ(s.rec.messages.size(), 1u);
  EXPECT_EQ(s.rec.messages[0].second, payload);
}

TEST(zero_copy, window_then_next_frame_in_the_same_stream) {
  peer s(role::server);
  const std::string big = pattern(30000);
  const std::string wire = frame(opcode::binary, big, true) + frame(opcode::text, "after", true);
  feed_windowed(s, wire, 64, 4096);
  ASSERT_EQ(s.rec.messages.size(), 2u);
  EXPECT_EQ(s.rec.messages[0].second, big);
  EXPECT_EQ(s.rec.messages[1], std::make_pair(message_kind::text, std::string("after")));
}

TEST(zero_copy, window_assembles_fragments) {
  peer s(role::server);
  const std::string a = pattern(20000), b = pattern(9000);
  const std::string wire = frame(opcode::text, a, true, /*fin=*/false) +
                           frame(opcode::continuation, b, true, /*fin=*/true);
  feed_windowed(s, wire, 64, 3000);
  ASSERT_EQ(s.rec.messages.size(), 1u);
  EXPECT_EQ(s.rec.messages[0].first, message_kind::text);
  EXPECT_EQ(s.rec.messages[0].second, a + b);
}

TEST(zero_copy, window_text_that_is_not_utf8_fails_with_1007_mid_frame) {
  peer s(role::server);
  std::string payload = pattern(20000);
  payload[12345] = static_cast<char>(0xFF);  // never valid in UTF-8
  feed_windowed(s, frame(opcode::text, payload, true), 64, 4096);
  EXPECT_EQ(s.conn.get_state(), state::closed);
  ASSERT_EQ(s.rec.closed.size(), 1u);
  EXPECT_EQ(s.rec.closed[0].code, close_code::invalid_payload);
  EXPECT_EQ(s.rec.closed[0].error, cw::error::invalid_utf8);
  EXPECT_TRUE(s.rec.messages.empty());
  EXPECT_EQ(s.conn.receive_window(1).second, 0u);
}

TEST(zero_copy, no_window_for_control_frames_or_between_frames) {
  peer s(role::server);
  EXPECT_EQ(s.conn.receive_window(1).second, 0u) << "no frame started";
  const std::string ping = frame(opcode::ping, pattern(100), true);
  s.conn.receive(ping.data(), 10);  // a control frame split after its header
  EXPECT_EQ(s.conn.receive_window(1).second, 0u) << "control payloads are never windowed";
  s.conn.receive(ping.data() + 10, ping.size() - 10);
  ASSERT_EQ(s.rec.pings.size(), 1u);
  EXPECT_EQ(s.rec.pings[0], pattern(100));
}

TEST(zero_copy, no_window_for_a_compressed_message) {
  proto::config c = cw::test::fixed_key_config();
  c.deflate = proto::deflate_params{};
  peer s(role::server, c);
  // RSV1 set: a compressed first frame (the content is irrelevant for the window).
  const std::string wire = frame(opcode::binary, pattern(9000), true, true, 0xC2);
  s.conn.receive(wire.data(), 64);
  EXPECT_EQ(s.conn.receive_window(1).second, 0u);
}

TEST(zero_copy, send_external_header_is_what_send_would_write) {
  for (std::size_t n : {0u, 125u, 126u, 65535u, 65536u, 70000u}) {
    peer a(role::server), b(role::server);
    const std::string payload = pattern(n);
    ASSERT_FALSE(a.conn.send_binary(payload));
    std::uint8_t hdr[proto::max_header_size];
    std::size_t hlen = 0;
    ASSERT_FALSE(b.conn.send_external(message_kind::binary, payload, hdr, hlen));
    EXPECT_EQ(b.conn.output_size(), 0u) << "the payload is the caller's to send";
    const std::string external = std::string(reinterpret_cast<const char*>(hdr), hlen) + payload;
    EXPECT_EQ(to_hex(external.substr(0, 16)), to_hex(a.take().substr(0, 16))) << n;
  }
}

TEST(zero_copy, send_external_checks_what_send_checks) {
  std::uint8_t hdr[proto::max_header_size];
  std::size_t hlen = 0;
  {
    peer s(role::server);
    EXPECT_EQ(s.conn.send_external(message_kind::text, "\xC3\x28", hdr, hlen),
              cw::error::invalid_utf8);
    ASSERT_FALSE(s.conn.close(close_code::normal));
    EXPECT_EQ(s.conn.send_external(message_kind::binary, "x", hdr, hlen),
              cw::error::already_closing);
  }
  {
    peer s(role::server, {}, /*open=*/false);
    EXPECT_EQ(s.conn.send_external(message_kind::binary, "x", hdr, hlen), cw::error::not_open);
  }
  {
    peer c(role::client);  // a client must mask: the payload cannot be sent as it is
    EXPECT_EQ(c.conn.send_external(message_kind::binary, "x", hdr, hlen),
              cw::error::invalid_argument);
  }
  {
    proto::config cfg;
    cfg.deflate = proto::deflate_params{};
    peer s(role::server, cfg);
    EXPECT_EQ(s.conn.send_external(message_kind::binary, "x", hdr, hlen),
              cw::error::invalid_argument);
  }
}

// ---- take_delivered: the replay buffer takes the message's own buffer --------

TEST(zero_copy, take_delivered_hands_over_the_buffer_at_the_same_address) {
  peer s(role::server);
  const std::string a = pattern(30000), b = pattern(20000);
  std::string spare(25000, 'z');  // a spare that held a payload before
  const char* spare_bytes = spare.data();
  std::string taken;
  const char* seen = nullptr;
  s.rec.on_message_hook = [&](std::string_view p) {
    if (seen != nullptr) return;
    seen = p.data();
    std::string buf = spare;  // stands in for the replay buffer's spare
    spare_bytes = buf.data();
    ASSERT_TRUE(s.conn.take_delivered(p, buf));
    taken = std::move(buf);
    EXPECT_EQ(taken.data(), p.data()) << "the bytes did not move: the view stays valid";
    EXPECT_EQ(std::string_view(taken), a);
    std::string again;
    EXPECT_FALSE(s.conn.take_delivered(p, again)) << "once per message";
    EXPECT_TRUE(again.empty());
  };
  const std::string wire = frame(opcode::binary, a, true) + frame(opcode::binary, b, true);
  feed_windowed(s, wire, 64, 4096);
  ASSERT_EQ(s.rec.messages.size(), 2u);
  EXPECT_EQ(s.rec.messages[0].second, a);
  EXPECT_EQ(s.rec.messages[1].second, b) << "the next message went into the spare, intact";
  EXPECT_EQ(taken, a) << "the taken buffer was not written to by the next message";
  EXPECT_EQ(taken.data(), seen);
  (void)spare_bytes;
}

TEST(zero_copy, take_delivered_refuses_anything_but_the_message_being_delivered) {
  peer s(role::server);
  const std::string big = pattern(30000);
  std::string buf = "spare";
  // Outside delivery: no message.
  EXPECT_FALSE(s.conn.take_delivered(big, buf));
  int calls = 0;
  s.rec.on_message_hook = [&](std::string_view p) {
    ++calls;
    // A prefix, another buffer with equal bytes, and an empty view are not the message.
    EXPECT_FALSE(s.conn.take_delivered(p.substr(0, p.size() - 1), buf));
    EXPECT_FALSE(s.conn.take_delivered(big, buf));
    EXPECT_FALSE(s.conn.take_delivered({}, buf));
    EXPECT_EQ(buf, "spare") << "a refusal changes nothing";
  };
  // A small frame read whole is delivered in place from the caller's bytes: never taken.
  const std::string small = frame(opcode::text, "in place", true);
  s.conn.receive(small.data(), small.size());
  std::string mine;
  s.rec.on_message_hook = [&](std::string_view p) {
    ++calls;
    EXPECT_FALSE(s.conn.take_delivered(p, mine)) << "delivered in place";
  };
  s.conn.receive(small.data(), small.size());
  s.rec.on_message_hook = [&](std::string_view p) {
    ++calls;
    EXPECT_FALSE(s.conn.take_delivered(p.substr(1), buf));
  };
  feed_windowed(s, frame(opcode::binary, big, true), 64, 4096);
  EXPECT_EQ(calls, 3);
  // A short fragmented message on a new connection is assembled in its
  // buffer, but a string that small holds its bytes inside itself: a swap
  // would move them, so it is refused.
  // (On a new thread: its buffer_pool is empty, so nothing larger is reused.)
  std::thread([&] {
    peer fresh(role::server);
    fresh.rec.on_message_hook = [&](std::string_view p) {
      ++calls;
      EXPECT_EQ(p, "abcd");
      EXPECT_FALSE(fresh.conn.take_delivered(p, buf)) << "a few bytes, inside the string";
      EXPECT_EQ(p, "abcd");
    };
    const std::string frags =
        frame(opcode::text, "ab", true, false) + frame(opcode::continuation, "cd", true, true);
    fresh.conn.receive(frags.data(), frags.size());
  }).join();
  EXPECT_EQ(calls, 4);
  // After the delivery returned, the same view is refused.
  EXPECT_FALSE(s.conn.take_delivered(s.rec.messages.back().second, buf));
}

// A message that starts with a few bytes (the rest of the 64-byte header read)
// takes the thread's newest pooled string and must keep its whole size: cut
// to those few bytes, it was zero-filled again, or swapped for another pooled
// string, when the payload arrived (a 64 KiB memset per message at one in
// flight per connection, bench/RESULTS.md).
TEST(zero_copy, a_pooled_buffer_keeps_its_stale_size_for_the_rest_of_the_payload) {
  std::thread([] {
    const std::string a = pattern(30000);
    std::string older(30000, 'o'), newest(30000, 'n');
    const char* newest_bytes = newest.data();
    proto::buffer_pool::give(std::move(older));
    proto::buffer_pool::give(std::move(newest));
    ASSERT_EQ(proto::buffer_pool::size(), 2u);
    peer s(role::server);
    const char* seen = nullptr;
    s.rec.on_message_hook = [&](std::string_view p) { seen = p.data(); };
    EXPECT_EQ(feed_windowed(s, frame(opcode::binary, a, true), 64, 65536), 30000u - 56u);
    ASSERT_EQ(s.rec.messages.size(), 1u);
    EXPECT_EQ(s.rec.messages[0].second, a);
    EXPECT_EQ(seen, newest_bytes) << "assembled in the first string it took, with no second take";
    EXPECT_EQ(proto::buffer_pool::size(), 1u) << "the older string is still pooled";
  }).join();
}

TEST(zero_copy, frame_payload_size_is_the_arriving_frames_length_and_0_between_frames) {
  peer s(role::server);
  EXPECT_EQ(s.conn.frame_payload_size(), 0u);
  const std::string a = pattern(70000);
  const std::string wire = frame(opcode::binary, a, true) + frame(opcode::text, "ab", true);
  s.conn.receive(wire.data(), 64);
  EXPECT_EQ(s.conn.frame_payload_size(), 70000u) << "the payload is arriving";
  auto [dst, room] = s.conn.receive_window(1);
  ASSERT_EQ(room, 70000u - (64u - 14u));
  std::memcpy(dst, wire.data() + 64, room);
  s.conn.commit_window(room);
  EXPECT_EQ(s.conn.frame_payload_size(), 0u) << "the frame ended: between frames";
  s.conn.receive(wire.data() + 64 + room, 3);  // a split header of the next frame
  EXPECT_EQ(s.conn.frame_payload_size(), 0u) << "no payload is arriving yet";
  s.conn.receive(wire.data() + 67 + room, wire.size() - 67 - room);
  ASSERT_EQ(s.rec.messages.size(), 2u);
  EXPECT_EQ(s.rec.messages[0].second, a);
  EXPECT_EQ(s.rec.messages[1].second, "ab");
}

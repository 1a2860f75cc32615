// Resumable sessions end to end with two in-memory peers (docs/resume.md):
// the negotiation and the ack frames byte for byte, then connections that die
// with bytes in flight, acks lost, replays cut short and repeated, buffers
// overflowing, sessions expiring, and every refusal reason.
#include "closewise/resume/session.hpp"

#include <gtest/gtest.h>

#include <string>
#include <vector>

#include "resume/harness.hpp"

namespace closewise::resume::test {
namespace {

using closewise::test::to_hex;

/// "m001", "m002", ...: fixed width, so a masked client frame is 10 bytes and
/// a server frame 6, and a prefix of the stream is a whole number of frames.
std::string num(int i) {
  std::string s = std::to_string(i);
  return "m" + std::string(3 - s.size(), '0') + s;
}
std::vector<std::string> nums(int from, int to) {
  std::vector<std::string> v;
  for (int i = from; i <= to; ++i) v.push_back(num(i));
  return v;
}
constexpr std::size_t client_frame = 10;  // 2 header + 4 mask + 4 payload
constexpr std::size_t server_frame = 6;   // 2 header + 4 payload

std::string header_line(const std::string& http, std::string_view name) {
  const auto at = http.find(std::string("\r\n") + std::string(name) + ": ");
  if (at == std::string::npos) return {};
  const auto end = http.find("\r\n", at + 2);
  return http.substr(at + 2, end - at - 2);
}

}  // namespace

// ---- negotiation ----------------------------------------------------------------

TEST(resume_negotiation, fresh_offer_and_answer_bytes) {
  world w;
  ASSERT_TRUE(w.connect());
  EXPECT_EQ(header_line(w.last_request, "Sec-WebSocket-Extensions"),
            "Sec-WebSocket-Extensions: closewise-resume");
  ASSERT_TRUE(w.server->held);
  const std::string id = w.server->held->id().to_string();
  EXPECT_EQ(header_line(w.last_response, "Sec-WebSocket-Extensions"),
            "Sec-WebSocket-Extensions: closewise-resume; session=" + id + "; status=new");
  EXPECT_EQ(w.client->outcome->kind, client_outcome_kind::fresh);
  EXPECT_EQ(w.client->cs.current().id(), w.server->held->id());
  EXPECT_TRUE(w.client->undelivered.empty());
}

TEST(resume_negotiation, resume_offer_and_answer_bytes) {
  world w;
  ASSERT_TRUE(w.connect());
  for (const auto& m : nums(1, 3)) ASSERT_FALSE(w.client->send(m));
  for (const auto& m : nums(1, 2)) ASSERT_FALSE(w.server->send(m));
  w.pump();
  const std::string id = w.server->held->id().to_string();
  w.drop();
  ASSERT_TRUE(w.connect());
  EXPECT_EQ(header_line(w.last_request, "Sec-WebSocket-Extensions"),
            "Sec-WebSocket-Extensions: closewise-resume; session=" + id +
                "; received=2; sent=3; replay_from=1; attempt=1");
  EXPECT_EQ(header_line(w.last_response, "Sec-WebSocket-Extensions"),
            "Sec-WebSocket-Extensions: closewise-resume; session=" + id +
                "; status=resumed; received=3; sent=2");
  ASSERT_EQ(w.client->outcome->kind, client_outcome_kind::resumed);
  EXPECT_EQ(w.client->outcome->replay_out, 0u);
  EXPECT_EQ(w.client->outcome->replay_in, 0u);
  // The handshake announced both positions: they count as acks.
  EXPECT_EQ(w.client->cs.current().out().acked(), 3u);
  EXPECT_EQ(w.server->held->out().acked(), 2u);
  EXPECT_EQ(w.client->cs.current().out().size(), 0u);
}

TEST(resume_negotiation, coexists_with_deflate_and_the_application_subprotocol) {
  world w;
  ASSERT_TRUE(w.connect({"chat.v2", "chat.v1"}, "chat.v1", true));
  EXPECT_EQ(header_line(w.last_request, "Sec-WebSocket-Protocol"),
            "Sec-WebSocket-Protocol: chat.v2, chat.v1");
  EXPECT_EQ(
      header_line(w.last_request, "Sec-WebSocket-Extensions"),
      "Sec-WebSocket-Extensions: permessage-deflate; client_max_window_bits, closewise-resume");
  EXPECT_EQ(header_line(w.last_response, "Sec-WebSocket-Protocol"),
            "Sec-WebSocket-Protocol: chat.v1");
  EXPECT_EQ(header_line(w.last_response, "Sec-WebSocket-Extensions"),
            "Sec-WebSocket-Extensions: permessage-deflate, closewise-resume; session=" +
                w.server->held->id().to_string() + "; status=new");
  // Compressed messages are counted like any other (after inflation).
  const std::string big(200, 'z');
  ASSERT_FALSE(w.client->send(big));
  ASSERT_FALSE(w.server->send(big));
  w.pump();
  ASSERT_EQ(w.server->delivered.size(), 1u);
  EXPECT_EQ(w.server->delivered[0], std::make_pair(seq{1}, big));
  EXPECT_EQ(w.client->delivered.at(0), std::make_pair(seq{1}, big));
  // A replay after a drop is compressed again by the new connection.
  ASSERT_FALSE(w.client->send("after"));
  w.drop();
  ASSERT_TRUE(w.connect({"chat.v1"}, "chat.v1", true));
  w.pump();
  EXPECT_EQ(w.server->texts(), (std::vector<std::string>{big, "after"}));
}

TEST(resume_negotiation, a_server_without_resume_is_plain_websocket_and_the_client_is_told) {
  world w;
  ASSERT_TRUE(w.connect());
  for (const auto& m : nums(1, 3)) ASSERT_FALSE(w.client->send(m));
  w.drop();  // m001..m003 were never acked
  w.server->resume_enabled = false;
  ASSERT_TRUE(w.connect());
  EXPECT_EQ(header_line(w.last_response, "Sec-WebSocket-Extensions"), "");
  EXPECT_EQ(w.client->outcome->kind, client_outcome_kind::not_negotiated);
  EXPECT_TRUE(w.client->outcome->gap);
  ASSERT_EQ(w.client->undelivered.size(), 1u);
  EXPECT_EQ(w.client->undelivered[0].first, error::resume_not_supported);
  EXPECT_EQ(w.client->handed_back_texts(), nums(1, 3));
  EXPECT_FALSE(w.client->cs.has_session());
  // The connection works as plain RFC 6455: no 0xB frame ever, seq 0 (untracked).
  ASSERT_FALSE(w.client->send("plain"));
  const std::string bytes = w.client->take();
  EXPECT_EQ(to_hex(bytes), "81 85 37 fa 21 3d 47 96 40 54 59");
  w.server->conn->receive(bytes);
  EXPECT_EQ(w.server->delivered.back(), std::make_pair(seq{0}, std::string("plain")));
  EXPECT_EQ(w.server->take(), "");
}

TEST(resume_negotiation, a_malformed_answer_fails_the_connection_and_hands_back) {
  client_session cs;
  auto first = cs.on_answer({"closewise-resume; session=" + std::string(32, 'a') + "; status=new"});
  ASSERT_EQ(first.kind, client_outcome_kind::fresh);
  ASSERT_FALSE(cs.current().out().push(message_kind::text, "x", {}));
  cs.current().out().mark_written();
  ASSERT_TRUE(cs.on_close(close_fate::keep).empty());
  auto o = cs.on_answer({"closewise-resume; session=zz; status=resumed"});
  EXPECT_EQ(o.kind, client_outcome_kind::failed);
  EXPECT_EQ(o.failure, error::bad_extension);
  EXPECT_EQ(o.handback_error, error::resume_invalid);
  ASSERT_EQ(o.handed_back.size(), 1u);
  EXPECT_EQ(o.handed_back[0].payload, "x");
  EXPECT_FALSE(cs.has_session());
}

TEST(resume_negotiation, a_resumed_answer_that_contradicts_the_client_fails) {
  for (auto answer_tail : {"received=5; sent=0",  // the server received more than we sent
                           "received=1; sent=0",  // fine for c->s, but we received 1 s->c message
                           "received=0; sent=1"}) {  // received 0 < our acked-through (1)
    client_session cs;
    const std::string id(32, 'b');
    ASSERT_EQ(cs.on_answer({"closewise-resume; session=" + id + "; status=new"}).kind,
              client_outcome_kind::fresh);
    session& s = cs.current();
    ASSERT_FALSE(s.out().push(message_kind::text, "x", {}));
    s.out().mark_written();
    seq n;
    ASSERT_FALSE(s.in().on_message(1, {}, n));
    if (std::string_view(answer_tail) == "received=0; sent=1") {
      ASSERT_FALSE(s.out().on_ack(1));
    }
    cs.on_close(close_fate::keep);
    auto o = cs.on_answer({"closewise-resume; session=" + id + "; status=resumed; " + answer_tail});
    EXPECT_EQ(o.kind, client_outcome_kind::failed) << answer_tail;
    EXPECT_EQ(o.failure, error::bad_extension) << answer_tail;
    EXPECT_FALSE(cs.has_session()) << answer_tail;
  }
}

TEST(resume_negotiation, an_answer_that_does_not_fit_the_offer_fails) {
  const std::string id(32, 'c');
  {  // resumed, but nothing was offered
    client_session cs;
    auto o =
        cs.on_answer({"closewise-resume; session=" + id + "; status=resumed; received=0; sent=0"});
    EXPECT_EQ(o.kind, client_outcome_kind::failed);
  }
  {  // "new" although a session was offered
    client_session cs;
    cs.on_answer({"closewise-resume; session=" + id + "; status=new"});
    cs.on_close(close_fate::keep);
    EXPECT_EQ(cs.on_answer({"closewise-resume; session=" + id + "; status=new"}).kind,
              client_outcome_kind::failed);
  }
  {  // resumed under another id
    client_session cs;
    cs.on_answer({"closewise-resume; session=" + id + "; status=new"});
    cs.on_close(close_fate::keep);
    EXPECT_EQ(cs.on_answer({"closewise-resume; session=" + std::string(32, 'd') +
                            "; status=resumed; received=0; sent=0"})
                  .kind,
              client_outcome_kind::failed);
  }
}

// ---- the ack frame and its coalescing ----------------------------------------------

TEST(resume_acks, data_frames_are_unchanged_and_acks_coalesce_by_time) {
  world w;
  ASSERT_TRUE(w.connect());
  ASSERT_FALSE(w.client->send("a"));
  const std::string c2s = w.client->take();
  // A plain masked text frame: 'a' ^ 0x37 = 0x56. Not one byte of numbering.
  EXPECT_EQ(to_hex(c2s), "81 81 37 fa 21 3d 56");
  w.server->conn->receive(c2s);
  EXPECT_EQ(w.server->delivered.at(0), std::make_pair(seq{1}, std::string("a")));
  EXPECT_EQ(w.server->take(), "") << "one message does not pay an ack";
  EXPECT_EQ(w.server->s->in().ack_deadline(), w.clock.now + 50ms);
  w.clock.advance(49ms);
  w.server->tick();
  EXPECT_EQ(w.server->take(), "");
  w.clock.advance(1ms);
  w.server->tick();
  // FIN + opcode 0xB, unmasked, 8 bytes: 1, big-endian.
  EXPECT_EQ(to_hex(w.server->take()), "8b 08 00 00 00 00 00 00 00 01");
  EXPECT_EQ(w.server->s->in().ack_deadline(), std::nullopt);
}

TEST(resume_acks, coalesce_by_count_both_ways_byte_for_byte) {
  world w;
  ASSERT_TRUE(w.connect());
  for (int i = 1; i <= 63; ++i) ASSERT_FALSE(w.client->send(num(i)));
  w.server->conn->receive(w.client->take());
  EXPECT_EQ(w.server->take(), "") << "63 messages: no ack yet";
  ASSERT_FALSE(w.client->send(num(64)));
  w.server->conn->receive(w.client->take());
  EXPECT_EQ(to_hex(w.server->take()), "8b 08 00 00 00 00 00 00 00 40");

  for (int i = 1; i <= 64; ++i) ASSERT_FALSE(w.server->send(num(i)));
  w.client->conn->receive(w.server->take());
  // Masked with 37 fa 21 3d: 00 .. 00 40 -> 37 fa 21 3d 37 fa 21 7d.
  const std::string ack = w.client->take();
  EXPECT_EQ(to_hex(ack), "8b 88 37 fa 21 3d 37 fa 21 3d 37 fa 21 7d");
  w.server->conn->receive(ack);
  EXPECT_EQ(w.server->acks_received, (std::vector<seq>{64}));
  EXPECT_EQ(w.server->s->out().size(), 0u) << "the ack emptied the replay buffer";
}

TEST(resume_acks, coalesce_by_bytes) {
  world w;
  ASSERT_TRUE(w.connect());
  ASSERT_FALSE(w.client->send(std::string(40'000, 'x')));
  w.server->conn->receive(w.client->take());
  EXPECT_EQ(w.server->take(), "");
  ASSERT_FALSE(w.client->send(std::string(25'536, 'y')));  // 65,536 bytes unacked
  w.server->conn->receive(w.client->take());
  EXPECT_EQ(to_hex(w.server->take()), "8b 08 00 00 00 00 00 00 00 02");
}

TEST(resume_acks, a_pending_ack_goes_out_before_the_close_echo) {
  world w;
  ASSERT_TRUE(w.connect());
  ASSERT_FALSE(w.server->send("bye"));
  w.client->conn->receive(w.server->take());
  ASSERT_FALSE(w.server->conn->close_endpoint(close_code::service_restart));
  w.server->sent_close = close_code::service_restart;
  w.client->conn->receive(w.server->take());
  // The ack (1), then the echo of 1012: 03 f4 ^ 37 fa = 34 0e.
  EXPECT_EQ(to_hex(w.client->take()),
            "8b 88 37 fa 21 3d 37 fa 21 3d 37 fa 21 3c 88 82 37 fa 21 3d 34 0e");
}

TEST(resume_acks, bad_acks_fail_the_connection_with_1002) {
  struct bad {
    std::string payload;
    std::error_code why;
  };
  const std::vector<bad> cases = {
      {std::string(7, '\0'), error::bad_resume_ack},                                // 7 bytes
      {std::string(9, '\0'), error::bad_resume_ack},                                // 9 bytes
      {std::string("\x00\x20\x00\x00\x00\x00\x00\x00", 8), error::bad_resume_ack},  // > max_seq
      {std::string("\x00\x00\x00\x00\x00\x00\x00\x02", 8),
       error::bad_resume_ack},  // 2 > written (1)
  };
  for (const auto& c : cases) {
    world w;
    ASSERT_TRUE(w.connect());
    ASSERT_FALSE(w.server->send("one"));
    (void)w.server->take();
    w.server->conn->receive(
        closewise::test::frame(static_cast<proto::opcode>(0xB), c.payload, true));
    ASSERT_EQ(w.server->protocol_errors.size(), 1u);
    EXPECT_EQ(w.server->protocol_errors[0], c.why);
    EXPECT_EQ(w.server->conn->get_state(), proto::state::closing_local);
    // 1002 "bad resume ack" on the wire.
    EXPECT_EQ(w.server->take().substr(0, 4), closewise::test::hex("88 10 03 ea"));
  }
  {  // backwards: 1 then 0
    world w;
    ASSERT_TRUE(w.connect());
    ASSERT_FALSE(w.server->send("one"));
    (void)w.server->take();
    const auto one = encode_ack(1), zero = encode_ack(0);
    w.server->conn->receive(
        closewise::test::frame(static_cast<proto::opcode>(0xB), std::string(one.data(), 8), true));
    EXPECT_TRUE(w.server->protocol_errors.empty());
    w.server->conn->receive(
        closewise::test::frame(static_cast<proto::opcode>(0xB), std::string(zero.data(), 8), true));
    EXPECT_EQ(w.server->protocol_errors, (std::vector<std::error_code>{error::bad_resume_ack}));
  }
}

// ---- loss and replay ----------------------------------------------------------------

TEST(resume_replay, messages_in_flight_both_ways_are_replayed_exactly_once_in_order) {
  world w;
  ASSERT_TRUE(w.connect());
  for (int i = 1; i <= 10; ++i) ASSERT_FALSE(w.client->send(num(i)));
  for (int i = 1; i <= 10; ++i) ASSERT_FALSE(w.server->send(num(i)));
  // Only part of each direction arrives before the connection dies.
  w.server->conn->receive(w.client->take().substr(0, 4 * client_frame));
  w.client->conn->receive(w.server->take().substr(0, 7 * server_frame));
  EXPECT_EQ(w.server->texts(), nums(1, 4));
  EXPECT_EQ(w.client->texts(), nums(1, 7));
  w.drop();

  ASSERT_TRUE(w.connect());
  ASSERT_EQ(w.client->outcome->kind, client_outcome_kind::resumed);
  EXPECT_EQ(w.client->outcome->replay_out, 6u);
  EXPECT_EQ(w.client->outcome->replay_in, 3u);
  // New messages sent right after the resume go behind the replay.
  ASSERT_FALSE(w.client->send(num(11)));
  ASSERT_FALSE(w.server->send(num(11)));
  w.pump();
  EXPECT_EQ(w.server->texts(), nums(1, 11));
  EXPECT_EQ(w.client->texts(), nums(1, 11));
  for (std::size_t i = 0; i < w.server->delivered.size(); ++i)
    EXPECT_EQ(w.server->delivered[i].first, i + 1);
  EXPECT_TRUE(w.client->undelivered.empty());
  EXPECT_TRUE(w.server->undelivered.empty());
}

TEST(resume_replay, a_lost_ack_is_repaired_by_the_handshake_without_duplicates) {
  world w;
  ASSERT_TRUE(w.connect());
  for (int i = 1; i <= 64; ++i) ASSERT_FALSE(w.client->send(num(i)));
  w.server->conn->receive(w.client->take());
  // The server's ack (64) is lost with the connection.
  EXPECT_EQ(to_hex(w.server->take()), "8b 08 00 00 00 00 00 00 00 40");
  EXPECT_EQ(w.client->cs.current().out().size(), 64u);
  w.drop();
  ASSERT_TRUE(w.connect());
  EXPECT_NE(
      header_line(w.last_request, "Sec-WebSocket-Extensions").find("; sent=64; replay_from=1"),
      std::string::npos);
  EXPECT_EQ(w.client->outcome->replay_out, 0u) << "the answer's received=64 is the ack";
  EXPECT_EQ(w.client->cs.current().out().size(), 0u);
  w.pump();
  EXPECT_EQ(w.server->texts(), nums(1, 64));
}

TEST(resume_replay, a_replay_cut_short_is_resumed_again_without_duplicates) {
  world w;
  ASSERT_TRUE(w.connect());
  for (int i = 1; i <= 20; ++i) ASSERT_FALSE(w.server->send(num(i)));
  (void)w.server->take();  // none of them arrives
  w.drop();
  ASSERT_TRUE(w.connect());
  EXPECT_EQ(w.client->outcome->replay_in, 20u);
  // The replay is cut after 5 messages, then after 5 more, then completes.
  w.client->conn->receive(w.server->take().substr(0, 5 * server_frame));
  w.drop();
  ASSERT_TRUE(w.connect());
  EXPECT_EQ(w.client->outcome->replay_in, 15u);
  w.client->conn->receive(w.server->take().substr(0, 5 * server_frame));
  w.drop();
  ASSERT_TRUE(w.connect());
  EXPECT_EQ(w.client->outcome->replay_in, 10u);
  w.pump();
  EXPECT_EQ(w.client->texts(), nums(1, 20));
  for (std::size_t i = 0; i < w.client->delivered.size(); ++i)
    EXPECT_EQ(w.client->delivered[i].first, i + 1);
}

TEST(resume_replay, the_same_offer_answered_twice_replays_the_same_range_once_each) {
  // The first resume's 101 is lost: the client offers the same position again.
  world w;
  ASSERT_TRUE(w.connect());
  for (int i = 1; i <= 3; ++i) ASSERT_FALSE(w.server->send(num(i)));
  (void)w.server->take();
  w.drop();
  ASSERT_TRUE(w.connect());
  (void)w.server->take();  // the replay is lost too
  w.drop();
  ASSERT_TRUE(w.connect());
  w.pump();
  EXPECT_EQ(w.client->texts(), nums(1, 3));
}

TEST(resume_replay, many_random_drops_deliver_everything_exactly_once_in_order) {
  // A seeded walk: sends both ways, partial deliveries, drops, ticks.
  std::uint32_t rnd = 12345;
  auto next = [&](std::uint32_t n) {
    rnd = rnd * 1103515245u + 12345u;
    return (rnd >> 8) % n;
  };
  world w;
  ASSERT_TRUE(w.connect());
  int c_sent = 0, s_sent = 0;
  for (int step = 0; step < 400; ++step) {
    for (std::uint32_t k = next(6); k > 0; --k) ASSERT_FALSE(w.client->send(num(++c_sent % 1000)));
    for (std::uint32_t k = next(6); k > 0; --k) ASSERT_FALSE(w.server->send(num(++s_sent % 1000)));
    switch (next(4)) {
      case 0: {  // the connection dies with a random prefix delivered
        const std::string c2s = w.client->take(), s2c = w.server->take();
        w.server->conn->receive(c2s.substr(0, next(static_cast<std::uint32_t>(c2s.size()) + 1)));
        w.client->conn->receive(s2c.substr(0, next(static_cast<std::uint32_t>(s2c.size()) + 1)));
        w.drop();
        ASSERT_TRUE(w.connect());
        ASSERT_EQ(w.client->outcome->kind, client_outcome_kind::resumed);
        break;
      }
      case 1:
        w.tick(std::chrono::milliseconds(next(80)));
        break;
      default:
        w.pump();
    }
  }
  w.pump();
  w.tick(100ms);
  ASSERT_EQ(w.server->delivered.size(), static_cast<std::size_t>(c_sent));
  ASSERT_EQ(w.client->delivered.size(), static_cast<std::size_t>(s_sent));
  for (int i = 0; i < c_sent; ++i) {
    ASSERT_EQ(w.server->delivered[i].first, static_cast<seq>(i + 1));
    ASSERT_EQ(w.server->delivered[i].second, num((i + 1) % 1000));
  }
  for (int i = 0; i < s_sent; ++i) ASSERT_EQ(w.client->delivered[i].second, num((i + 1) % 1000));
  EXPECT_TRUE(w.client->undelivered.empty());
  EXPECT_TRUE(w.server->undelivered.empty());
}

// ---- bounds ---------------------------------------------------------------------------

TEST(resume_bounds, refuse_policy_is_backpressure_until_an_ack_makes_room) {
  session_settings small;
  small.replay.max_messages = 3;
  world w(small);
  ASSERT_TRUE(w.connect());
  for (int i = 1; i <= 3; ++i) ASSERT_FALSE(w.client->send(num(i)));
  EXPECT_EQ(w.client->send(num(4)), error::replay_buffer_full);
  EXPECT_EQ(w.client->cs.current().out().sent(), 3u) << "a refused message takes no seq";
  w.pump();
  w.tick(50ms);  // the server's ack (3) arrives
  EXPECT_EQ(w.client->cs.current().out().size(), 0u);
  ASSERT_FALSE(w.client->send(num(4)));
  w.pump();
  EXPECT_EQ(w.server->texts(), nums(1, 4));
}

TEST(resume_bounds, a_server_buffer_that_evicted_what_the_client_lacks_refuses_the_resume) {
  session_settings evicting;
  evicting.replay.max_messages = 4;
  evicting.replay.overflow = overflow_policy::evict_oldest;
  world w({}, evicting);
  ASSERT_TRUE(w.connect());
  for (int i = 1; i <= 2; ++i) ASSERT_FALSE(w.client->send(num(i)));
  w.pump();  // the server received 2 (not acked: under 64 and no tick)
  for (int i = 1; i <= 6; ++i) ASSERT_FALSE(w.server->send(num(i)));
  // m001 and m002 were evicted to make room; they go back to the server application.
  auto evicted = w.server->held->out().take_evicted();
  ASSERT_EQ(evicted.size(), 2u);
  EXPECT_EQ(evicted[0].payload, num(1));
  (void)w.server->take();  // none of the six arrives
  const std::string old_id = w.server->held->id().to_string();
  w.drop();
  ASSERT_TRUE(w.connect());
  EXPECT_EQ(header_line(w.last_response, "Sec-WebSocket-Extensions"),
            "Sec-WebSocket-Extensions: closewise-resume; session=" +
                w.server->held->id().to_string() + "; status=overflowed; received=2; sent=6");
  EXPECT_NE(w.server->held->id().to_string(), old_id) << "a new session starts at once";
  const auto& o = *w.client->outcome;
  EXPECT_EQ(o.kind, client_outcome_kind::refused);
  EXPECT_EQ(o.status, resume_status::overflowed);
  EXPECT_EQ(o.gap_size, seq{6}) << "the client knows it lacks exactly 6 server messages";
  // Both client messages were received (received=2): nothing to hand back.
  EXPECT_TRUE(w.client->undelivered.empty());
  // The server hands back what the client never acked: m003..m006 (m001, m002 were evicted).
  ASSERT_EQ(w.server->undelivered.size(), 1u);
  EXPECT_EQ(w.server->undelivered[0].first, error::resume_overflowed);
  ASSERT_EQ(w.server->undelivered[0].second.size(), 4u);
  EXPECT_EQ(w.server->undelivered[0].second[0].payload, num(3));
  // The old session is ended on the server.
  bool ended = false;
  w.store->attach(*session_id::parse(old_id), "", {},
                  [&](std::error_code ec, auto) { ended = ec == error::resume_ended; });
  EXPECT_TRUE(ended);
  // The new session works.
  ASSERT_FALSE(w.client->send("new"));
  w.pump();
  EXPECT_EQ(w.server->delivered.back(), std::make_pair(seq{1}, std::string("new")));
}

TEST(resume_bounds, a_client_buffer_that_evicted_what_the_server_lacks_refuses_the_resume) {
  session_settings evicting;
  evicting.replay.max_messages = 2;
  evicting.replay.overflow = overflow_policy::evict_oldest;
  world w(evicting);
  ASSERT_TRUE(w.connect());
  for (int i = 1; i <= 5; ++i) ASSERT_FALSE(w.client->send(num(i)));
  w.server->conn->receive(w.client->take().substr(0, client_frame));  // only m001 arrives
  auto evicted = w.client->cs.current().out().take_evicted();
  ASSERT_EQ(evicted.size(), 3u);  // m001..m003, handed back with resume_evicted
  w.drop();
  ASSERT_TRUE(w.connect());
  EXPECT_NE(header_line(w.last_request, "Sec-WebSocket-Extensions").find("; sent=5; replay_from=4"),
            std::string::npos);
  const auto& o = *w.client->outcome;
  EXPECT_EQ(o.status, resume_status::overflowed);
  // The server had received 1: m004 and m005 go back, exactly.
  EXPECT_EQ(w.client->handed_back_texts(), nums(4, 5));
  EXPECT_EQ(w.client->undelivered[0].first, error::resume_overflowed);
}

// ---- expiry, ends and refusals ------------------------------------------------------

TEST(resume_refusal, an_expired_session_is_refused_and_the_client_hands_everything_back) {
  world w({}, {}, 1000ms);
  ASSERT_TRUE(w.connect());
  for (int i = 1; i <= 3; ++i) ASSERT_FALSE(w.client->send(num(i)));
  w.pump();  // received, not acked
  w.drop();
  w.clock.advance(999ms);
  EXPECT_EQ(w.store->sweep(), 0u);
  w.clock.advance(1ms);
  ASSERT_TRUE(w.connect());  // the deadline passed (attach checks it, no sweep needed)
  EXPECT_NE(header_line(w.last_response, "Sec-WebSocket-Extensions").find("; status=expired"),
            std::string::npos);
  EXPECT_EQ(header_line(w.last_response, "Sec-WebSocket-Extensions").find("received="),
            std::string::npos);
  EXPECT_EQ(w.client->outcome->kind, client_outcome_kind::refused);
  EXPECT_EQ(w.client->outcome->gap_size, std::nullopt);
  ASSERT_EQ(w.client->undelivered.size(), 1u);
  EXPECT_EQ(w.client->undelivered[0].first, error::resume_expired);
  EXPECT_EQ(w.client->handed_back_texts(), nums(1, 3)) << "they may have arrived: the app decides";
}

TEST(resume_refusal, an_unknown_session_is_refused) {
  world w;
  ASSERT_TRUE(w.connect());
  ASSERT_FALSE(w.client->send("x"));
  w.drop();
  w.store = std::make_unique<memory_store>(w.store_opts);  // the server process restarted
  w.server = std::make_unique<server_side>(w.clock, *w.store);
  ASSERT_TRUE(w.connect());
  EXPECT_EQ(w.client->outcome->status, resume_status::unknown);
  EXPECT_EQ(w.client->undelivered.at(0).first, error::resume_unknown);
}

TEST(resume_refusal, another_owners_session_looks_unknown) {
  world w;
  w.server->owner = "alice";
  ASSERT_TRUE(w.connect());
  w.drop();
  w.server->owner = "mallory";
  ASSERT_TRUE(w.connect());
  EXPECT_EQ(w.client->outcome->status, resume_status::unknown);
}

TEST(resume_refusal, a_session_ended_by_1008_is_refused_as_ended) {
  world w;
  ASSERT_TRUE(w.connect());
  ASSERT_FALSE(w.client->send("x"));
  w.pump();
  // The server closes with 1008; the client never sees it (the frame is lost).
  ASSERT_FALSE(w.server->conn->close_endpoint(close_code::policy_violation));
  w.server->sent_close = close_code::policy_violation;
  (void)w.server->take();
  w.server->conn->on_close_timeout();
  EXPECT_EQ(server_fate(w.server->closed.back(), w.server->sent_close), close_fate::end);
  w.server->closed_with(w.server->closed.back());
  w.client->conn->abort(error::connection_reset);
  w.client->closed_with(w.client->closed.back(), true);
  ASSERT_TRUE(w.connect());
  EXPECT_EQ(w.client->outcome->status, resume_status::ended);
  EXPECT_EQ(w.client->undelivered.at(0).first, error::resume_ended);
  EXPECT_EQ(w.client->handed_back_texts(), std::vector<std::string>{"x"});
}

// docs/resume.md §2.3: each resume offer of a session counts one more attempt;
// a new session counts from 1 again.
TEST(resume_negotiation, each_offer_counts_one_more_attempt) {
  world w;
  ASSERT_TRUE(w.connect());
  EXPECT_EQ(header_line(w.last_request, "Sec-WebSocket-Extensions"),
            "Sec-WebSocket-Extensions: closewise-resume")
      << "a fresh offer has no attempt";
  const std::string first_id = w.server->held->id().to_string();
  for (int attempt = 1; attempt <= 3; ++attempt) {
    w.drop();
    EXPECT_EQ(w.client->cs.offer_value().resume->attempt, static_cast<seq>(attempt));
    ASSERT_TRUE(w.connect());
    EXPECT_EQ(w.client->outcome->kind, client_outcome_kind::resumed);
    const std::string ext = header_line(w.last_request, "Sec-WebSocket-Extensions");
    EXPECT_EQ(ext.substr(ext.size() - 11), "; attempt=" + std::to_string(attempt)) << ext;
  }
  // The server process restarted: attempt 4 is refused as unknown, and the new
  // session it starts counts from 1.
  w.drop();
  w.store = std::make_unique<memory_store>(w.store_opts);
  w.server = std::make_unique<server_side>(w.clock, *w.store);
  ASSERT_TRUE(w.connect());
  EXPECT_NE(header_line(w.last_request, "Sec-WebSocket-Extensions").find("; attempt=4"),
            std::string::npos);
  EXPECT_EQ(w.client->outcome->status, resume_status::unknown);
  EXPECT_NE(w.client->cs.current().id().to_string(), first_id);
  w.drop();
  EXPECT_EQ(w.client->cs.offer_value().resume->attempt, 1u);
  ASSERT_TRUE(w.connect());
  EXPECT_EQ(w.client->outcome->kind, client_outcome_kind::resumed);
}

TEST(resume_refusal, an_invalid_position_is_refused) {
  world w;
  ASSERT_TRUE(w.connect());
  for (int i = 1; i <= 2; ++i) ASSERT_FALSE(w.server->send(num(i)));
  w.pump();
  const std::string id = w.server->held->id().to_string();
  w.drop();
  // A client claiming 5 received of the server's 2: state was lost somewhere.
  proto::server_handshake sh;
  std::size_t used = 0;
  const std::string req =
      "GET / HTTP/1.1\r\nHost: h\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
      "Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n"
      "Sec-WebSocket-Extensions: closewise-resume; session=" +
      id + "; received=5; sent=0; replay_from=1\r\n\r\n";
  ASSERT_EQ(sh.receive(req, used), proto::server_handshake::result::valid);
  const std::string resp = w.server->answer_upgrade(sh);
  EXPECT_NE(
      header_line(resp, "Sec-WebSocket-Extensions").find("; status=invalid; received=0; sent=2"),
      std::string::npos)
      << resp;
  ASSERT_EQ(w.server->undelivered.size(), 1u);
  EXPECT_EQ(w.server->undelivered[0].first, error::resume_invalid);
  EXPECT_EQ(w.server->undelivered[0].second.size(), 2u);
}

TEST(resume_refusal, a_malformed_offer_is_declined_and_the_connection_is_plain) {
  world w;
  proto::server_handshake sh;
  std::size_t used = 0;
  const std::string req =
      "GET / HTTP/1.1\r\nHost: h\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
      "Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n"
      "Sec-WebSocket-Extensions: closewise-resume; session=42\r\n\r\n";
  ASSERT_EQ(sh.receive(req, used), proto::server_handshake::result::valid);
  const std::string resp = w.server->answer_upgrade(sh);
  EXPECT_EQ(header_line(resp, "Sec-WebSocket-Extensions"), "");
  EXPECT_EQ(w.store->sessions(), 0u);
}

// ---- close fates ------------------------------------------------------------------------

TEST(resume_fate, a_1012_restart_keeps_the_session_on_both_sides) {
  world w;
  ASSERT_TRUE(w.connect());
  ASSERT_FALSE(w.client->send("before"));
  w.pump();
  ASSERT_FALSE(w.server->conn->close_endpoint(close_code::service_restart));
  w.server->sent_close = close_code::service_restart;
  w.pump();
  ASSERT_TRUE(w.client->conn->result());
  EXPECT_EQ(w.client->conn->result()->code, close_code::service_restart);
  w.server->closed_with(*w.server->conn->result());
  w.client->closed_with(*w.client->conn->result(), true);
  EXPECT_EQ(w.store->sessions(), 1u);
  ASSERT_TRUE(w.connect());
  EXPECT_EQ(w.client->outcome->kind, client_outcome_kind::resumed);
  EXPECT_EQ(w.client->cs.current().out().size(), 0u)
      << "the ack flushed before the echo left nothing to replay";
}

TEST(resume_fate, the_clients_close_ends_the_session_everywhere) {
  world w;
  ASSERT_TRUE(w.connect());
  ASSERT_FALSE(w.server->send("unacked"));
  (void)w.server->take();
  ASSERT_FALSE(w.client->conn->close(close_code::normal));
  w.pump();
  w.server->closed_with(*w.server->conn->result());
  w.client->closed_with(*w.client->conn->result(), false);
  EXPECT_FALSE(w.client->cs.has_session());
  EXPECT_EQ(w.store->sessions(), 0u);
  EXPECT_EQ(w.store->tombstones(), 1u);
  ASSERT_EQ(w.server->undelivered.size(), 1u);
  EXPECT_EQ(w.server->undelivered[0].first, error::resume_ended);
  EXPECT_EQ(w.server->undelivered[0].second.at(0).payload, "unacked");
  ASSERT_TRUE(w.connect());
  EXPECT_EQ(w.client->outcome->kind, client_outcome_kind::fresh);
}

TEST(resume_fate, a_client_that_is_gone_for_max_age_expires_its_session_locally) {
  session_settings st;
  st.replay.max_age = 10'000ms;
  world w(st);
  ASSERT_TRUE(w.connect());
  ASSERT_FALSE(w.client->send("old"));
  w.drop();
  w.clock.advance(9'999ms);
  EXPECT_TRUE(w.client->cs.expire(w.clock.now).empty());
  w.clock.advance(1ms);
  auto back = w.client->cs.expire(w.clock.now);
  ASSERT_EQ(back.size(), 1u);
  EXPECT_EQ(back[0].payload, "old");
  EXPECT_FALSE(w.client->cs.has_session());
  EXPECT_EQ(w.client->cs.offer(), "closewise-resume");
}

// ---- a half-open holder is preempted --------------------------------------------------

TEST(resume_preempt, a_resume_while_the_old_connection_looks_alive_takes_the_session_over) {
  world w;
  ASSERT_TRUE(w.connect());
  ASSERT_FALSE(w.client->send("x"));
  w.pump();
  // The client's side died (Wi-Fi hand-over); the server's connection looks alive.
  auto old_server = std::move(w.server);
  w.client->conn->abort(error::connection_reset);
  w.client->closed_with(w.client->closed.back(), true);
  int preempted = 0;
  old_server->preempt_hook = [&] {
    ++preempted;
    // Part B aborts the old connection: 1006 keeps the session, so it is detached.
    old_server->conn->abort(error::aborted);
    old_server->closed_with(old_server->closed.back());
  };
  // A second server_side stands for the new connection on the same store.
  w.server = std::make_unique<server_side>(w.clock, *w.store);
  // attach waits for the holder: the memory store calls preempt, the holder
  // detaches, and the waiting attach completes from that detach.
  std::string id = w.client->cs.current().id().to_string();
  std::error_code ec;
  session_store::session_ptr got;
  w.store->attach(*session_id::parse(id), "", {}, [&](std::error_code e, auto p) {
    ec = e;
    got = std::move(p);
  });
  EXPECT_EQ(preempted, 1);
  ASSERT_FALSE(ec);
  ASSERT_TRUE(got);
  EXPECT_EQ(got->epoch(), 2u);
  EXPECT_EQ(got->in().received(), 1u) << "the state the old connection held";
}

}  // namespace closewise::resume::test

// Slowloris, done properly (ARCHITECTURE §4: a handshake timeout against
// slowloris; slow consumers are closed with 1008 and cannot grow the server's
// memory). A client that trickles its request is dropped at the handshake
// timeout counted from the accept, however steadily bytes arrive; a client
// that stops reading during a broadcast is closed with 1008 "slow consumer"
// while the server's queue for it stays within max_buffered.
#include "closewise/net/server.hpp"

#include <gtest/gtest.h>

#include <iostream>

#include "closewise/error.hpp"
#include "net/lifecycle_support.hpp"

namespace closewise::net {
namespace {

using namespace test;
using namespace std::chrono_literals;
using ce = client_event;
using steady = std::chrono::steady_clock;

/// Timers fire late, never early; under TSan on two loaded cores the drop came
/// at most ~150 ms after the 2 s timeout. 600 ms of slack still fails an
/// implementation that restarts the timer on each byte (it would wait forever)
/// or one that only checks it every second or so.
constexpr auto late_slack = 600ms;

TEST(slowloris, a_request_trickled_one_byte_every_500ms_is_dropped_at_the_handshake_timeout) {
  io_thread io;
  server_config cfg;
  cfg.handshake_timeout = 2000ms;
  event_server es(io.ioc, cfg);
  ASSERT_TRUE(es.listen());
  constexpr int n = 10;
  struct trickler {
    raw_tcp sock;
    steady::time_point start;
    std::optional<steady::time_point> dropped;
    std::size_t sent = 0;
  };
  std::vector<trickler> t(n);
  for (auto& x : t) {
    ASSERT_TRUE(x.sock.connect(es.port()));
    x.start = steady::now();
  }
  const std::string req = upgrade_request();
  // One byte per socket every 500 ms, for up to 5 s: never a whole request
  // (about 160 bytes), always a sign of life.
  const auto give_up = steady::now() + 5s;
  bool healthy_checked = false;
  while (steady::now() < give_up) {
    bool all_dropped = true;
    for (auto& x : t) {
      if (x.dropped) continue;
      all_dropped = false;
      if (!x.sock.send(req.substr(x.sent, 1))) {
        x.dropped = steady::now();
        continue;
      }
      ++x.sent;
    }
    if (all_dropped) break;
    // Wait 500 ms, watching for EOF or a reset on each socket.
    const auto until = steady::now() + 500ms;
    for (auto& x : t) {
      if (x.dropped) continue;
      const auto left =
          std::chrono::duration_cast<std::chrono::milliseconds>(until - steady::now());
      auto r = x.sock.recv(std::max(left, 0ms));
      if (r && r->empty()) x.dropped = steady::now();  // EOF
      if (!r && left.count() > 0) {
        pollfd pf{x.sock.fd(), POLLIN, 0};
        if (::poll(&pf, 1, 0) == 1) x.dropped = steady::now();  // an error: reset
      }
      EXPECT_FALSE(r && !r->empty()) << "the server answered a request it never got: " << *r;
    }
    if (!healthy_checked) {
      // Meanwhile an honest client is served at once.
      channel<client_event> ev;
      client c(io.ioc);
      record(c, ev);
      ASSERT_FALSE(c.connect(es.url()));
      next_of(ev, ce::opened);
      ASSERT_FALSE(c.close());
      next_of(ev, ce::closed);
      healthy_checked = true;
    }
  }
  std::chrono::milliseconds latest{0};
  for (auto& x : t) {
    ASSERT_TRUE(x.dropped)
        << "still connected after 5 s of trickling: the timeout restarts on each byte";
    const auto took = std::chrono::duration_cast<std::chrono::milliseconds>(*x.dropped - x.start);
    EXPECT_GE(took, 2000ms - 50ms) << "dropped before its timeout";
    EXPECT_LE(took, 2000ms + late_slack) << "dropped later than its timeout";
    EXPECT_LE(x.sent, 6u) << "it could send only ~4 bytes in 2 s";
    latest = std::max(latest, took);
  }
  EXPECT_EQ(es.opened.get(), 1u) << "only the honest client opened";
  std::cout << "[ slowloris ] " << n << " tricklers dropped at most " << latest.count()
            << " ms after connecting (handshake timeout 2000 ms)\n";
}

TEST(slowloris, a_client_that_stops_reading_during_a_broadcast_gets_1008_and_memory_stays_bounded) {
  io_thread server_io;
  server_config cfg;
  cfg.max_buffered = 256 * 1024;
  cfg.close_timeout = 20s;  // long enough for the stalled client to come back and read
  event_server es(server_io.ioc, cfg);
  ASSERT_TRUE(es.listen());
  io_thread reader_io;
  channel<client_event> rev;
  client reader(reader_io.ioc);
  record(reader, rev);
  ASSERT_FALSE(reader.connect(es.url()));
  next_of(rev, ce::opened);
  io_thread stalled_io;
  channel<client_event> sev;
  client stalled(stalled_io.ioc);
  record(stalled, sev);
  ASSERT_FALSE(stalled.connect(es.url()));
  next_of(sev, ce::opened);
  ASSERT_TRUE(es.opened.wait_for(2));

  const std::string chunk(64 * 1024, 'x');
  std::size_t sent = 0, refused = 0, peak = 0;
  {
    io_hold hold(stalled_io.ioc);  // the stalled client's only thread reads nothing now
    // Loopback's kernel buffers take several MiB first; then the server's own
    // queue for that session fills to max_buffered and the next message is refused.
    for (int i = 0; i < 1000 && refused == 0; ++i) {
      const auto r = es.srv.broadcast(proto::message_kind::binary, chunk);
      ASSERT_FALSE(r.error);
      refused += r.refused;
      sent += r.queued > 0 ? 1 : 0;
      for (const auto& s : es.srv.sessions()) {
        EXPECT_LE(s->buffered_amount(), cfg.max_buffered);
        peak = std::max(peak, s->buffered_amount());
      }
      // The reader keeps up, so only the stalled client falls behind.
      auto m = rev.pop();
      ASSERT_TRUE(m);
      ASSERT_EQ(m->type, ce::message);
    }
    ASSERT_EQ(refused, 1u) << "the stalled client's queue never filled";
    std::cout << "[ slowloris ] " << sent
              << " broadcasts of 64 KiB before the stalled client's queue"
              << " was full; peak queued " << peak << " bytes (max_buffered " << cfg.max_buffered
              << ")\n";
  }
  // Back to reading: it drains what was queued for it, then finds the 1008.
  std::size_t got = 0;
  for (;;) {
    auto e = sev.pop(20s);
    ASSERT_TRUE(e) << "after " << got << " messages";
    if (e->type == ce::message) {
      ++got;
      continue;
    }
    ASSERT_EQ(e->type, ce::closed);
    EXPECT_EQ(e->close,
              cev(close_code::policy_violation, "slow consumer", true, initiator::remote));
    break;
  }
  EXPECT_LE(got, sent) << "no message twice";
  auto sc = es.closes.pop();
  ASSERT_TRUE(sc);
  EXPECT_EQ(sc->ev, cev(close_code::policy_violation, "", true, initiator::local));
  // The reader was never affected.
  ASSERT_FALSE(reader.send_text("still here"));
  for (;;) {
    auto e = rev.pop();
    ASSERT_TRUE(e);
    if (e->type == ce::message && e->data == "still here") break;
  }
  EXPECT_EQ(es.srv.session_count(), 1u);
}

}  // namespace
}  // namespace closewise::net

// What gateways and queues build on: on_drain (client and server), messages a
// close refused handed back before on_close, pause_reading/resume_reading, the
// client's own heartbeat and probe(). Over loopback, every event asserted.
#include "closewise/net/client.hpp"
#include "closewise/net/server.hpp"

#include <gtest/gtest.h>

#include <atomic>
#include <string>
#include <thread>
#include <vector>

#include "closewise/error.hpp"
#include "net/net_test_support.hpp"

namespace closewise::net {
namespace {

using namespace test;
using ce = client_event;

std::string url(std::uint16_t port) { return "ws://127.0.0.1:" + std::to_string(port) + "/"; }

/// The next event of `type`; pongs (the heartbeat's answers) are skipped unless asked for.
client_event next_of(channel<client_event>& ch, ce::type_t type) {
  for (;;) {
    auto e = ch.pop();
    EXPECT_TRUE(e.has_value()) << "timed out waiting for event " << type;
    if (!e) return {ce::errored, {}, {}, {}, {}, 0};
    if (e->type == ce::pong && type != ce::pong) continue;
    EXPECT_EQ(e->type, type) << e->ec.message();
    return *e;
  }
}

/// A closewise echo server whose sessions' drains and messages go into channels.
struct echo_server {
  explicit echo_server(boost::asio::io_context& ioc, server_config cfg = {})
      : srv(ioc, std::move(cfg)) {
    srv.on_open([this](session& s) {
      opened.push(s.shared());
      if (on_open_hook) on_open_hook(s);
    });
    srv.on_message([this](session& s, proto::message_kind k, std::string_view p) {
      messages.push(std::string(p));
      if (echo) (void)s.send(k, p);
    });
    srv.on_drain([this](session& s) { drains.push(s.id()); });
    srv.on_close([this](session&, const closewise::close_event& e) { closes.push(e); });
    EXPECT_FALSE(srv.listen("127.0.0.1", 0));
  }
  std::function<void(session&)> on_open_hook;
  bool echo = true;
  channel<std::shared_ptr<session>> opened;
  channel<std::string> messages;
  channel<std::uint64_t> drains;
  channel<closewise::close_event> closes;
  server srv;
};

// ------------------------------------------------------------------ on_drain --

TEST(flow_control, client_on_drain_follows_accepted_sends_and_finds_the_buffer_empty) {
  io_thread io;
  echo_server es(io.ioc);
  client c(io.ioc);
  channel<client_event> ev;
  record(c, ev);
  channel<std::size_t> drained;
  c.on_drain([&] { drained.push(c.buffered_amount()); });
  ASSERT_FALSE(c.connect(url(es.srv.port())));
  next_of(ev, ce::opened);
  {
    // Three sends while the connection's thread is held: they wait in the
    // buffer, counted, and one drain follows once they left.
    io_hold hold(io.ioc);
    for (const char* m : {"a", "b", "c"}) ASSERT_FALSE(c.send_text(m));
    EXPECT_EQ(c.buffered_amount(), 3 * (1 + proto::max_header_size));
  }
  EXPECT_EQ(drained.pop(), std::optional<std::size_t>(0));
  for (const char* m : {"a", "b", "c"}) EXPECT_EQ(next_of(ev, ce::message).data, m);
  ASSERT_FALSE(c.close());
  next_of(ev, ce::closed);
}

TEST(flow_control, server_on_drain_names_the_session_that_drained) {
  io_thread io;
  echo_server es(io.ioc);
  client c(io.ioc);
  channel<client_event> ev;
  record(c, ev);
  ASSERT_FALSE(c.connect(url(es.srv.port())));
  next_of(ev, ce::opened);
  const auto s = es.opened.pop();
  ASSERT_TRUE(s);
  ASSERT_FALSE(c.send_text("echo me"));
  EXPECT_EQ(es.drains.pop(), std::optional<std::uint64_t>((*s)->id()))
      << "the echo left the server";
  EXPECT_EQ(next_of(ev, ce::message).data, "echo me");
  ASSERT_FALSE(c.close());
  next_of(ev, ce::closed);
}

// ------------------------------------------------------------ on_undelivered --

// A send from another thread that loses the race with a close: net::client
// hands the message itself back, before on_close.
TEST(flow_control, a_send_that_loses_the_race_with_a_close_is_handed_back_before_on_close) {
  io_thread io;
  echo_server es(io.ioc);
  client c(io.ioc);
  channel<client_event> ev;
  record(c, ev);
  struct refused {
    proto::message_kind kind;
    std::string payload;
    std::error_code why;
  };
  channel<refused> back;
  c.on_undelivered([&](proto::message_kind k, std::string_view p, std::error_code why) {
    back.push({k, std::string(p), why});
    ev.push({ce::errored, k, "undelivered", {}, why, 0});  // its place among the events
  });
  ASSERT_FALSE(c.connect(url(es.srv.port())));
  next_of(ev, ce::opened);
  {
    // Held: the close is posted first, then the send, which the published
    // state (still open) accepts. The close reaches the connection first.
    io_hold hold(io.ioc);
    ASSERT_FALSE(c.close());
    ASSERT_FALSE(c.send_binary("late"));
  }
  const auto b = back.pop();
  ASSERT_TRUE(b);
  EXPECT_EQ(b->kind, proto::message_kind::binary);
  EXPECT_EQ(b->payload, "late");
  EXPECT_EQ(b->why, error::already_closing);
  EXPECT_EQ(next_of(ev, ce::errored).data, "undelivered");
  EXPECT_EQ(next_of(ev, ce::closed).close, cev(close_code::normal, "", true, initiator::local));
  EXPECT_EQ(es.messages.size(), 0u) << "nothing followed our close frame";
}

// The connection ends (abort) while a send from another thread is still on its
// way to it: on_close waits until that send was handed back.
TEST(flow_control, on_close_waits_for_sends_still_on_their_way) {
  io_thread io;
  echo_server es(io.ioc);
  client c(io.ioc);
  channel<client_event> ev;
  record(c, ev);
  c.on_undelivered([&](proto::message_kind k, std::string_view p, std::error_code why) {
    ev.push({ce::errored, k, std::string(p), {}, why, 0});
  });
  ASSERT_FALSE(c.connect(url(es.srv.port())));
  next_of(ev, ce::opened);
  {
    io_hold hold(io.ioc);
    c.abort();
    ASSERT_FALSE(c.send_text("x"));
  }
  const auto u = next_of(ev, ce::errored);
  EXPECT_EQ(u.data, "x");
  EXPECT_EQ(u.ec, error::not_open);
  EXPECT_EQ(next_of(ev, ce::closed).close,
            cev(close_code::abnormal, "", false, initiator::none, error::aborted));
}

TEST(flow_control, without_on_undelivered_the_refusal_is_still_reported_as_not_sent) {
  io_thread io;
  echo_server es(io.ioc);
  client c(io.ioc);
  channel<client_event> ev;
  record(c, ev);
  ASSERT_FALSE(c.connect(url(es.srv.port())));
  next_of(ev, ce::opened);
  {
    io_hold hold(io.ioc);
    ASSERT_FALSE(c.close());
    ASSERT_FALSE(c.send_text("late"));
  }
  EXPECT_EQ(next_of(ev, ce::errored).ec, error::not_sent);
  next_of(ev, ce::closed);
}

// A send on the connection's own thread while a send from another thread is
// still on its way: they leave in the order send() accepted them.
TEST(flow_control, sends_leave_in_the_order_they_were_accepted_across_threads) {
  io_thread io;
  echo_server es(io.ioc);
  es.echo = false;
  client c(io.ioc);
  channel<client_event> ev;
  record(c, ev);
  c.on_open([&](const open_info&) {
    // On the connection's executor: "1" is accepted by another thread and
    // posted here, so it cannot have run yet when "2" is sent.
    std::thread other([&] { EXPECT_FALSE(c.send_text("1")); });
    other.join();
    EXPECT_FALSE(c.send_text("2"));
    ev.push({ce::opened, {}, {}, {}, {}, 0});
  });
  ASSERT_FALSE(c.connect(url(es.srv.port())));
  next_of(ev, ce::opened);
  EXPECT_EQ(es.messages.pop(), "1");
  EXPECT_EQ(es.messages.pop(), "2");
  ASSERT_FALSE(c.close());
  next_of(ev, ce::closed);
}

TEST(flow_control, small_frames_queued_before_a_large_send_lead_it_in_order) {
  // A server's large send leaves from the caller's buffer (driver::send_direct),
  // and small frames already queued in the same turn (a text, a ping) lead it
  // in the same write. 8 MiB does not fit one write: the rest is copied and
  // follows. The client must read every message whole and in order.
  io_thread io;
  echo_server es(io.ioc);
  es.echo = false;
  std::string big(std::size_t{8} << 20, '\0');
  for (std::size_t i = 0; i < big.size(); ++i) big[i] = static_cast<char>(i * 7 + (i >> 13));
  const std::string mid(std::size_t{64} << 10, 'm');
  es.srv.on_message([&](session& s, proto::message_kind, std::string_view p) {
    if (p != "go") return;
    // One handler turn: each small frame is queued, each large one goes direct.
    EXPECT_FALSE(s.send_text("a"));
    EXPECT_FALSE(s.ping("p"));
    EXPECT_FALSE(s.send_binary(mid));
    EXPECT_FALSE(s.send_text("b"));
    EXPECT_FALSE(s.send_binary(big));
    EXPECT_FALSE(s.send_text("c"));
  });
  client c(io.ioc);
  channel<client_event> ev;
  record(c, ev);
  ASSERT_FALSE(c.connect(url(es.srv.port())));
  next_of(ev, ce::opened);
  ASSERT_FALSE(c.send_text("go"));
  EXPECT_EQ(next_of(ev, ce::message).data, "a");
  const auto m = next_of(ev, ce::message);
  EXPECT_EQ(m.kind, proto::message_kind::binary);
  EXPECT_TRUE(m.data == mid) << m.data.size() << " bytes";
  EXPECT_EQ(next_of(ev, ce::message).data, "b");
  const auto b = next_of(ev, ce::message);
  EXPECT_EQ(b.data.size(), big.size());
  EXPECT_TRUE(b.data == big) << "the 8 MiB message arrived altered";
  EXPECT_EQ(next_of(ev, ce::message).data, "c");
  ASSERT_FALSE(c.close());
  next_of(ev, ce::closed);
}

// ------------------------------------------------------------ pause_reading --

TEST(flow_control, a_paused_client_reads_nothing_until_resumed_and_its_heartbeat_waits) {
  io_thread io;
  echo_server es(io.ioc);
  es.echo = false;
  client_config cfg;
  cfg.heartbeat =
      heartbeat_config{std::chrono::milliseconds(100), std::chrono::milliseconds(100), 0.0};
  client c(io.ioc, cfg);
  channel<client_event> ev;
  record(c, ev);
  ASSERT_FALSE(c.connect(url(es.srv.port())));
  next_of(ev, ce::opened);
  const auto s = es.opened.pop();
  ASSERT_TRUE(s);
  c.pause_reading();
  for (const char* m : {"one", "two", "three"}) ASSERT_FALSE((*s)->send_text(m));
  // Writes still flow while paused.
  ASSERT_FALSE(c.send_text("up"));
  EXPECT_EQ(es.messages.pop(), "up");
  // Absence, bounded: three heartbeat periods (interval + grace = 200 ms) in
  // which neither a message nor a dead-peer verdict may arrive.
  EXPECT_FALSE(ev.pop(std::chrono::milliseconds(600))) << "nothing is read while paused";
  c.resume_reading();
  for (const char* m : {"one", "two", "three"}) EXPECT_EQ(next_of(ev, ce::message).data, m);
  ASSERT_FALSE(c.close());
  EXPECT_EQ(next_of(ev, ce::closed).close, cev(close_code::normal, "", true, initiator::local));
}

TEST(flow_control, closing_a_paused_client_reads_on_so_the_handshake_finishes) {
  io_thread io;
  echo_server es(io.ioc);
  es.echo = false;
  client c(io.ioc);
  channel<client_event> ev;
  record(c, ev);
  ASSERT_FALSE(c.connect(url(es.srv.port())));
  next_of(ev, ce::opened);
  const auto s = es.opened.pop();
  ASSERT_TRUE(s);
  c.pause_reading();
  ASSERT_FALSE((*s)->send_text("before the close"));
  ASSERT_FALSE(c.close());
  // RFC 6455 §5.5.1: data the server sent before its close echo is delivered.
  EXPECT_EQ(next_of(ev, ce::message).data, "before the close");
  EXPECT_EQ(next_of(ev, ce::closed).close, cev(close_code::normal, "", true, initiator::local));
  const auto sc = es.closes.pop();
  ASSERT_TRUE(sc);
  EXPECT_TRUE(sc->was_clean);
}

TEST(flow_control, a_paused_session_reads_nothing_until_resumed) {
  io_thread io;
  echo_server es(io.ioc);
  es.on_open_hook = [](session& s) { s.pause_reading(); };
  client c(io.ioc);
  channel<client_event> ev;
  record(c, ev);
  ASSERT_FALSE(c.connect(url(es.srv.port())));
  next_of(ev, ce::opened);
  const auto s = es.opened.pop();
  ASSERT_TRUE(s);
  for (const char* m : {"1", "2", "3"}) ASSERT_FALSE(c.send_text(m));
  EXPECT_FALSE(es.messages.pop(std::chrono::milliseconds(300))) << "nothing is read while paused";
  (*s)->resume_reading();
  for (const char* m : {"1", "2", "3"}) EXPECT_EQ(es.messages.pop(), m);
  for (const char* m : {"1", "2", "3"}) EXPECT_EQ(next_of(ev, ce::message).data, m);
  ASSERT_FALSE(c.close());
  next_of(ev, ce::closed);
}

// --------------------------------------------------- heartbeat and probe() --

/// Completes the opening handshake by hand, then never reads or writes again.
struct silent_server {
  bool go_silent() {
    auto s = l.accept();
    if (!s) return false;
    sock = std::move(*s);
    const std::string req = sock.recv_until("\r\n\r\n");
    proto::server_handshake hs;
    std::size_t used = 0;
    if (hs.receive(req, used) != proto::server_handshake::result::valid) return false;
    return sock.send(hs.accept());
  }
  raw_listener l;
  raw_tcp sock;
};

TEST(flow_control, a_plain_client_heartbeat_drops_a_silent_peer_with_1006_heartbeat_timeout) {
  silent_server peer;
  io_thread io;
  client_config cfg;
  cfg.heartbeat =
      heartbeat_config{std::chrono::milliseconds(200), std::chrono::milliseconds(100), 0.0};
  client c(io.ioc, cfg);
  channel<client_event> ev;
  record(c, ev);
  ASSERT_FALSE(c.connect(url(peer.l.port())));
  ASSERT_TRUE(peer.go_silent());
  next_of(ev, ce::opened);
  EXPECT_EQ(next_of(ev, ce::closed).close,
            cev(close_code::abnormal, "", false, initiator::none, error::heartbeat_timeout));
}

TEST(flow_control, probe_needs_an_open_connection_and_a_short_payload) {
  io_thread io;
  echo_server es(io.ioc);
  client c(io.ioc);
  EXPECT_EQ(c.probe(), error::not_open);
  channel<client_event> ev;
  record(c, ev);
  ASSERT_FALSE(c.connect(url(es.srv.port())));
  next_of(ev, ce::opened);
  EXPECT_EQ(c.probe(std::string(126, 'p')), error::invalid_argument);
  ASSERT_FALSE(c.probe("are you there"));
  EXPECT_EQ(next_of(ev, ce::pong).data, "are you there");
  ASSERT_FALSE(c.close());
  next_of(ev, ce::closed);
}

}  // namespace
}  // namespace closewise::net

// TCP and TLS teardown with two in-memory peers (tests/net/transport_support.hpp):
// each side a proto::connection and a transport_lifecycle, joined by a model
// of TCP (FIN, RST on close with unread input) and TLS (close_notify). Frames
// byte for byte, states and socket closes in order, then every teardown again
// with a fault injected at step n = 0, 1, 2, ... (Beast's habit).
#include "../../src/net/transport_lifecycle.hpp"

#include <gtest/gtest.h>

#include <sstream>

#include "closewise/error.hpp"
#include "net/transport_support.hpp"

namespace closewise::net {
namespace {

using namespace test;
using strings = std::vector<std::string>;

std::string hex(std::string_view s) {
  std::ostringstream o;
  static const char* digits = "0123456789abcdef";
  for (std::size_t i = 0; i < s.size(); ++i) {
    const auto c = static_cast<unsigned char>(s[i]);
    o << (i ? " " : "") << digits[c >> 4] << digits[c & 15];
  }
  return o.str();
}

close_event cev(close_code code, std::string reason, bool clean, initiator who,
                std::error_code why = {}) {
  return close_event{code, std::move(reason), clean, who, why};
}

std::string trace(const tpeer& p) {
  std::string s = p.name + " (" + std::string(detail::to_string(p.lc.state())) + "):";
  for (const auto& l : p.log) s += " [" + l + "]";
  return s;
}

std::string trace(const world& w) { return trace(w.client) + "\n" + trace(w.server); }

/// Every peer that did not hang ended exactly once, with its socket closed
/// and no timer left; a clean end carries no error and an unclean one says why.
void expect_ended(const world& w) {
  for (const tpeer* p : {&w.client, &w.server}) {
    if (p->frozen) continue;
    EXPECT_TRUE(p->done()) << trace(w);
    EXPECT_EQ(p->reports, 1) << trace(w);
    EXPECT_EQ(p->fails, 0) << trace(w);
    EXPECT_FALSE(p->socket_open) << trace(w);
    EXPECT_TRUE(p->timers.empty()) << trace(w);
    EXPECT_EQ(p->ev.was_clean, !p->ev.error) << trace(w) << "\n" << p->ev.error.message();
  }
}

/// `who` sends "hi" and closes with 1000 "bye"; the other side echoes.
void start_close(world& w, tpeer& who) {
  ASSERT_FALSE(who.conn->send_text("hi"));
  ASSERT_FALSE(who.conn->close(close_code::normal, "bye"));
  w.settle(who);
}

// ------------------------------------------------------------------- TCP --

TEST(transport_teardown, tcp_client_closes_server_closes_tcp_first) {
  world w(false);
  w.open_both();
  ASSERT_FALSE(w.client.conn->close(close_code::normal, ""));
  w.settle(w.client);
  // RFC 6455 §5.5.1: a masked close 1000 (key 00 00 00 00).
  EXPECT_EQ(hex(w.to_server.bytes), "88 82 00 00 00 00 03 e8");
  EXPECT_EQ(w.client.lc.state(), transport_state::open);
  EXPECT_TRUE(w.client.timers.armed(timer_kind::close));

  ASSERT_TRUE(w.step());  // the server reads the close, echoes it and closes TCP first
  EXPECT_EQ(hex(w.to_client.bytes), "88 02 03 e8");
  EXPECT_TRUE(w.to_client.fin);
  EXPECT_EQ(w.server.lc.state(), transport_state::done);
  EXPECT_EQ(w.server.ev, cev(close_code::normal, "", true, initiator::remote));

  ASSERT_TRUE(w.step());  // the client reads the echo: lingering for the FIN
  EXPECT_EQ(w.client.lc.state(), transport_state::lingering);
  EXPECT_TRUE(w.client.timers.armed(timer_kind::linger));
  ASSERT_TRUE(w.step());  // ... which is already there
  EXPECT_TRUE(w.run());
  expect_ended(w);
  EXPECT_EQ(w.client.ev, cev(close_code::normal, "", true, initiator::local));
  EXPECT_EQ(w.closes, (strings{"server", "client"})) << "TIME_WAIT must land on the server";
}

TEST(transport_teardown, tcp_server_closes_and_still_closes_tcp_first) {
  world w(false);
  w.open_both();
  start_close(w, w.server);
  EXPECT_EQ(hex(w.to_client.bytes), "81 02 68 69 88 05 03 e8 62 79 65");
  EXPECT_TRUE(w.run());
  expect_ended(w);
  EXPECT_EQ(w.client.messages, strings{"hi"});
  EXPECT_EQ(w.client.ev, cev(close_code::normal, "bye", true, initiator::remote));
  EXPECT_EQ(w.server.ev, cev(close_code::normal, "", true, initiator::local));
  EXPECT_EQ(w.closes, (strings{"server", "client"}));
  // The client's echo reached a server that waited for it; nobody was reset.
  EXPECT_FALSE(w.to_client.reset);
  EXPECT_FALSE(w.to_server.reset);
}

TEST(transport_teardown, simultaneous_close_is_clean_on_both_sides_and_the_server_closes_first) {
  world w(false);
  w.open_both();
  ASSERT_FALSE(w.client.conn->close(close_code::normal, "c"));
  ASSERT_FALSE(w.server.conn->close(close_code::normal, "s"));
  w.settle(w.client);
  w.settle(w.server);
  EXPECT_TRUE(w.run());
  expect_ended(w);
  EXPECT_EQ(w.client.ev, cev(close_code::normal, "s", true, initiator::local));
  EXPECT_EQ(w.server.ev, cev(close_code::normal, "c", true, initiator::local));
  EXPECT_EQ(w.closes.front(), "server");
}

// RFC 6455 §7.1.7: a client that fails the connection half-closes after its
// close frame, discards what still arrives and closes on the server's EOF.
// The server's data, still in flight, does not turn the close into a RST.
TEST(transport_teardown, client_fails_the_connection_half_closes_and_drains) {
  world w(false);
  w.open_both();
  w.to_client.bytes = std::string("\x83\x00", 2);  // reserved opcode 3: 1002
  ASSERT_TRUE(w.step());
  EXPECT_EQ(w.client.lc.state(), transport_state::half_closed);
  EXPECT_TRUE(w.client.write_shut);
  EXPECT_TRUE(w.to_server.fin);
  // The 1002 close with its reason, masked (key 00 00 00 00), then our FIN.
  EXPECT_EQ(w.to_server.bytes, std::string("\x88\x91\0\0\0\0\x03\xea", 8) + "reserved opcode");
  ASSERT_FALSE(w.server.conn->send_text("late"));  // the server sends before it reads the close
  w.settle(w.server);
  EXPECT_TRUE(w.run());
  expect_ended(w);
  EXPECT_EQ(w.client.ev, cev(close_code::protocol_error, "reserved opcode", false, initiator::local,
                             error::bad_opcode));
  // The server read our close frame whole: a clean close with 1002, not a reset.
  EXPECT_EQ(w.server.ev,
            cev(close_code::protocol_error, "reserved opcode", true, initiator::remote));
  EXPECT_FALSE(w.to_server.reset);
  EXPECT_EQ(w.client.log.back(), "report");
}

TEST(transport_teardown, server_fails_the_connection_half_closes_and_lingers) {
  world w(false);
  w.open_both();
  w.to_server.bytes = std::string("\x81\x01x", 3);  // an unmasked client frame: 1002
  ASSERT_TRUE(w.step());
  EXPECT_EQ(w.server.lc.state(), transport_state::half_closed);
  EXPECT_TRUE(w.server.timers.armed(timer_kind::linger));
  EXPECT_EQ(w.to_client.bytes,
            "\x88\x0f\x03\xea"
            "wrong masking");
  EXPECT_TRUE(w.to_client.fin);
  EXPECT_TRUE(w.run());
  expect_ended(w);
  EXPECT_EQ(w.server.ev, cev(close_code::protocol_error, "wrong masking", false, initiator::local,
                             error::bad_masking));
  EXPECT_EQ(w.client.ev, cev(close_code::protocol_error, "wrong masking", true, initiator::remote));
  EXPECT_FALSE(w.to_client.reset);
}

TEST(transport_teardown, failed_connection_whose_peer_never_closes_ends_at_the_linger) {
  world w(false);
  w.open_both();
  w.client.frozen = true;  // reads nothing, closes nothing
  w.to_server.bytes = std::string("\x81\x01x", 3);
  EXPECT_TRUE(w.run());
  EXPECT_TRUE(w.server.done()) << trace(w);
  EXPECT_EQ(w.server.reports, 1);
  // The server's linger is 1 s: close_linger is a client setting.
  EXPECT_EQ(w.now - (deadline_table::time_point{} + std::chrono::hours(1)), milliseconds(1000));
  EXPECT_EQ(w.server.ev.error, error::bad_masking);
}

TEST(transport_teardown, close_timeout_when_the_peer_never_answers) {
  world w(false);
  w.open_both();
  w.server.frozen = true;
  ASSERT_FALSE(w.client.conn->close(close_code::normal, ""));
  w.settle(w.client);
  EXPECT_TRUE(w.run());
  expect_ended(w);
  EXPECT_EQ(w.client.ev,
            cev(close_code::abnormal, "", false, initiator::local, error::close_timeout));
  EXPECT_EQ(w.now - (deadline_table::time_point{} + std::chrono::hours(1)), milliseconds(500));
}

TEST(transport_teardown, drain_timeout_when_the_peer_stops_reading_our_echo) {
  world w(false);
  w.open_both();
  w.server.window_closed = true;  // the client does not read: the echo cannot leave
  ASSERT_FALSE(w.client.conn->close(close_code::normal, ""));
  w.settle(w.client);
  ASSERT_TRUE(w.step());
  EXPECT_EQ(w.server.lc.state(), transport_state::draining);
  EXPECT_TRUE(w.server.timers.armed(timer_kind::drain));
  w.client.frozen = true;
  EXPECT_TRUE(w.run());
  expect_ended(w);
  EXPECT_EQ(w.server.ev,
            cev(close_code::normal, "", false, initiator::remote, error::close_timeout));
}

TEST(transport_teardown, client_whose_server_never_closes_tcp_closes_after_its_linger) {
  world w(false);
  w.open_both();
  ASSERT_FALSE(w.client.conn->close(close_code::normal, ""));
  w.settle(w.client);
  // A server that echoes and then hangs: the echo arrives, the FIN never does.
  w.to_client.bytes = "\x88\x02\x03\xe8";
  w.server.frozen = true;
  EXPECT_TRUE(w.run());
  expect_ended(w);
  EXPECT_EQ(w.client.ev, cev(close_code::normal, "", true, initiator::local));
  EXPECT_EQ(w.now - (deadline_table::time_point{} + std::chrono::hours(1)), milliseconds(300));
  EXPECT_EQ(w.closes, strings{"client"});
}

TEST(transport_teardown, abort_while_open_is_1006_and_the_peer_sees_eof) {
  world w(false);
  w.open_both();
  w.apply(w.client, w.client.lc.abort(error::aborted));
  w.settle(w.client);
  EXPECT_TRUE(w.run());
  expect_ended(w);
  EXPECT_EQ(w.client.ev, cev(close_code::abnormal, "", false, initiator::none, error::aborted));
  EXPECT_EQ(w.server.ev,
            cev(close_code::abnormal, "", false, initiator::none, error::eof_without_close));
}

// ------------------------------------------------------------------- TLS --

// RFC 8446 §6.1 and RFC 6455 §7.1.1 together: the server sends close_notify
// after the close exchange, the client answers with its own and still waits
// for the server to close TCP first.
TEST(transport_teardown, tls_client_closes_close_notify_both_ways_server_closes_first) {
  world w(true);
  w.open_both();
  start_close(w, w.client);
  EXPECT_TRUE(w.run());
  expect_ended(w);
  EXPECT_EQ(w.server.ev, cev(close_code::normal, "bye", true, initiator::remote));
  EXPECT_EQ(w.client.ev, cev(close_code::normal, "", true, initiator::local));
  EXPECT_EQ(w.closes, (strings{"server", "client"}));
  EXPECT_TRUE(w.to_client.close_notify);
  EXPECT_TRUE(w.to_server.close_notify) << "the client answered the server's close_notify";
  const auto has = [](const tpeer& p, const std::string& what) {
    return std::find(p.log.begin(), p.log.end(), what) != p.log.end();
  };
  EXPECT_TRUE(has(w.server, "stop_reading"));
  EXPECT_TRUE(has(w.server, "arm linger 500ms"));  // min(close_timeout, 1 s)
  EXPECT_TRUE(has(w.client, "tls_shutdown"));
  EXPECT_TRUE(has(w.client, "await_fin"));
  EXPECT_FALSE(has(w.client, "shutdown_send"));
}

TEST(transport_teardown, tls_server_closes_the_same_way) {
  world w(true);
  w.open_both();
  start_close(w, w.server);
  EXPECT_TRUE(w.run());
  expect_ended(w);
  EXPECT_EQ(w.client.ev, cev(close_code::normal, "bye", true, initiator::remote));
  EXPECT_EQ(w.server.ev, cev(close_code::normal, "", true, initiator::local));
  EXPECT_EQ(w.closes, (strings{"server", "client"}));
  EXPECT_TRUE(w.to_server.close_notify);
}

// A TLS server that is not closewise closes TCP without close_notify: the
// client's answer finds nobody, and the close stays clean.
TEST(transport_teardown, tls_server_without_close_notify_still_ends_the_client_clean) {
  world w(true);
  w.open_both();
  ASSERT_FALSE(w.client.conn->close(close_code::normal, ""));
  w.settle(w.client);
  // That server reads the close, echoes it and closes TCP at once.
  w.to_server.bytes.clear();
  w.to_client.bytes = "\x88\x02\x03\xe8";
  w.server.frozen = true;
  w.close_socket(w.server);
  EXPECT_FALSE(w.to_client.close_notify);
  EXPECT_TRUE(w.run());
  expect_ended(w);
  EXPECT_EQ(w.client.ev, cev(close_code::normal, "", true, initiator::local));
  EXPECT_TRUE(w.to_server.close_notify) << "the client still answered";
}

TEST(transport_teardown, tls_client_that_never_answers_close_notify_is_closed_after_the_linger) {
  world w(true);
  w.open_both();
  start_close(w, w.server);
  ASSERT_TRUE(w.step());  // the client reads the message and the close, and echoes it
  ASSERT_TRUE(w.step());  // the server reads the echo: close_notify out
  EXPECT_EQ(w.server.lc.state(), transport_state::tls_shutdown);
  w.client.frozen = true;
  EXPECT_TRUE(w.run());
  expect_ended(w);
  EXPECT_EQ(w.server.ev, cev(close_code::normal, "", true, initiator::local));
}

TEST(transport_teardown, tls_failed_connection_lingers_without_half_close) {
  world w(true);
  w.open_both();
  w.to_server.bytes = std::string("\x81\x01x", 3);
  ASSERT_TRUE(w.step());
  EXPECT_EQ(w.server.lc.state(), transport_state::half_closed);
  EXPECT_FALSE(w.server.write_shut) << "TLS cannot half-close below its records";
  EXPECT_TRUE(w.run());
  expect_ended(w);
  EXPECT_EQ(w.server.ev.error, error::bad_masking);
}

// ------------------------------------------------------ faults at step n --

enum class fault { network_reset, client_crash, server_crash, client_timers, server_timers };

const char* name(fault f) {
  switch (f) {
    case fault::network_reset:
      return "network_reset";
    case fault::client_crash:
      return "client_crash";
    case fault::server_crash:
      return "server_crash";
    case fault::client_timers:
      return "client_timers";
    case fault::server_timers:
      return "server_timers";
  }
  return "?";
}

void inject(world& w, fault f) {
  auto crash = [&](tpeer& p) {
    if (p.done()) return;
    p.frozen = true;
    w.close_socket(p);  // the kernel closes the socket of a process that died
  };
  auto expire = [&](tpeer& p) {
    if (!p.timers.empty()) w.fire_due(p, p.timers.earliest());
  };
  switch (f) {
    case fault::network_reset:
      world::reset(w.to_client);
      world::reset(w.to_server);
      break;
    case fault::client_crash:
      crash(w.client);
      break;
    case fault::server_crash:
      crash(w.server);
      break;
    case fault::client_timers:
      expire(w.client);
      break;
    case fault::server_timers:
      expire(w.server);
      break;
  }
}

struct fault_case {
  bool tls;
  bool client_initiates;
};

class transport_faults : public testing::TestWithParam<fault_case> {};

/// Steps the fault-free close takes; every n up to it gets each fault.
int steps_without_fault(const fault_case& c) {
  world w(c.tls);
  w.open_both();
  start_close(w, c.client_initiates ? w.client : w.server);
  EXPECT_TRUE(w.run());
  expect_ended(w);
  EXPECT_TRUE(w.client.ev.was_clean) << trace(w);
  EXPECT_TRUE(w.server.ev.was_clean) << trace(w);
  EXPECT_EQ(w.closes.front(), "server") << trace(w);
  return w.steps;
}

TEST_P(transport_faults, every_step_ends_each_live_side_exactly_once) {
  const auto c = GetParam();
  const int n_max = steps_without_fault(c);
  ASSERT_GT(n_max, 2);
  for (fault f : {fault::network_reset, fault::client_crash, fault::server_crash,
                  fault::client_timers, fault::server_timers}) {
    for (int n = 0; n <= n_max; ++n) {
      SCOPED_TRACE(std::string(name(f)) + " at step " + std::to_string(n));
      world w(c.tls);
      w.open_both();
      start_close(w, c.client_initiates ? w.client : w.server);
      for (int i = 0; i < n; ++i) (void)w.step();
      inject(w, f);
      ASSERT_TRUE(w.run()) << trace(w);
      expect_ended(w);
      // The message before the close arrives at most once, and only before the close.
      tpeer& receiver = c.client_initiates ? w.server : w.client;
      EXPECT_LE(receiver.messages.size(), 1u);
      if (receiver.ev.was_clean && !receiver.frozen) {
        EXPECT_EQ(receiver.messages, strings{"hi"});
      }
    }
  }
}

INSTANTIATE_TEST_SUITE_P(all, transport_faults,
                         testing::Values(fault_case{false, true}, fault_case{false, false},
                                         fault_case{true, true}, fault_case{true, false}),
                         [](const testing::TestParamInfo<fault_case>& i) {
                           return std::string(i.param.tls ? "tls" : "tcp") +
                                  (i.param.client_initiates ? "_client_closes" : "_server_closes");
                         });

}  // namespace
}  // namespace closewise::net

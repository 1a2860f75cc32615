// Promises the documents make that no other test proved over a real network:
// the strike limit with a non-zero min_uptime, 1015 on a failed certificate
// verification stopping the reconnecting client, credential refresh after a
// 1008 (once per streak), the hand-back of what was still in closewise's write
// buffer at an unclean death, the server's close timeout, and a close racing a
// send (already_closing / not_sent).
#include "closewise/net/reconnecting_client.hpp"

#include <gtest/gtest.h>

#include <iostream>

#include "closewise/error.hpp"
#include "net/fault_support.hpp"

namespace closewise::net::test {
namespace {

using namespace std::chrono_literals;
using ce = client_event;

/// A closewise server that reports each opened session to the test, which
/// then decides how and when it ends.
struct manual_server {
  explicit manual_server(boost::asio::io_context& ioc, server_config cfg = {})
      : srv(ioc, std::move(cfg)) {
    srv.on_open([this](session& s) { opened.push(s.shared()); });
    srv.on_message(
        [](session& s, proto::message_kind k, std::string_view p) { (void)s.send(k, p); });
    srv.on_close([this](session&, const closewise::close_event& e) { closes.push(e); });
  }
  std::string url() const { return "ws://127.0.0.1:" + std::to_string(srv.port()) + "/"; }
  channel<std::shared_ptr<session>> opened;
  channel<closewise::close_event> closes;
  server srv;
};

// --------------------------------------------------------- strike limit --

/// ARCHITECTURE §3, RS: stop after 3 consecutive identical closes that never
/// reached min_uptime; docs/reconnect.md: an attempt open at least min_uptime
/// starts a new streak. min_uptime here is 500 ms, not the scaled tests' 0.
TEST(promises, strike_limit_stops_three_quick_1002s_and_a_long_connection_starts_a_new_streak) {
  io_thread server_io;
  manual_server ms(server_io.ioc);
  ASSERT_FALSE(ms.srv.listen("127.0.0.1", 0));
  io_thread io;
  channel<rc_event> ch;
  auto cfg = test_config();
  cfg.policy.min_uptime = 500ms;
  reconnecting_client c(io.ioc, cfg);
  record(c, ch);
  ASSERT_FALSE(c.connect(ms.url()));

  // How the server ends each connection: at once, or after `after`.
  auto end_next = [&](milliseconds after) {
    auto s = ms.opened.pop();
    ASSERT_TRUE(s);
    expect_next(ch, rc_event::reconnected);
    expect_next(ch, rc_event::open);
    if (after > 0ms) std::this_thread::sleep_for(after);  // the uptime itself is the subject
    ASSERT_FALSE((*s)->close_endpoint(close_code::protocol_error, "bad frame"));
    EXPECT_EQ(expect_next(ch, rc_event::close).close_ev,
              closed_with(close_code::protocol_error, "bad frame", true, initiator::remote));
  };

  // Streak 1: two quick 1002s are retried, attempts 1 and 2.
  for (std::uint32_t n = 1; n <= 2; ++n) {
    SCOPED_TRACE(n);
    auto s = ms.opened.pop();
    ASSERT_TRUE(s);
    if (n > 1) expect_next(ch, rc_event::reconnected);
    expect_next(ch, rc_event::open);
    ASSERT_FALSE((*s)->close_endpoint(close_code::protocol_error, "bad frame"));
    expect_next(ch, rc_event::close);
    const auto sch = expect_next(ch, rc_event::scheduled);
    EXPECT_EQ(sch.attempt, n);
    EXPECT_EQ(sch.cause, "1002 Protocol error");
  }
  // The third connection stays up past min_uptime before its 1002: not a
  // strike, and the retry counter starts again (attempt 1).
  end_next(700ms);
  auto sch = expect_next(ch, rc_event::scheduled);
  EXPECT_EQ(sch.attempt, 1u) << "a connection up for min_uptime starts a new streak";
  // Streak 2: three quick identical closes, and the third stops it.
  for (std::uint32_t n = 1; n <= 3; ++n) {
    SCOPED_TRACE("streak 2, close " + std::to_string(n));
    end_next(0ms);
    if (n < 3) {
      sch = expect_next(ch, rc_event::scheduled);
      EXPECT_EQ(sch.attempt, n + 1);
    }
  }
  const auto g = expect_next(ch, rc_event::give_up);
  EXPECT_EQ(g.summary.reason.rfind("1002", 0), 0u) << g.summary.reason;
  EXPECT_NE(g.summary.reason.find("3 identical closes in a row"), std::string::npos)
      << g.summary.reason;
  std::cout << "[ promises ] strike limit: \"" << g.summary.reason << "\"\n";
  EXPECT_EQ(c.get_state(), reconnect_state::stopped);
  EXPECT_FALSE(ch.pop(200ms)) << "no attempt after the give-up";
}

// -------------------------------------------------------- 1015 verify --

TEST(promises, tls_1015_with_a_certificate_that_fails_verification_stops_the_reconnecting_client) {
  temp_dir dir;
  test_certs certs(dir.path());
  if (!certs.ok) {
    if (in_ci()) FAIL() << "could not make test certificates with openssl";
    GTEST_SKIP() << "openssl command unavailable";
  }
  io_thread server_io;
  server_config scfg;
  scfg.tls = tls_server_options{};
  scfg.tls->cert_file = certs.server_cert.string();
  scfg.tls->key_file = certs.server_key.string();
  server srv(server_io.ioc, scfg);
  ASSERT_FALSE(srv.listen("127.0.0.1", 0));
  const std::string url = "wss://127.0.0.1:" + std::to_string(srv.port()) + "/";
  io_thread io;
  {
    channel<rc_event> ch;
    auto cfg = test_config();
    cfg.connection.tls.ca_file = certs.other_ca.string();  // not the server's CA
    reconnecting_client c(io.ioc, cfg);
    record(c, ch);
    ASSERT_FALSE(c.connect(url));
    EXPECT_EQ(expect_next(ch, rc_event::error).ec, error::tls_verify_failed);
    EXPECT_EQ(expect_next(ch, rc_event::close).close_ev,
              closed_with(close_code::tls_handshake, "", false, initiator::none,
                          error::tls_verify_failed));
    const auto g = expect_next(ch, rc_event::give_up);
    EXPECT_EQ(g.summary.attempts, 1u);
    std::cout << "[ promises ] verification failure: \"" << g.summary.reason << "\"\n";
    EXPECT_FALSE(ch.pop(300ms)) << "never retried";
  }
  {
    // Any other TLS failure retries (ARCHITECTURE §3: 1015 is S only on verification).
    raw_listener not_tls;  // accepts, then closes: the TLS handshake fails without a verdict
    channel<rc_event> ch;
    auto cfg = test_config();
    cfg.connection.tls.ca_file = certs.ca.string();
    cfg.connection.handshake_timeout = 300ms;
    reconnecting_client c(io.ioc, cfg);
    record(c, ch);
    ASSERT_FALSE(c.connect("wss://127.0.0.1:" + std::to_string(not_tls.port()) + "/"));
    { auto peer = not_tls.accept(); }  // closed at once
    const auto err = expect_next(ch, rc_event::error);
    EXPECT_NE(err.ec, error::tls_verify_failed) << err.ec.message();
    expect_next(ch, rc_event::close);
    EXPECT_EQ(expect_next(ch, rc_event::scheduled).attempt, 1u);
    ASSERT_FALSE(c.close());
  }
}

// ------------------------------------------------- credential refresh --

TEST(promises, credential_refresh_after_1008_over_the_wire_once_per_streak) {
  io_thread server_io;
  manual_server ms(server_io.ioc);
  // Anything without the fresh token is closed with 1008 as soon as it opens.
  ms.srv.on_open([&](session& s) {
    const auto auth = s.request().headers.get("Authorization");
    if (!auth || *auth != "Bearer fresh") {
      EXPECT_FALSE(s.close_endpoint(close_code::policy_violation, "token expired"));
    }
    ms.opened.push(s.shared());
  });
  ASSERT_FALSE(ms.srv.listen("127.0.0.1", 0));
  io_thread io;
  channel<rc_event> ch;
  auto cfg = test_config();
  cfg.policy.min_uptime = 10s;  // every close below belongs to one streak
  cfg.connection.extra_headers.fields.emplace_back("Authorization", "Bearer stale");
  reconnecting_client c(io.ioc, cfg);
  record(c, ch);
  std::atomic<int> hook_calls{0};
  c.on_credentials_refresh([&](const policy::outcome& o) -> std::optional<proto::http_headers> {
    ++hook_calls;
    const auto* ev = std::get_if<closewise::close_event>(&o);
    EXPECT_TRUE(ev && ev->code == close_code::policy_violation);
    proto::http_headers h;
    h.fields.emplace_back("Authorization", "Bearer fresh");
    return h;
  });
  ASSERT_FALSE(c.connect(ms.url()));
  expect_next(ch, rc_event::open);
  EXPECT_EQ(expect_next(ch, rc_event::close).close_ev,
            closed_with(close_code::policy_violation, "token expired", true, initiator::remote));
  const auto s = expect_next(ch, rc_event::scheduled);
  EXPECT_EQ(s.cause.rfind("1008", 0), 0u) << s.cause;
  expect_next(ch, rc_event::reconnected);
  expect_next(ch, rc_event::open);
  EXPECT_EQ(hook_calls.load(), 1);
  (void)ms.opened.pop();  // the stale one
  auto fresh = ms.opened.pop();
  ASSERT_TRUE(fresh);
  EXPECT_EQ((*fresh)->request().headers.get("Authorization"), "Bearer fresh");
  // A second 1008 in the same streak: the refresh was spent, so it stops.
  ASSERT_FALSE((*fresh)->close_endpoint(close_code::policy_violation, "revoked"));
  expect_next(ch, rc_event::close);
  const auto g = expect_next(ch, rc_event::give_up);
  EXPECT_NE(g.summary.reason.find("already refreshed"), std::string::npos) << g.summary.reason;
  EXPECT_EQ(hook_calls.load(), 1) << "once per streak";
}

// ---------------------------------------- hand-back after unclean death --

/// docs/reconnect.md, "Queued messages": after an unclean death, what closewise
/// still had in its write buffer is handed back with not_sent ("may have
/// arrived"); what was still in the queue is sent after the reconnect; only
/// bytes already written to the kernel are at most once.
TEST(promises, unclean_death_hands_back_what_was_still_in_the_write_buffer) {
  faulty_path path;
  io_thread io;
  channel<rc_event> ch;
  auto cfg = fault_client_config();
  // The death is the network_changed() probe's (500 ms grace), so the test
  // picks its moment: once the write buffer surely holds messages.
  cfg.heartbeat = heartbeat_config{30s, 500ms, 0.0};
  cfg.queue.max_messages = 4096;
  cfg.queue.max_bytes = 64 << 20;
  reconnecting_client c(io.ioc, cfg);
  record(c, ch, false);
  c.on_undelivered([&](std::vector<queued_message> m, std::error_code ec) {
    path.book.handed_back(m, true);
    rc_event e{rc_event::undelivered};
    e.msgs = std::move(m);
    e.ec = ec;
    ch.push(std::move(e));
  });
  ASSERT_FALSE(c.connect(path.relay->url()));
  expect_next(ch, rc_event::open);
  path.relay->blackhole(60s);  // healed by the test once the death is seen
  // 8 MiB at once: more than the kernel's buffers take on loopback (about
  // 3.5 MiB were seen) plus the 1 MiB window, so messages wait in the queue
  // while the window holds handed messages closewise has not seen written.
  constexpr int n = 64;
  for (int i = 0; i < n; ++i) {
    std::string m(128 * 1024, static_cast<char>('a' + i % 26));
    m.replace(0, std::to_string(i).size() + 1, std::to_string(i) + ":");
    ASSERT_FALSE(c.send_binary(m));
    path.book.sent(m);
  }
  // queued() > 0 and steady: the window is full of messages that have not
  // left closewise's write buffer (it forgets them only once it saw it empty).
  const auto until = steady::now() + 10s;
  std::size_t q = c.queued();
  for (;;) {
    std::this_thread::sleep_for(100ms);
    const std::size_t now = c.queued();
    if (now > 0 && now == q) break;
    q = now;
    ASSERT_LT(steady::now(), until) << "the queue never settled; queued " << now;
  }
  ASSERT_GT(q, 0u) << "all 8 MiB left closewise: the kernel took more than expected";
  c.network_changed();  // ping, and 500 ms later an unclean death
  const auto u = expect_next(ch, rc_event::undelivered, 5s);
  EXPECT_EQ(u.ec, error::not_sent);
  ASSERT_FALSE(u.msgs.empty()) << "the write buffer was not empty at the death";
  EXPECT_EQ(
      expect_next(ch, rc_event::close).close_ev,
      closed_with(close_code::abnormal, "", false, initiator::none, error::heartbeat_timeout));
  // Handed back in send order, a contiguous run.
  const auto first = std::stoi(u.msgs.front().data.substr(0, u.msgs.front().data.find(':')));
  for (std::size_t i = 0; i < u.msgs.size(); ++i) {
    EXPECT_EQ(u.msgs[i].data.substr(0, u.msgs[i].data.find(':')),
              std::to_string(first + static_cast<int>(i)));
  }
  std::cout << "[ promises ] unclean death: messages " << first << ".."
            << first + static_cast<int>(u.msgs.size()) - 1 << " handed back (not_sent), "
            << c.queued() << " still queued, " << first
            << " before them handed to the kernel (at most once)\n";
  // After the heal, the queue goes out on the next connection.
  path.relay->heal();
  std::optional<rc_event> open;
  while (!open) {
    auto e = ch.pop(10s);
    ASSERT_TRUE(e) << "no reconnect after the heal";
    if (e->type == rc_event::open) open = *e;
  }
  const std::size_t rest = static_cast<std::size_t>(n - first) - u.msgs.size();
  const int first_queued = first + static_cast<int>(u.msgs.size());
  // The ids received from the queued run on (the relay may also pass on, late,
  // bytes the dead connection had left in the kernel: those are other ids).
  auto tail = [&] {
    std::vector<std::string> t;
    for (const auto& m : path.book.received_list()) {
      if (std::stoi(m.substr(0, m.find(':'))) >= first_queued)
        t.push_back(m.substr(0, m.find(':')));
    }
    return t;
  };
  const auto deadline = steady::now() + 20s;
  while (tail().size() < rest && steady::now() < deadline) std::this_thread::sleep_for(20ms);
  ASSERT_FALSE(c.close());
  // Every message after the handed-back run arrived, in order, exactly once.
  const auto t = tail();
  ASSERT_EQ(t.size(), rest);
  for (std::size_t i = 0; i < t.size(); ++i)
    EXPECT_EQ(t[i], std::to_string(first_queued + static_cast<int>(i)));
  const auto got = path.book.received_list();
  // Nothing arrived twice.
  std::set<std::string> uniq(got.begin(), got.end());
  EXPECT_EQ(uniq.size(), got.size());
}

// ------------------------------------------------- server close timeout --

TEST(promises, server_close_timeout_when_the_client_never_answers) {
  io_thread io;
  server_config cfg;
  cfg.close_timeout = 300ms;
  event_server es(io.ioc, cfg);
  ASSERT_TRUE(es.listen());
  auto mute = raw_upgraded(es.port());  // reads nothing, answers nothing
  ASSERT_TRUE(mute);
  ASSERT_TRUE(es.opened.wait_for(1));
  const auto t0 = steady::now();
  ASSERT_FALSE(es.srv.sessions().front()->close_endpoint(close_code::going_away, "bye"));
  const auto c = es.closes.pop();
  ASSERT_TRUE(c);
  const auto took = ms_between(t0, steady::now());
  EXPECT_EQ(c->ev, cev(close_code::abnormal, "", false, initiator::local, error::close_timeout));
  EXPECT_GE(took, 300ms);
  EXPECT_LT(took, 300ms + 500ms) << "timers fire late, not this late";
  // The client was sent the close frame: 88 05 03 e9 "bye".
  const std::string frame(
      "\x88\x05\x03\xe9"
      "bye",
      7);
  EXPECT_NE(mute->recv_until(frame, 2000ms).find(frame), std::string::npos);
}

// ---------------------------------------------- a close racing a send --

TEST(promises, a_send_racing_the_close_is_refused_or_reported_never_sent_after_the_close_frame) {
  io_thread server_io;
  event_server es(server_io.ioc);
  std::mutex mu;
  std::vector<std::string> got;
  es.on_message_hook = [&](session&, proto::message_kind, std::string_view p) {
    std::lock_guard lock(mu);
    got.emplace_back(p);
  };
  ASSERT_TRUE(es.listen());
  io_thread io;
  channel<client_event> ev;
  client c(io.ioc);
  record(c, ev);
  ASSERT_FALSE(c.connect(es.url()));
  next_of(ev, ce::opened);
  ASSERT_FALSE(c.send_text("before"));
  {
    // Both calls are made before the connection's thread runs either: the
    // close is first in line, so the send finds the close frame already sent.
    io_hold hold(io.ioc);
    ASSERT_FALSE(c.close(close_code::normal, "racing"));
    EXPECT_FALSE(c.send_text("raced")) << "accepted from another thread, to be reported";
  }
  // RFC 6455 §5.5.1: no data after our close frame. The raced message is not
  // sent, and the application is told so rather than left guessing.
  EXPECT_EQ(next_of(ev, ce::errored).ec, error::not_sent);
  EXPECT_EQ(next_of(ev, ce::closed).close, cev(close_code::normal, "", true, initiator::local));
  // Once the close was seen, a send is refused at once.
  EXPECT_EQ(c.send_text("late"), error::not_open);
  ASSERT_TRUE(es.closes.pop());
  std::lock_guard lock(mu);
  EXPECT_EQ(got, std::vector<std::string>{"before"});
}

TEST(promises, a_send_after_close_on_the_connections_own_thread_is_already_closing) {
  io_thread io;
  event_server es(io.ioc);
  channel<std::error_code> server_side;
  es.on_message_hook = [&](session& s, proto::message_kind, std::string_view) {
    EXPECT_FALSE(s.close_endpoint(close_code::going_away));
    server_side.push(s.send_text("after close"));
  };
  ASSERT_TRUE(es.listen());
  channel<client_event> ev;
  channel<std::error_code> client_side;
  client c(io.ioc);
  record(c, ev);
  c.on_message([&](proto::message_kind, std::string_view) {
    EXPECT_FALSE(c.close());
    client_side.push(c.send_text("after close"));
  });
  ASSERT_FALSE(c.connect(es.url()));
  next_of(ev, ce::opened);
  // The client closes inside its own callback, then sends.
  ASSERT_TRUE(es.srv.sessions().size() == 1);
  ASSERT_FALSE(es.srv.sessions().front()->send_text("trigger client"));
  EXPECT_EQ(client_side.pop(), make_error_code(error::already_closing));
  EXPECT_EQ(next_of(ev, ce::closed).close.code, close_code::normal);
  // And a server session does the same inside its own callback.
  client c2(io.ioc);
  channel<client_event> ev2;
  record(c2, ev2);
  ASSERT_FALSE(c2.connect(es.url()));
  next_of(ev2, ce::opened);
  ASSERT_FALSE(c2.send_text("trigger server"));
  EXPECT_EQ(server_side.pop(), make_error_code(error::already_closing));
  EXPECT_EQ(next_of(ev2, ce::closed).close,
            cev(close_code::going_away, "", true, initiator::remote));
}

}  // namespace
}  // namespace closewise::net::test

// Resume over real sockets (docs/resume.md §10, issue 13 part B): a
// reconnecting client and a closewise server with a memory store, through the
// fault relay, stream numbered messages both ways while the connection is
// reset or blackholed. Every message must be delivered exactly once, in
// order, on both sides, and none handed back. Also: a resume the server can
// no longer honour (a new process, an empty store) hands every unacked
// message back with the distinct error, and a plain python-websockets client
// still works against a resume-enabled server.
#include "closewise/net/resume.hpp"

#include <gtest/gtest.h>

#include <time.h>

#include <atomic>
#include <condition_variable>
#include <fstream>
#include <future>
#include <mutex>
#include <thread>

#include "closewise/error.hpp"
#include "net/fault_relay.hpp"
#include "net/reconnect_support.hpp"
#include "net/resume_support.hpp"

namespace closewise::net::test {
namespace {

using namespace std::chrono_literals;
using resume::client_outcome_kind;

reconnecting_client_config resume_config() { return resumable(); }

/// Sends 1..n from its own thread, at most `window` ahead of the echoes, so
/// every fault lands mid-stream; a full send queue waits for room.
/// Message i: its number, then `pad` bytes of 'p' (what stoi stops at).
std::string numbered(int i, std::size_t pad) { return std::to_string(i) + std::string(pad, 'p'); }

std::thread send_numbers(reconnecting_client& c, resume_ledger& l, int n, int window = 256,
                         std::size_t pad = 0) {
  return std::thread([&c, &l, n, window, pad] {
    for (int i = 1; i <= n; ++i) {
      if (!l.wait([&](auto& x) { return static_cast<int>(x.at_client.size()) + window >= i; })) {
        ADD_FAILURE() << "no echo for 30 s before message " << i;
        return;
      }
      for (;;) {
        const auto ec = c.send_text(numbered(i, pad));
        if (!ec) break;
        if (ec != error::queue_full) {
          ADD_FAILURE() << "send " << i << ": " << ec.message();
          return;
        }
        std::this_thread::yield();
      }
    }
  });
}

/// A store whose sessions never ack by themselves (by count, bytes or time).
resume::memory_store_options never_acking() {
  resume::memory_store_options o;
  o.session.acks.every_messages = 1'000'000;
  o.session.acks.every_bytes = std::size_t{1} << 40;
  o.session.acks.delay = std::chrono::hours(1);
  return o;
}

/// A new echo server (fresh memory store) on the port of one just destroyed:
/// the old acceptor closes on its executor, so the port is free a moment later.
std::unique_ptr<resume_echo_server> echo_server_on(boost::asio::io_context& ioc, resume_ledger& l,
                                                   std::uint16_t port) {
  std::unique_ptr<resume_echo_server> s;
  for (int i = 0; i < 500; ++i) {
    s = std::make_unique<resume_echo_server>(ioc, l, std::make_shared<resume::memory_store>(),
                                             port);
    if (s->ec != std::errc::address_in_use) break;
    std::this_thread::sleep_for(10ms);
  }
  return s;
}

/// How far a send's age stamp (CLOCK_MONOTONIC_COARSE, docs/resume.md §4.3)
/// may lag the steady clock: one tick as clock_getres gives it, and on a VM
/// the tick itself runs late (seen: 4.7 ms behind with a 4 ms tick), so two.
std::chrono::nanoseconds coarse_tick() {
  timespec res{};
  ::clock_getres(CLOCK_MONOTONIC_COARSE, &res);
  return 2 * (std::chrono::seconds(res.tv_sec) + std::chrono::nanoseconds(res.tv_nsec));
}

/// The server's resume failures, by cause (docs/metrics.md, "Resume").
class resume_failure_log final : public metrics::observer {
 public:
  void resume_failed(metrics::role r, std::string_view cause) override {
    if (r != metrics::role::server) return;
    std::lock_guard lock(mu_);
    causes_.emplace_back(cause);
  }
  std::vector<std::string> causes() const {
    std::lock_guard lock(mu_);
    return causes_;
  }

 private:
  mutable std::mutex mu_;
  std::vector<std::string> causes_;
};

std::size_t count_resumed(resume_ledger& l) {
  std::size_t n = 0;
  for (const auto& o : l.outcomes) n += o.kind == client_outcome_kind::resumed;
  return n;
}

/// Streams `total` messages each way through `relay`; `fault(k)` runs once
/// the server has `k` of them, for each k in `at`, and must cut the connection.
void stream_through_faults(int total, const std::vector<int>& at,
                           const std::function<void(fault_relay&, int)>& fault,
                           reconnecting_client_config cfg, std::size_t pad = 0, int window = 256,
                           bool owned_echo = false) {
  io_thread io(2);
  resume_ledger l;
  resume_echo_server srv(io.ioc, l, std::make_shared<resume::memory_store>(), 0, nullptr,
                         owned_echo);
  ASSERT_FALSE(srv.ec);
  fault_relay relay("127.0.0.1", srv.port());
  reconnecting_client c(io.ioc, cfg);
  wire(c, l);
  std::atomic<int> bad_echoes{0};
  if (pad != 0) {
    // Every echo byte for byte: the number, then exactly `pad` bytes of 'p'.
    c.on_message([&l, &bad_echoes, pad](proto::message_kind, std::string_view p) {
      const std::size_t digits = p.find('p');
      if (digits == std::string_view::npos || p.size() != digits + pad ||
          p.find_first_not_of('p', digits) != std::string_view::npos)
        ++bad_echoes;
      l.client_got(p);
    });
  }
  ASSERT_FALSE(c.connect(relay.url()));
  std::thread sender = send_numbers(c, l, total, window, pad);
  std::size_t resumes = 0;
  for (int k : at) {
    ASSERT_TRUE(l.wait([k](auto& x) { return static_cast<int>(x.at_server.size()) >= k; }))
        << "the server never reached " << k;
    fault(relay, k);
    // The fault must cut the connection and the session must come back.
    ++resumes;
    ASSERT_TRUE(l.wait([&](auto& x) { return count_resumed(x) >= resumes; }))
        << "no resume after the fault at " << k;
  }
  const bool all = l.wait([total](auto& x) {
    return static_cast<int>(x.at_server.size()) >= total &&
           static_cast<int>(x.at_client.size()) >= total;
  });
  sender.join();
  std::lock_guard lock(l.mu);
  EXPECT_TRUE(all) << "server " << l.at_server.size() << ", client " << l.at_client.size();
  EXPECT_TRUE(exactly_once_in_order(l.at_server, total));
  EXPECT_TRUE(exactly_once_in_order(l.at_client, total));
  EXPECT_TRUE(l.handed_back.empty()) << l.handed_back.size() << " handed back";
  ASSERT_FALSE(l.outcomes.empty());
  EXPECT_EQ(l.outcomes.front().kind, client_outcome_kind::fresh);
  resume::seq replayed = 0;
  for (std::size_t i = 1; i < l.outcomes.size(); ++i) {
    EXPECT_EQ(l.outcomes[i].kind, client_outcome_kind::resumed) << "connection " << i;
    replayed += l.outcomes[i].replay_in + l.outcomes[i].replay_out;
  }
  // With up to 256 messages in flight, a cut always strands some: the
  // replays, not luck, carried them.
  EXPECT_GT(replayed, 0u);
  EXPECT_EQ(bad_echoes.load(), 0);
}

TEST(resume_net, memory_store_10000_each_way_across_tcp_resets) {
  // Resets in both directions: once the client's frames are cut, once the server's.
  stream_through_faults(
      10'000, {2'000, 5'000, 8'000},
      [](fault_relay& r, int k) {
        r.reset_after(k == 5'000 ? direction::downstream : direction::upstream, 0);
      },
      resume_config());
}

TEST(resume_net, large_echoes_are_forwarded_without_a_copy_and_replayed_byte_exactly) {
  // 20 KiB messages are assembled in the connection's own buffer, so the
  // server's echo gives that buffer to its replay buffer instead of copying
  // it (docs/design-notes.md, "Zero-copy forwarding"), and the next message
  // is received into a spare. The echo server reads each payload again after
  // its send; resets in both directions make replays carry some echoes.
  stream_through_faults(
      600, {150, 300, 450},
      [](fault_relay& r, int k) {
        r.reset_after(k == 300 ? direction::downstream : direction::upstream, 0);
      },
      resume_config(), std::size_t{20} << 10, 64);
}

TEST(resume_net, owned_strings_are_kept_by_the_replay_buffers_and_replayed_byte_exactly) {
  // Both sides give up their strings: the client's sender passes each
  // numbered string as an rvalue (send_numbers), which its queue and then its
  // replay buffer keep, and the server echoes a string of its own with
  // send(kind, std::string&&). Payloads of 2 KiB live in strings, not slots.
  stream_through_faults(
      2'000, {500, 1'000, 1'500},
      [](fault_relay& r, int k) {
        r.reset_after(k == 1'000 ? direction::downstream : direction::upstream, 0);
      },
      resume_config(), std::size_t{2} << 10, 128, true);
}

// A string literal, a view and an lvalue string pick the copying overload, an
// rvalue string the owning one; none of them is ambiguous.
static_assert(requires(client & c, session& s, reconnecting_client& r, std::string str) {
  c.send_text("literal");
  c.send_text(std::string_view("view"));
  c.send_text(str);
  c.send_text(std::move(str));
  c.send(proto::message_kind::binary, std::move(str));
  s.send_binary("literal");
  s.send_binary(std::move(str));
  r.send_text("literal");
  r.send_text(str);
  r.send_text(std::move(str));
});

TEST(resume_net, an_owned_send_that_is_refused_leaves_the_string_with_the_caller) {
  io_thread io;
  auto cfg = test_config();
  cfg.queue = {4, 64, overflow_policy::reject};
  reconnecting_client c(io.ioc, cfg);  // never connected: sends wait in the queue
  std::string fits(60, 'a');
  EXPECT_FALSE(c.send_binary(std::move(fits)));
  std::string too_many(10, 'b');
  EXPECT_EQ(c.send_binary(std::move(too_many)), error::queue_full);
  EXPECT_EQ(too_many, std::string(10, 'b'));
  std::string too_big(65, 'c');
  EXPECT_EQ(c.send_text(std::move(too_big)), error::queue_full);
  EXPECT_EQ(too_big, std::string(65, 'c'));
  EXPECT_EQ(c.queued(), 1u);
}

TEST(resume_net, memory_store_survives_a_blackhole_through_heartbeat_death) {
  // A blackhole sends no RST or FIN: only the client's heartbeat finds it
  // (interval + grace = 300 ms). The server still holds the half-open
  // connection, so the resume preempts it (docs/resume.md §6.1). 2,000
  // messages: the heartbeat death, not the volume, is under test.
  auto cfg = resume_config();
  cfg.heartbeat.interval = 150ms;
  cfg.heartbeat.grace = 150ms;
  stream_through_faults(
      2'000, {500}, [](fault_relay& r, int) { r.blackhole(1000ms); }, cfg);
}

// docs/resume.md §6.1: a path that heals can deliver, late, the handshake of
// an attempt the client gave up on. Here that handshake is replayed by hand:
// the live connection's own offer, attempt=1, sent again. It is not newer than
// the attempt the store took, so it gets 409 and changes nothing: the live
// connection carries on, and the client's next real attempt resumes as usual.
TEST(resume_net, a_late_handshake_of_an_abandoned_attempt_gets_409_and_the_live_connection_stays) {
  io_thread io(2);
  resume_ledger l;
  auto failures = std::make_shared<resume_failure_log>();
  resume_echo_server srv(io.ioc, l, std::make_shared<resume::memory_store>(), 0, failures);
  ASSERT_FALSE(srv.ec);
  std::mutex mu;
  std::vector<std::string> offers;  // each request's Sec-WebSocket-Extensions
  srv.srv->on_connect([&](const proto::upgrade_request& r) {
    std::lock_guard lock(mu);
    offers.push_back(r.extensions);
    return accept_decision::accepted();
  });
  fault_relay relay("127.0.0.1", srv.port());
  reconnecting_client c(io.ioc, resume_config());
  wire(c, l);
  ASSERT_FALSE(c.connect(relay.url()));
  ASSERT_FALSE(c.send_text("1"));
  ASSERT_TRUE(l.wait([](auto& x) { return x.at_client.size() >= 1; }));
  relay.reset_after(direction::downstream, 0);
  ASSERT_FALSE(c.send_text("2"));
  ASSERT_TRUE(l.wait([](auto& x) { return count_resumed(x) >= 1 && x.at_client.size() >= 2; }));
  std::string live_offer;
  {
    std::lock_guard lock(mu);
    ASSERT_EQ(offers.size(), 2u);
    live_offer = offers[1];
  }
  ASSERT_NE(live_offer.find("; attempt=1"), std::string::npos) << live_offer;

  raw_tcp late;
  ASSERT_TRUE(late.connect(srv.port()));
  ASSERT_TRUE(
      late.send("GET / HTTP/1.1\r\nHost: 127.0.0.1\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
                "Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n"
                "Sec-WebSocket-Extensions: " +
                live_offer + "\r\n\r\n"));
  const std::string resp = late.recv_until("\r\n\r\n");
  EXPECT_EQ(resp.rfind("HTTP/1.1 409", 0), 0u) << resp;
  EXPECT_NE(resp.find("Closewise-Resume-Status: stale\r\n"), std::string::npos) << resp;
  EXPECT_EQ(failures->causes(), std::vector<std::string>{"stale"}) << "docs/metrics.md, \"Resume\"";

  // The live connection was not touched: the next echo comes on it, and no
  // new connection or resume happened.
  ASSERT_FALSE(c.send_text("3"));
  ASSERT_TRUE(l.wait([](auto& x) { return x.at_client.size() >= 3; }));
  {
    std::lock_guard lock(l.mu);
    EXPECT_EQ(l.outcomes.size(), 2u);
  }
  EXPECT_EQ(relay.accepted(), 2u);
  // The client's next real attempt (2) is newer: it resumes.
  relay.reset_after(direction::downstream, 0);
  ASSERT_FALSE(c.send_text("4"));
  ASSERT_TRUE(l.wait([](auto& x) { return count_resumed(x) >= 2 && x.at_client.size() >= 4; }));
  std::lock_guard lock(l.mu);
  EXPECT_TRUE(exactly_once_in_order(l.at_client, 4));
  EXPECT_TRUE(exactly_once_in_order(l.at_server, 4));
  EXPECT_TRUE(l.handed_back.empty());
  std::lock_guard offers_lock(mu);
  ASSERT_EQ(offers.size(), 4u) << "the late one is counted too";
  EXPECT_NE(offers[3].find("; attempt=2"), std::string::npos) << offers[3];
}

TEST(resume_net, a_lost_session_hands_every_unacked_message_back) {
  io_thread io(2);
  resume_ledger l;
  // The first server never acknowledges (so all 100 stay unacked at the client).
  const resume::memory_store_options never_ack = never_acking();
  auto a = std::make_unique<resume_echo_server>(io.ioc, l,
                                                std::make_shared<resume::memory_store>(never_ack));
  ASSERT_FALSE(a->ec);
  const auto port = a->port();
  reconnecting_client c(io.ioc, resume_config());
  wire(c, l);
  ASSERT_FALSE(c.connect("ws://127.0.0.1:" + std::to_string(port) + "/"));
  for (int i = 1; i <= 100; ++i) ASSERT_FALSE(c.send_text(std::to_string(i)));
  ASSERT_TRUE(l.wait([](auto& x) { return x.at_client.size() >= 100; }));
  // The server process "dies": every connection aborted, its memory store gone.
  a.reset();
  auto b = echo_server_on(io.ioc, l, port);
  ASSERT_FALSE(b->ec) << b->ec.message();
  ASSERT_TRUE(l.wait([](auto& x) { return x.outcomes.size() >= 2; }));
  {
    std::lock_guard lock(l.mu);
    const auto& o = l.outcomes[1];
    EXPECT_EQ(o.kind, client_outcome_kind::refused);
    EXPECT_EQ(o.status, resume::resume_status::unknown);
    EXPECT_TRUE(o.gap);
    EXPECT_TRUE(exactly_once_in_order(l.handed_back, 100));
    ASSERT_EQ(l.why.size(), 1u);
    EXPECT_EQ(l.why[0], error::resume_unknown);
  }
  // Nothing is sent again by itself: the next message is the first B sees.
  ASSERT_FALSE(c.send_text("101"));
  ASSERT_TRUE(l.wait([](auto& x) { return x.at_server.size() >= 101; }));
  std::lock_guard lock(l.mu);
  EXPECT_TRUE(exactly_once_in_order(l.at_server, 101));
}

TEST(resume_net, a_session_detached_past_its_max_age_expires_on_the_client_and_hands_back) {
  // docs/resume.md §4.3: while the server is unreachable the client keeps
  // reconnecting; once its oldest unacked message is older than max_age the
  // session is over on this side too. The next attempt hands the messages
  // back with resume_expired and offers a fresh session.
  io_thread io(2);
  resume_ledger l;
  auto a = std::make_unique<resume_echo_server>(
      io.ioc, l, std::make_shared<resume::memory_store>(never_acking()));
  ASSERT_FALSE(a->ec);
  const auto port = a->port();
  auto cfg = resume_config();
  cfg.resume->replay.max_age = 400ms;
  reconnecting_client c(io.ioc, cfg);
  wire(c, l);
  ASSERT_FALSE(c.connect("ws://127.0.0.1:" + std::to_string(port) + "/"));
  const auto sent = std::chrono::steady_clock::now();  // no later than the sends' stamps + a tick
  for (int i = 1; i <= 3; ++i) ASSERT_FALSE(c.send_text(std::to_string(i)));
  ASSERT_TRUE(l.wait([](auto& x) { return x.at_client.size() >= 3; }));
  a.reset();  // gone, and nothing listens on the port: every attempt is refused
  ASSERT_TRUE(l.wait([](auto& x) { return !x.why.empty(); }));
  const auto expired = std::chrono::steady_clock::now();
  {
    std::lock_guard lock(l.mu);
    ASSERT_EQ(l.why.size(), 1u);
    EXPECT_EQ(l.why[0], error::resume_expired);
    EXPECT_TRUE(exactly_once_in_order(l.handed_back, 3));
  }
  EXPECT_GE(expired - sent, 400ms - coarse_tick()) << "handed back before max_age";
  // A new server on the port: the client's next offer is a fresh session.
  auto b = echo_server_on(io.ioc, l, port);
  ASSERT_FALSE(b->ec) << b->ec.message();
  ASSERT_TRUE(l.wait([](auto& x) { return x.outcomes.size() >= 2; }));
  {
    std::lock_guard lock(l.mu);
    EXPECT_EQ(l.outcomes[1].kind, client_outcome_kind::fresh);
  }
  ASSERT_FALSE(c.send_text("4"));
  ASSERT_TRUE(l.wait([](auto& x) { return x.at_server.size() >= 4; }));
  std::lock_guard lock(l.mu);
  EXPECT_TRUE(exactly_once_in_order(l.at_server, 4));
  EXPECT_EQ(l.why.size(), 1u) << "nothing else handed back";
}

TEST(resume_net, an_open_connection_whose_peer_acks_nothing_for_max_age_is_aborted) {
  // docs/resume.md §4.3: the server never acknowledges, so the client's
  // message stays unacked on an open connection. At max_age the client
  // aborts with resume_ack_timeout (1006). The message is then max_age old,
  // so the next attempt expires the session: it comes back with
  // resume_expired (the server may or may not have it: here it does) and a
  // fresh session starts.
  io_thread io(2);
  resume_ledger l;
  resume_echo_server a(io.ioc, l, std::make_shared<resume::memory_store>(never_acking()));
  ASSERT_FALSE(a.ec);
  auto cfg = resume_config();
  cfg.resume->replay.max_age = 300ms;
  reconnecting_client c(io.ioc, cfg);
  wire(c, l);
  std::vector<close_event> closes;
  c.on_close([&](const close_event& e) {
    std::lock_guard lock(l.mu);
    closes.push_back(e);
    l.cv.notify_all();
  });
  ASSERT_FALSE(c.connect("ws://127.0.0.1:" + std::to_string(a.port()) + "/"));
  const auto sent = std::chrono::steady_clock::now();
  ASSERT_FALSE(c.send_text("1"));
  ASSERT_TRUE(l.wait([&](auto&) { return !closes.empty(); }));
  const auto aborted = std::chrono::steady_clock::now();
  ASSERT_TRUE(l.wait([](auto& x) { return x.outcomes.size() >= 2 && !x.why.empty(); }));
  std::lock_guard lock(l.mu);
  EXPECT_EQ(closes[0].code, close_code::abnormal);
  EXPECT_EQ(closes[0].error, error::resume_ack_timeout) << closes[0].error.message();
  EXPECT_FALSE(closes[0].was_clean);
  EXPECT_GE(aborted - sent, 300ms - coarse_tick());
  EXPECT_LT(aborted - sent, 10s);
  EXPECT_EQ(l.outcomes[1].kind, client_outcome_kind::fresh);
  EXPECT_EQ(l.handed_back, std::vector<int>{1});
  ASSERT_EQ(l.why.size(), 1u);
  EXPECT_EQ(l.why[0], error::resume_expired);
  EXPECT_EQ(l.at_server, std::vector<int>{1});
}

TEST(resume_net, a_close_the_server_starts_acks_first_so_a_lost_session_hands_nothing_back) {
  io_thread io(2);
  resume_ledger l;
  // The server never acks by itself: only the ack it sends before its own close
  // frame can tell the client that messages 1..10 arrived.
  const resume::memory_store_options never_ack = never_acking();
  server_config cfg;
  cfg.resume_store = std::make_shared<resume::memory_store>(never_ack);
  auto srv = std::make_unique<server>(io.ioc, cfg);
  srv->on_message([&l](session& s, proto::message_kind, std::string_view p) {
    l.server_got(p);
    // RFC 6455 §7.4.1 1012, with a 2 s hint the client honours: time for the
    // "restart" below to replace the server (and its store) before it returns.
    if (p == "10") {
      EXPECT_FALSE(s.close_endpoint(close_code::service_restart, "retry-after=2"));
    }
  });
  ASSERT_FALSE(srv->listen("127.0.0.1", 0));
  const auto port = srv->port();
  reconnecting_client c(io.ioc, resume_config());
  wire(c, l);
  channel<close_event> closes;
  c.on_close([&](const close_event& ev) { closes.push(ev); });
  ASSERT_FALSE(c.connect("ws://127.0.0.1:" + std::to_string(port) + "/"));
  for (int i = 1; i <= 10; ++i) ASSERT_FALSE(c.send_text(std::to_string(i)));
  const auto ev = closes.pop();
  ASSERT_TRUE(ev);
  EXPECT_EQ(ev->code, close_code::service_restart);
  EXPECT_TRUE(ev->was_clean);
  // The restart loses the memory store: the resume will be refused as unknown.
  srv.reset();
  std::unique_ptr<server> fresh;
  for (int i = 0; i < 500; ++i) {
    server_config c2;
    c2.resume_store = std::make_shared<resume::memory_store>();
    fresh = std::make_unique<server>(io.ioc, c2);
    if (fresh->listen("127.0.0.1", port) != std::errc::address_in_use) break;
    std::this_thread::sleep_for(10ms);
  }
  ASSERT_TRUE(l.wait([](auto& x) { return x.outcomes.size() >= 2; })) << "no second connection";
  std::lock_guard lock(l.mu);
  EXPECT_EQ(l.outcomes[1].kind, client_outcome_kind::refused);
  EXPECT_TRUE(exactly_once_in_order(l.at_server, 10));
  // Acked before the close: known delivered, so not handed back as "maybe lost".
  EXPECT_TRUE(l.handed_back.empty()) << l.handed_back.size() << " handed back";
}

TEST(resume_net, a_server_session_sends_from_another_thread_while_it_receives) {
  // A server link in memory counts received messages without the session
  // lock (docs/design-notes.md, "The replay buffer as a ring, and one lock
  // per echo"); another thread's sends take it. Both directions stream at
  // once, from threads of their own, and each must arrive exactly once, in
  // order (under ThreadSanitizer, the race detector checks the split too).
  constexpr int n = 3000;
  io_thread io(2);
  resume_ledger l;
  server_config cfg;
  cfg.resume_store = std::make_shared<resume::memory_store>();
  server srv(io.ioc, cfg);
  std::promise<std::shared_ptr<session>> opened;
  std::atomic<int> opens{0};
  srv.on_open([&](session& s) {
    if (opens.fetch_add(1) == 0) opened.set_value(s.shared());  // a second is checked below
  });
  srv.on_message([&l](session&, proto::message_kind, std::string_view p) { l.server_got(p); });
  ASSERT_FALSE(srv.listen("127.0.0.1", 0));
  reconnecting_client c(io.ioc, resume_config());
  wire(c, l);
  ASSERT_FALSE(c.connect("ws://127.0.0.1:" + std::to_string(srv.port()) + "/"));
  auto f = opened.get_future();
  ASSERT_EQ(f.wait_for(30s), std::future_status::ready);
  const std::shared_ptr<session> s = f.get();
  std::thread server_sender([&] {
    for (int i = 1; i <= n; ++i) {
      for (;;) {
        const auto ec = s->send_text(std::to_string(i));
        if (!ec) break;
        // A replay buffer full of unacked messages refuses (the caller keeps it).
        if (ec != error::replay_buffer_full) {
          ADD_FAILURE() << "server send " << i << ": " << ec.message();
          return;
        }
        std::this_thread::yield();
      }
    }
  });
  for (int i = 1; i <= n; ++i) ASSERT_FALSE(c.send_text(std::to_string(i)));
  const bool all = l.wait([](auto& x) {
    return static_cast<int>(x.at_server.size()) >= n && static_cast<int>(x.at_client.size()) >= n;
  });
  server_sender.join();
  std::lock_guard lock(l.mu);
  EXPECT_TRUE(all) << "server " << l.at_server.size() << ", client " << l.at_client.size();
  EXPECT_TRUE(exactly_once_in_order(l.at_server, n));
  EXPECT_TRUE(exactly_once_in_order(l.at_client, n));
  EXPECT_TRUE(l.handed_back.empty());
  ASSERT_EQ(l.outcomes.size(), 1u);
  EXPECT_EQ(l.outcomes.front().kind, client_outcome_kind::fresh);
  EXPECT_EQ(opens.load(), 1) << "one connection throughout";
}

/// A resumable client that never acks by itself (count, bytes or time) gets
/// 10 echoes, then `end` ends it with a close frame carrying `code`, which
/// ends the session on the server. Only the ack sent before that close frame
/// (docs/resume.md §5.2) tells the server the echoes arrived; without it the
/// server would hand the 10 back as "maybe lost". `l` is the client's ledger.
void expect_the_server_hands_nothing_back(
    const std::function<void(std::unique_ptr<reconnecting_client>&)>& end, close_code code,
    resume_ledger& l) {
  io_thread io(2);
  std::mutex mu;
  std::vector<std::size_t> handed_back;  // per server hand-back event
  channel<close_event> server_closes;
  server_config cfg;
  cfg.resume_store = std::make_shared<resume::memory_store>();
  cfg.on_resume = [&](session&, server_resume_event& ev) {
    if (ev.status != resume::resume_status::ended) return;
    std::lock_guard lock(mu);
    handed_back.push_back(ev.handed_back.size());
  };
  server srv(io.ioc, cfg);
  srv.on_message([&l](session& s, proto::message_kind k, std::string_view p) {
    EXPECT_FALSE(s.send(k, p));
    l.server_got(p);
  });
  srv.on_close([&](session&, const close_event& ev) { server_closes.push(ev); });
  ASSERT_FALSE(srv.listen("127.0.0.1", 0));
  reconnecting_client_config ccfg = resume_config();
  ccfg.resume->acks = never_acking().session.acks;
  auto c = std::make_unique<reconnecting_client>(io.ioc, ccfg);
  wire(*c, l);
  ASSERT_FALSE(c->connect("ws://127.0.0.1:" + std::to_string(srv.port()) + "/"));
  for (int i = 1; i <= 10; ++i) ASSERT_FALSE(c->send_text(std::to_string(i)));
  ASSERT_TRUE(l.wait([](auto& x) { return x.at_client.size() >= 10; })) << "no 10 echoes";
  end(c);
  const auto ev = server_closes.pop();
  ASSERT_TRUE(ev);
  EXPECT_EQ(ev->code, code);
  EXPECT_TRUE(ev->was_clean);
  // The session ended on the server before its on_close: any hand-back came first.
  std::lock_guard lock(mu);
  EXPECT_TRUE(handed_back.empty()) << (handed_back.empty() ? 0 : handed_back.front())
                                   << " echoes handed back that the client had";
  std::lock_guard ll(l.mu);
  EXPECT_TRUE(exactly_once_in_order(l.at_client, 10));
}

TEST(resume_net, a_close_the_client_starts_acks_first_so_the_server_hands_nothing_back) {
  resume_ledger l;
  expect_the_server_hands_nothing_back(
      [](auto& c) { ASSERT_FALSE(c->close(close_code::normal, "done")); }, close_code::normal, l);
  std::lock_guard ll(l.mu);
  EXPECT_TRUE(l.handed_back.empty());
}

TEST(resume_net, a_destroyed_client_acks_before_its_1001_so_the_server_hands_nothing_back) {
  // Destroyed instead: its connection's 1001 ends the session on the server,
  // and the ack before it must be taken before the client's own session ends.
  resume_ledger l;
  expect_the_server_hands_nothing_back([](auto& c) { c.reset(); }, close_code::going_away, l);
  // The client's own session ended with it: whatever its server had not
  // acked came back as resume_ended (the echoes' acks may still be on the way).
  std::lock_guard ll(l.mu);
  for (const auto& why : l.why) EXPECT_EQ(why, error::resume_ended);
}

/// A store that holds every create and attach until release() (or forever).
class held_store final : public resume::session_store {
 public:
  bool durable() const noexcept override { return false; }
  void create(std::string, preempt_handler, open_handler done) override { hold(std::move(done)); }
  void attach(const resume::session_id&, std::string, preempt_handler, open_handler done) override {
    hold(std::move(done));
  }
  void commit(const resume::commit_batch&, done_handler done) override { done({}); }
  void detach(session_ptr, detach_handler done) override { done({}, {}); }
  void end(const resume::session_id&, std::uint64_t, done_handler done) override { done({}); }
  void touch(const resume::session_id&, std::uint64_t, done_handler done) override { done({}); }
  bool wait_held(std::size_t n) {
    std::unique_lock l(mu_);
    return cv_.wait_for(l, 10s, [&] { return held_.size() >= n; });
  }
  /// Answers every held request with `ec` (no session).
  void release(std::error_code ec) {
    std::vector<open_handler> h;
    {
      std::lock_guard l(mu_);
      h.swap(held_);
    }
    for (auto& d : h) d(ec, nullptr);
  }

 private:
  void hold(open_handler done) {
    std::lock_guard l(mu_);
    held_.push_back(std::move(done));
    cv_.notify_all();
  }
  std::mutex mu_;
  std::condition_variable cv_;
  std::vector<open_handler> held_;
};

TEST(resume_net, a_shutdown_ends_even_while_the_store_still_holds_a_handshake) {
  // The session is linked before the store answers, so the shutdown counts
  // it. Its close cannot go out before the 101; the drain deadline aborts
  // it, and the summary must come. Before the fix it never came, and a
  // `closewise serve --resume` against a Redis that answered nonsense ignored
  // SIGTERM.
  for (const bool answer_late : {false, true}) {
    io_thread io(2);
    auto store = std::make_shared<held_store>();
    server_config scfg;
    scfg.resume_store = store;
    server srv(io.ioc, scfg);
    ASSERT_FALSE(srv.listen("127.0.0.1", 0));
    auto cfg = resume_config();
    cfg.policy.max_attempts = 0;
    reconnecting_client c(io.ioc, cfg);
    ASSERT_FALSE(c.connect("ws://127.0.0.1:" + std::to_string(srv.port()) + "/"));
    ASSERT_TRUE(store->wait_held(1));
    std::promise<shutdown_summary> got;
    shutdown_options so;
    so.drain_deadline = 300ms;
    srv.shutdown(so, [&](const shutdown_summary& s) { got.set_value(s); });
    // Late: the store answers (unavailable) after the shutdown started, before
    // its deadline; the refusal ends the session. Otherwise the deadline does.
    if (answer_late) store->release(error::resume_store_unavailable);
    auto f = got.get_future();
    ASSERT_EQ(f.wait_for(10s), std::future_status::ready) << "no shutdown summary";
    const auto sum = f.get();
    EXPECT_EQ(sum.total, 1u);
    EXPECT_EQ(sum.clean, 0u);
    EXPECT_EQ(sum.clean + sum.aborted + sum.failed, 1u);
    store->release(error::resume_store_unavailable);  // a request the abort left behind
  }
}

TEST(resume_net, python_websockets_gets_plain_websocket_from_a_resume_server) {
  if (!run_quiet("/usr/bin/python3 -c 'import websockets'")) {
    if (in_ci()) FAIL() << "python3-websockets is not installed (run scripts/deps.sh)";
    GTEST_SKIP() << "python3-websockets is not installed";
  }
  io_thread io(1);
  resume_ledger l;
  resume_echo_server srv(io.ioc, l, std::make_shared<resume::memory_store>());
  ASSERT_FALSE(srv.ec);
  temp_dir dir;
  const auto script = dir.path() / "plain.py";
  std::ofstream(script) << R"(import asyncio, sys, websockets
async def main(url):
    async with websockets.connect(url) as ws:
        if ws.response_headers.get("Sec-WebSocket-Extensions") is not None:
            sys.exit(3)
        await ws.send("7")
        sys.exit(0 if await ws.recv() == "7" else 4)
asyncio.run(main(sys.argv[1]))
)";
  const int rc = std::system(("/usr/bin/python3 " + script.string() +
                              " ws://127.0.0.1:" + std::to_string(srv.port()) + "/")
                                 .c_str());
  EXPECT_EQ(rc, 0) << "3: an extension was answered; 4: the echo differed";
  std::lock_guard lock(l.mu);
  EXPECT_EQ(l.at_server, std::vector<int>{7});
}

}  // namespace
}  // namespace closewise::net::test

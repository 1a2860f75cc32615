// Graceful shutdown and restart (issue 6): 1001/1012 to every connection, the
// drain deadline, the summary's exact counts, spread closes, refusals during
// shutdown, and broadcast to all or a filtered set of sessions.
#include "closewise/net/server.hpp"

#include <gtest/gtest.h>

#include <algorithm>
#include <iostream>
#include <map>
#include <optional>
#include <string>
#include <tuple>
#include <utility>

#include "closewise/error.hpp"
#include "closewise/net/reconnecting_client.hpp"
#include "net/lifecycle_support.hpp"
#include "net/reconnect_support.hpp"

namespace closewise::net {
namespace {

using namespace test;
using namespace std::chrono_literals;
using ce = client_event;
using steady = std::chrono::steady_clock;

/// Many closewise clients on one io_context, with their close events tallied.
class client_fleet {
 public:
  client_fleet(boost::asio::io_context& ioc, const std::string& url, std::size_t n) {
    clients_.reserve(n);
    for (std::size_t i = 0; i < n; ++i) {
      auto c = std::make_unique<client>(ioc);
      c->on_open([this](const open_info&) { opened.add(); });
      c->on_close([this](const closewise::close_event& e) {
        {
          std::lock_guard lock(mu_);
          ++tally_[std::make_tuple(to_int(e.code), e.reason, e.was_clean, e.initiator)];
          close_times_.push_back(steady::now());
        }
        closed.add();
      });
      EXPECT_FALSE(c->connect(url));
      clients_.push_back(std::move(c));
    }
  }
  using key = std::tuple<std::uint16_t, std::string, bool, initiator>;
  std::map<key, std::size_t> tally() const {
    std::lock_guard lock(mu_);
    return tally_;
  }
  std::vector<steady::time_point> close_times() const {
    std::lock_guard lock(mu_);
    return close_times_;
  }
  counter opened;
  counter closed;

 private:
  mutable std::mutex mu_;
  std::map<key, std::size_t> tally_;
  std::vector<steady::time_point> close_times_;
  std::vector<std::unique_ptr<client>> clients_;
};

/// Every one of `n` clients saw `code`/`reason` as a clean remote close.
void expect_all_clean(const client_fleet& f, std::size_t n, close_code code,
                      const std::string& reason) {
  const auto t = f.tally();
  ASSERT_EQ(t.size(), 1u);
  EXPECT_EQ(t.begin()->first, client_fleet::key(to_int(code), reason, true, initiator::remote));
  EXPECT_EQ(t.begin()->second, n);
}

constexpr std::size_t fleet_size = 1000;

void shutdown_fleet(close_code code, const std::string& reason, std::chrono::milliseconds spread) {
  ASSERT_GE(raise_nofile(), 2 * fleet_size + 64) << "RLIMIT_NOFILE too low for the test";
  io_thread server_io;
  io_thread client_io;
  event_server es(server_io.ioc);
  ASSERT_TRUE(es.listen());
  client_fleet fleet(client_io.ioc, es.url(), fleet_size);
  ASSERT_TRUE(fleet.opened.wait_for(fleet_size, 30s));
  ASSERT_TRUE(es.opened.wait_for(fleet_size, 30s));
  EXPECT_EQ(es.srv.session_count(), fleet_size);

  shutdown_options opts;
  opts.code = code;
  opts.reason = reason;
  opts.drain_deadline = 20s;  // generous: every client cooperates, none should need it
  opts.spread = spread;
  const auto t0 = steady::now();
  const auto sum = es.srv.shutdown_and_wait(opts);
  EXPECT_FALSE(sum.error) << sum.error.message();
  EXPECT_EQ(sum.total, fleet_size);
  EXPECT_EQ(sum.clean, fleet_size);
  EXPECT_EQ(sum.aborted, 0u);
  EXPECT_EQ(sum.failed, 0u);
  EXPECT_LT(sum.elapsed, opts.drain_deadline);
  // The summary comes after every session's on_close.
  EXPECT_EQ(es.closed_count.get(), fleet_size);
  EXPECT_EQ(es.srv.session_count(), 0u);
  ASSERT_TRUE(fleet.closed.wait_for(fleet_size, 30s));
  expect_all_clean(fleet, fleet_size, code, reason);

  if (spread.count() > 0) {
    // Stratified spread: the closes cover the window, about evenly.
    auto times = fleet.close_times();
    std::sort(times.begin(), times.end());
    EXPECT_GE(times.back() - times.front(), spread * 3 / 4);
    std::array<std::size_t, 4> quarter{};
    for (auto t : times) {
      const auto q = static_cast<std::size_t>((t - t0) * 4 / spread);
      ++quarter[std::min<std::size_t>(q, 3)];
    }
    std::cout << "[ spread ] quarters " << quarter[0] << " " << quarter[1] << " " << quarter[2]
              << " " << quarter[3] << ", first to last close "
              << std::chrono::duration_cast<std::chrono::milliseconds>(times.back() - times.front())
                     .count()
              << " ms (spread " << spread.count() << " ms)\n";
    // Close times are taken in the clients' on_close, on one io thread. Under
    // TSan with both cores busy that thread fell up to ~500 ms behind an 800 ms
    // window, emptying whole quarters (seen: 0 60 127 813; 1 run in 5 failed
    // a fleet/8 bound). The window is now 2 s and each quarter must hold
    // fleet/16: still failed by closes sent all at once (one quarter, a first
    // to last span far under 3/4 of the window) or by half the window unused.
    for (std::size_t q : quarter) {
      EXPECT_GE(q, fleet_size / 16) << "quarters " << quarter[0] << " " << quarter[1] << " "
                                    << quarter[2] << " " << quarter[3];
    }
  }
}

TEST(server_lifecycle, shutdown_1001_reaches_1000_clients_all_clean) {
  shutdown_fleet(close_code::going_away, "server shutting down", 0ms);
}

TEST(server_lifecycle, restart_1012_spread_over_a_window_reaches_1000_clients_all_clean) {
  shutdown_fleet(close_code::service_restart, "retry-after=1", 2000ms);
}

TEST(server_lifecycle, peers_that_never_answer_are_aborted_at_the_deadline) {
  io_thread server_io;
  io_thread client_io;
  server_config cfg;
  cfg.close_timeout = 20s;  // so only the drain deadline can end them
  event_server es(server_io.ioc, cfg);
  ASSERT_TRUE(es.listen());
  constexpr std::size_t good = 20, silent = 10;
  client_fleet fleet(client_io.ioc, es.url(), good);
  ASSERT_TRUE(fleet.opened.wait_for(good));
  std::vector<raw_tcp> mute;
  for (std::size_t i = 0; i < silent; ++i) {
    auto t = raw_upgraded(es.port());
    ASSERT_TRUE(t);
    mute.push_back(std::move(*t));
  }
  ASSERT_TRUE(es.opened.wait_for(good + silent));

  shutdown_options opts;
  opts.drain_deadline = 500ms;
  const auto sum = es.srv.shutdown_and_wait(opts);
  EXPECT_FALSE(sum.error);
  EXPECT_EQ(sum.total, good + silent);
  EXPECT_EQ(sum.clean, good);
  EXPECT_EQ(sum.aborted, silent);
  EXPECT_EQ(sum.failed, 0u);
  EXPECT_GE(sum.elapsed, 450ms);
  EXPECT_LT(sum.elapsed, 5s);
  ASSERT_TRUE(fleet.closed.wait_for(good));
  expect_all_clean(fleet, good, close_code::going_away, "");
  std::size_t aborted = 0;
  for (std::size_t i = 0; i < good + silent; ++i) {
    auto c = es.closes.pop();
    ASSERT_TRUE(c);
    if (!c->ev.was_clean) {
      EXPECT_EQ(c->ev, cev(close_code::abnormal, "", false, initiator::local, error::aborted));
      ++aborted;
    }
  }
  EXPECT_EQ(aborted, silent);
  // The silent peers did get the close frame: 88 02 03 e9 (1001, no reason).
  const auto bytes = mute[0].recv_until(std::string("\x88\x02\x03\xe9", 4), 2000ms);
  EXPECT_NE(bytes.find(std::string("\x88\x02\x03\xe9", 4)), std::string::npos);
}

// Starts a shutdown with `opts` while one handshake is half sent, then sends
// the rest: returns the HTTP response it got, and the shutdown's summary.
std::pair<std::string, std::optional<shutdown_summary>> late_handshake_during_shutdown(
    shutdown_options opts) {
  io_thread io;
  server_config cfg;
  cfg.close_timeout = 20s;
  event_server es(io.ioc, cfg);
  if (!es.listen()) return {};
  auto mute = raw_upgraded(es.port());  // keeps the shutdown busy until its deadline
  EXPECT_TRUE(mute);
  EXPECT_TRUE(es.opened.wait_for(1));
  raw_tcp late;
  EXPECT_TRUE(late.connect(es.port()));
  const std::string req = upgrade_request();
  EXPECT_TRUE(late.send(req.substr(0, 30)));
  // Connections are accepted in order: once this one is open, `late` was
  // accepted too (a connection still in the listen backlog at shutdown is dropped).
  channel<client_event> pev;
  client probe(io.ioc);
  record(probe, pev);
  EXPECT_FALSE(probe.connect(es.url()));
  next_of(pev, ce::opened);

  channel<shutdown_summary> done;
  opts.drain_deadline = 1s;
  es.srv.shutdown(opts, [&](const shutdown_summary& s) { done.push(s); });
  EXPECT_TRUE(late.send(req.substr(30)));
  std::string resp = late.recv_until("\r\n\r\n");
  auto sum = done.pop();
  EXPECT_EQ(es.opened.get(), 2u);
  return {std::move(resp), std::move(sum)};
}

TEST(server_lifecycle, a_handshake_completing_during_shutdown_gets_503) {
  const auto [resp, sum] = late_handshake_during_shutdown({});
  EXPECT_EQ(resp.substr(0, 12), "HTTP/1.1 503") << resp;
  // The default reason carries no retry hint, so the 503 has no Retry-After.
  EXPECT_EQ(resp.find("Retry-After"), std::string::npos) << resp;
  ASSERT_TRUE(sum);
  EXPECT_EQ(sum->total, 2u);
  EXPECT_EQ(sum->clean, 1u);
  EXPECT_EQ(sum->aborted, 1u);
  EXPECT_EQ(sum->refused, 1u);
}

TEST(server_lifecycle, the_shutdown_503_carries_the_reasons_retry_after) {
  // A 1012 restart with "retry-after=7": a handshake refused meanwhile gets the
  // same hint as HTTP (RFC 9110 §10.2.3 delay-seconds), so the client waits alike.
  shutdown_options opts;
  opts.code = close_code::service_restart;
  opts.reason = "retry-after=7";
  const auto [resp, sum] = late_handshake_during_shutdown(opts);
  EXPECT_EQ(resp.substr(0, 12), "HTTP/1.1 503") << resp;
  EXPECT_NE(resp.find("\r\nRetry-After: 7\r\n"), std::string::npos) << resp;
  ASSERT_TRUE(sum);
  EXPECT_EQ(sum->refused, 1u);
  // Not digits after "retry-after=": no header rather than a wrong one.
  opts.reason = "retry-after=soon";
  const auto [bad, bad_sum] = late_handshake_during_shutdown(opts);
  EXPECT_EQ(bad.substr(0, 12), "HTTP/1.1 503") << bad;
  EXPECT_EQ(bad.find("Retry-After"), std::string::npos) << bad;
}

TEST(server_lifecycle, shutdown_refuses_misuse_and_handles_an_empty_server) {
  io_thread io;
  event_server es(io.ioc);
  ASSERT_TRUE(es.listen());
  shutdown_options bad;
  bad.code = close_code::abnormal;  // 1006 never goes on the wire
  EXPECT_EQ(es.srv.shutdown_and_wait(bad).error, error::close_code_not_sendable);

  // Blocking from an io_context thread would wait for itself.
  channel<client_event> ev;
  channel<std::error_code> from_io;
  client c(io.ioc);
  record(c, ev);
  es.on_message_hook = [&](session&, proto::message_kind, std::string_view) {
    from_io.push(es.srv.shutdown_and_wait({}).error);
  };
  ASSERT_FALSE(c.connect(es.url()));
  next_of(ev, ce::opened);
  ASSERT_FALSE(c.send_text("x"));
  EXPECT_EQ(from_io.pop(), make_error_code(error::invalid_argument));

  const auto first = es.srv.shutdown_and_wait({});
  EXPECT_FALSE(first.error);
  EXPECT_EQ(first.total, 1u);
  EXPECT_EQ(first.clean, 1u);
  EXPECT_EQ(next_of(ev, ce::closed).close,
            cev(close_code::going_away, "", true, initiator::remote));
  // A second shutdown does nothing, and says so.
  EXPECT_EQ(es.srv.shutdown_and_wait({}).error, error::already_closing);
}

TEST(server_lifecycle, shutdown_of_a_server_with_no_connections_completes_at_once) {
  io_thread io;
  event_server es(io.ioc);
  ASSERT_TRUE(es.listen());
  const auto sum = es.srv.shutdown_and_wait({});
  EXPECT_FALSE(sum.error);
  EXPECT_EQ(sum.total, 0u);
  EXPECT_EQ(sum.clean + sum.aborted + sum.failed, 0u);
  EXPECT_LT(sum.elapsed, 1000ms);
}

TEST(server_lifecycle, restart_with_1012_brings_reconnecting_clients_back_no_sooner_than_the_hint) {
  io_thread io;
  auto es = std::make_unique<event_server>(io.ioc);
  ASSERT_TRUE(es->listen());
  const std::uint16_t port = es->port();
  constexpr int n = 10;
  std::vector<std::unique_ptr<channel<rc_event>>> evs;  // outlive the clients' callbacks
  std::vector<std::unique_ptr<reconnecting_client>> rcs;
  for (int i = 0; i < n; ++i) {
    rcs.push_back(std::make_unique<reconnecting_client>(io.ioc, test_config(100 + i)));
    evs.push_back(std::make_unique<channel<rc_event>>());
    record(*rcs.back(), *evs.back());
    ASSERT_FALSE(rcs.back()->connect(ws_url(port)));
  }
  for (auto& ev : evs) expect_next(*ev, rc_event::open);
  shutdown_options opts;
  opts.code = close_code::service_restart;
  opts.reason = "retry-after=1";
  const auto sum = es->srv.shutdown_and_wait(opts);
  EXPECT_EQ(sum.clean, static_cast<std::size_t>(n));
  es.reset();
  // The new process: same port, right away (the server holds TIME_WAIT, with SO_REUSEADDR).
  event_server next(io.ioc);
  ASSERT_FALSE(next.srv.listen("127.0.0.1", port));
  for (auto& ev : evs) {
    const auto closed = expect_next(*ev, rc_event::close);
    EXPECT_EQ(closed.close_ev,
              cev(close_code::service_restart, "retry-after=1", true, initiator::remote));
    const auto sched = expect_next(*ev, rc_event::scheduled);
    EXPECT_GE(sched.delay, 1000ms);
    const auto back = expect_next(*ev, rc_event::reconnected, 5s);
    expect_next(*ev, rc_event::open);
    EXPECT_GE(back.at - closed.at, 1000ms);
  }
  EXPECT_EQ(next.opened.get(), static_cast<std::size_t>(n));
}

// --------------------------------------------------------------- broadcast --

TEST(server_lifecycle, broadcast_reaches_every_session_or_the_filtered_ones) {
  io_thread io;
  server_config cfg;
  cfg.deflate.enabled = true;  // one client negotiates it: that session re-encodes
  event_server es(io.ioc, cfg);
  ASSERT_TRUE(es.listen());
  constexpr int n = 4;
  std::vector<std::unique_ptr<channel<client_event>>> evs;  // outlive the clients' callbacks
  std::vector<std::unique_ptr<client>> cs;
  for (int i = 0; i < n; ++i) {
    client_config cc;
    cc.deflate.enabled = (i == 3);
    cs.push_back(std::make_unique<client>(io.ioc, cc));
    evs.push_back(std::make_unique<channel<client_event>>());
    record(*cs.back(), *evs.back());
    ASSERT_FALSE(cs.back()->connect(es.url("/c" + std::to_string(i))));
    next_of(*evs.back(), ce::opened);
  }
  const std::string big(100000, 'q');  // compressible: the deflate session really compresses
  auto all = es.srv.broadcast(proto::message_kind::text, big);
  EXPECT_FALSE(all.error);
  EXPECT_EQ(all.queued, static_cast<std::size_t>(n));
  EXPECT_EQ(all.refused, 0u);
  for (auto& ev : evs) EXPECT_EQ(next_of(*ev, ce::message).data, big);

  auto odd = es.srv.broadcast(proto::message_kind::binary, std::string("\x00\x01", 2),
                              [](const session& s) {
                                const auto& t = s.request().target;
                                return t == "/c1" || t == "/c3";
                              });
  EXPECT_EQ(odd.queued, 2u);
  for (int i : {1, 3}) {
    auto m = next_of(*evs[static_cast<std::size_t>(i)], ce::message);
    EXPECT_EQ(m.kind, proto::message_kind::binary);
    EXPECT_EQ(m.data, std::string("\x00\x01", 2));
  }
  // Order is kept between shared and per-session frames on each connection.
  auto s0 = es.srv.sessions().front();
  ASSERT_FALSE(s0->send_text("one"));
  ASSERT_FALSE(es.srv.broadcast(proto::message_kind::text, "two").error);
  ASSERT_FALSE(s0->send_text("three"));
  for (const char* want : {"one", "two", "three"})
    EXPECT_EQ(next_of(*evs[0], ce::message).data, want);

  // Text that is not UTF-8 is refused once, for everyone.
  EXPECT_EQ(es.srv.broadcast(proto::message_kind::text, "\xff").error, error::invalid_utf8);
}

}  // namespace
}  // namespace closewise::net

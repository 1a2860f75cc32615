// Test helpers for the reconnecting client: an event recorder, a policy scaled
// down so every test stays fast, the bounds of its first delays, and an
// in-process closewise server that ends each connection as a script says.
#pragma once

#include <gtest/gtest.h>

#include <atomic>
#include <chrono>
#include <cstdint>
#include <memory>
#include <mutex>
#include <string>
#include <vector>

#include "closewise/close_code.hpp"
#include "closewise/net/reconnecting_client.hpp"
#include "closewise/net/server.hpp"
#include "closewise/policy/policy.hpp"
#include "net/net_test_support.hpp"

namespace closewise::net::test {

using std::chrono::milliseconds;
using steady = std::chrono::steady_clock;

/// Everything a reconnecting client reports, with the time it arrived.
struct rc_event {
  enum type_t { open, reconnected, message, close, scheduled, give_up, error, undelivered };
  explicit rc_event(type_t t = open) : type(t) {}
  type_t type;
  steady::time_point at = steady::now();
  std::string data;                  ///< message payload
  closewise::close_event close_ev;   ///< close
  std::uint32_t attempt = 0;         ///< scheduled
  milliseconds delay{0};             ///< scheduled
  std::string cause;                 ///< scheduled
  give_up_summary summary;           ///< give_up
  std::error_code ec;                ///< error, undelivered
  std::vector<queued_message> msgs;  ///< undelivered
};

inline const char* name(rc_event::type_t t) {
  static const char* names[] = {"open",      "reconnected", "message", "close",
                                "scheduled", "give_up",     "error",   "undelivered"};
  return names[t];
}

/// Wires every callback of `c` into `ch` (on_message too, unless `messages` is false).
inline void record(reconnecting_client& c, channel<rc_event>& ch, bool messages = true) {
  c.on_open([&ch](const open_info&) { ch.push(rc_event{rc_event::open}); });
  c.on_reconnected([&ch](const open_info&) { ch.push(rc_event{rc_event::reconnected}); });
  if (messages) {
    c.on_message([&ch](proto::message_kind, std::string_view p) {
      rc_event e{rc_event::message};
      e.data = std::string(p);
      ch.push(std::move(e));
    });
  }
  c.on_close([&ch](const closewise::close_event& ev) {
    rc_event e{rc_event::close};
    e.close_ev = ev;
    ch.push(std::move(e));
  });
  c.on_reconnect_scheduled([&ch](std::uint32_t n, milliseconds d, const std::string& cause) {
    rc_event e{rc_event::scheduled};
    e.attempt = n;
    e.delay = d;
    e.cause = cause;
    ch.push(std::move(e));
  });
  c.on_give_up([&ch](const give_up_summary& s) {
    rc_event e{rc_event::give_up};
    e.summary = s;
    ch.push(std::move(e));
  });
  c.on_error([&ch](std::error_code ec) {
    rc_event e{rc_event::error};
    e.ec = ec;
    ch.push(std::move(e));
  });
  c.on_undelivered([&ch](std::vector<queued_message> m, std::error_code ec) {
    rc_event e{rc_event::undelivered};
    e.msgs = std::move(m);
    e.ec = ec;
    ch.push(std::move(e));
  });
}

/// Pops the next event and checks its type; a timeout or another type fails the test.
inline rc_event expect_next(channel<rc_event>& ch, rc_event::type_t t,
                            milliseconds timeout = wait_limit) {
  auto e = ch.pop(timeout);
  if (!e) {
    ADD_FAILURE() << "timed out waiting for " << name(t);
    return rc_event{t};
  }
  EXPECT_EQ(name(e->type), std::string(name(t)))
      << "cause/code: " << e->cause << " " << to_int(e->close_ev.code) << " " << e->ec.message();
  return *e;
}

/// The divisor that turns the policy's 5 s floors and spreads into 100 ms.
inline constexpr int scale = 50;

/// The default policy with every delay scaled down: full jitter with base and
/// floor 20 ms and cap 200 ms, and the raised floors and first spreads of
/// 1001/1011/1012/1013 and HTTP 429/503 divided by `scale` (5 s -> 100 ms).
/// min_uptime 0: every connection that opened starts a new streak, so each
/// retry after a close is a streak's first and has simple bounds.
inline policy::config scaled_policy() {
  policy::config c;
  c.name = "scaled";
  c.backoff = policy::full_jitter{milliseconds{20}, milliseconds{20}, milliseconds{200}};
  c.min_uptime = milliseconds{0};
  for (std::uint16_t code : {1001, 1011, 1012, 1013}) {
    auto r = policy::rule::from(info(static_cast<close_code>(code)).reconnect);
    r.floor /= scale;
    r.first_spread /= scale;
    c.codes.push_back({code, code, r});
  }
  for (unsigned st : {429u, 503u}) {
    auto r = policy::rule_for_status(st, policy::config{});
    r.floor /= scale;
    r.first_spread /= scale;
    c.statuses.push_back({st, st, r});
  }
  return c;
}

/// [lo, hi) of the first retry of a streak under scaled_policy(), by kind of rule.
struct delay_bounds {
  milliseconds lo, hi;
};
/// Plain backoff (R, RS, transport failures, 1006): floor + U(0, base).
inline constexpr delay_bounds plain_first{milliseconds{20}, milliseconds{40}};
/// 1001/1011/1012: max(0, strategy floor) + U(0, 5 s / scale).
inline constexpr delay_bounds spread_first{milliseconds{20}, milliseconds{120}};
/// 1013, 429/503 without Retry-After: 5 s / scale + U(0, 5 s / scale).
inline constexpr delay_bounds raised_first{milliseconds{100}, milliseconds{200}};

/// A reconnecting client config for tests: scaled policy, seeded randomness.
inline reconnecting_client_config test_config(std::uint64_t seed = 5) {
  reconnecting_client_config cfg;
  cfg.policy = scaled_policy();
  cfg.uniform = policy::seeded_uniform(seed);
  cfg.heartbeat.interval = milliseconds{0};  // off unless a test turns it on
  cfg.connection.close_linger = milliseconds{200};
  return cfg;
}

/// How a scripted server ends a connection.
struct step {
  static constexpr int drop = 0;   ///< TCP drop, no close frame
  static constexpr int stay = -1;  ///< stay open (and echo)
  int code;
};

/// A closewise server on 127.0.0.1 that ends connection i as steps[min(i, n-1)]
/// says, echoes messages, and records them in arrival order.
class scripted_server {
 public:
  scripted_server(boost::asio::io_context& ioc, std::vector<step> steps, std::uint16_t port = 0)
      : steps_(std::move(steps)) {
    srv_ = std::make_unique<server>(ioc);
    srv_->on_open([this](session& s) {
      const std::size_t i = opened_.fetch_add(1);
      opens.push(i + 1);
      const step st = steps_[std::min(i, steps_.size() - 1)];
      if (st.code == step::drop) {
        s.abort();
      } else if (st.code != step::stay) {
        (void)s.close_endpoint(static_cast<close_code>(st.code));
      }
    });
    srv_->on_message([this](session& s, proto::message_kind k, std::string_view p) {
      {
        std::lock_guard lock(mu_);
        received_.emplace_back(p);
      }
      if (echo) (void)s.send(k, p);
    });
    srv_->on_close([this](session&, const closewise::close_event& ev) { closes.push(ev); });
    ec = srv_->listen("127.0.0.1", port);
  }
  /// The server goes first: its callbacks use the members below.
  ~scripted_server() { srv_.reset(); }
  scripted_server(const scripted_server&) = delete;
  scripted_server& operator=(const scripted_server&) = delete;

  std::uint16_t port() const { return srv_->port(); }
  std::string url() const { return "ws://127.0.0.1:" + std::to_string(port()) + "/"; }
  std::size_t opened() const { return opened_.load(); }
  std::vector<std::string> received() const {
    std::lock_guard lock(mu_);
    return received_;
  }
  server& get() { return *srv_; }

  std::error_code ec;
  bool echo = false;
  channel<closewise::close_event> closes;
  /// The running count of opened connections, pushed from on_open (the server
  /// runs it after its 101 left, so it may come after the client saw open).
  channel<std::size_t> opens;

 private:
  std::vector<step> steps_;
  std::unique_ptr<server> srv_;
  std::atomic<std::size_t> opened_{0};
  mutable std::mutex mu_;
  std::vector<std::string> received_;
};

/// A close_event for EXPECT_EQ.
inline closewise::close_event closed_with(close_code code, std::string reason, bool clean,
                                          initiator who, std::error_code why = {}) {
  return closewise::close_event{code, std::move(reason), clean, who, why};
}

/// A port on 127.0.0.1 where nothing listens (bound, then released).
inline std::uint16_t closed_port() {
  std::uint16_t p;
  {
    raw_listener l;
    p = l.port();
  }
  return p;
}

}  // namespace closewise::net::test

// Two in-memory peers, each a proto::connection plus a transport_lifecycle,
// joined by a model of one TCP connection (bytes, FIN, RST) with an optional
// TLS layer (close_notify). No sockets, no threads, a fake clock: every
// teardown is replayed step by step, and a fault can be injected at any step.
//
// The glue below does for each peer what the Asio driver does (src/net/driver*.cpp):
// carry out the lifecycle's actions, and after each turn observe the protocol,
// write its output, and report whether the output drained.
#pragma once

#include <gtest/gtest.h>

#include <functional>
#include <optional>
#include <ostream>
#include <string>
#include <vector>

#include "../../src/net/deadline_table.hpp"
#include "../../src/net/transport_lifecycle.hpp"
#include "closewise/error.hpp"
#include "closewise/proto/connection.hpp"

namespace closewise {
/// close_events print readably in failed assertions.
inline void PrintTo(const close_event& e, std::ostream* os) {
  *os << "{" << static_cast<unsigned>(e.code) << " \"" << e.reason << "\" "
      << (e.was_clean ? "clean" : "unclean") << " initiator="
      << (e.initiator == initiator::local    ? "local"
          : e.initiator == initiator::remote ? "remote"
                                             : "none")
      << " error=" << (e.error ? e.error.message() : "none") << "}";
}
}  // namespace closewise

namespace closewise::net::test {

using detail::deadline_table;
using detail::timer_kind;
using detail::transport_action;
using detail::transport_actions;
using detail::transport_lifecycle;
using detail::transport_limits;
using detail::transport_state;
using std::chrono::milliseconds;

/// The bytes travelling towards one peer, and how the sender's side ended.
struct pipe {
  std::string bytes;
  bool close_notify = false;  ///< TLS: the sender's close_notify follows `bytes`
  bool fin = false;           ///< the sender's FIN follows `bytes`
  bool reset = false;         ///< a RST arrived: `bytes` are gone, the next read fails
  bool eof_read = false;      ///< the receiver has read the end (close_notify or FIN)
};

/// One endpoint: what the driver holds, with the socket reduced to flags.
struct tpeer : proto::handler {
  tpeer(std::string n, proto::role r, const transport_limits& lim)
      : name(std::move(n)), role(r), lc(r, lim) {}

  std::string name;
  proto::role role;
  transport_lifecycle lc;
  std::optional<proto::connection> conn;
  deadline_table timers;

  bool socket_open = true;
  bool write_shut = false;    ///< our FIN is out
  bool read_stopped = false;  ///< stop_reading ran
  bool shutdown_running = false;
  bool awaiting_fin = false;
  bool window_closed = false;  ///< the other side does not read: our writes stall
  bool frozen = false;         ///< the process hangs: no reads, no timers, no reports
  std::string unsent;          ///< output the window did not take

  int reports = 0;
  int fails = 0;
  close_event ev;
  std::error_code fail_why;
  initiator fail_who = initiator::none;
  std::vector<std::string> messages;
  std::vector<std::string> log;  ///< every action carried out, for failure messages

  void on_message(proto::message_kind, std::string_view payload) override {
    messages.emplace_back(payload);
  }
  void on_closed(const close_event&) override {}

  bool done() const { return lc.state() == transport_state::done; }
};

inline std::string describe(const transport_action& a) {
  std::string s(detail::to_string(a.what));
  if (a.what == transport_action::op::arm || a.what == transport_action::op::disarm) {
    s += " " + std::string(detail::to_string(a.timer));
  }
  if (a.what == transport_action::op::arm) s += " " + std::to_string(a.after.count()) + "ms";
  if (a.why) s += " (" + a.why.message() + ")";
  return s;
}

/// A list of the actions' names, for comparing a whole step at once.
inline std::vector<std::string> names(const transport_actions& a) {
  std::vector<std::string> out;
  for (const auto& x : a) out.push_back(describe(x));
  return out;
}

class world {
 public:
  world(bool tls, transport_limits client_limits = limits(proto::role::client),
        transport_limits server_limits = limits(proto::role::server))
      : tls_(tls),
        climits_(client_limits),
        slimits_(server_limits),
        client("client", proto::role::client, climits_),
        server("server", proto::role::server, slimits_) {}

  static transport_limits limits(proto::role r) {
    transport_limits l;
    l.connect_timeout = milliseconds(1000);
    l.handshake_timeout = milliseconds(1000);
    l.close_timeout = milliseconds(500);
    l.close_linger = r == proto::role::client ? milliseconds(300) : milliseconds(0);
    return l;
  }

  // Limits first: the peers keep references to them.
  bool tls_;
  transport_limits climits_, slimits_;
  tpeer client, server;
  pipe to_client, to_server;
  deadline_table::time_point now = deadline_table::time_point{} + std::chrono::hours(1);
  std::vector<std::string> closes;  ///< who closed the socket, in order
  int steps = 0;

  pipe& inbound(tpeer& p) { return &p == &client ? to_client : to_server; }
  pipe& outbound(tpeer& p) { return &p == &client ? to_server : to_client; }
  tpeer& other(tpeer& p) { return &p == &client ? server : client; }

  /// Both sides through connect, TLS and the upgrade, with the protocol open.
  void open_both() {
    apply(client, client.lc.start_connect());
    apply(server, server.lc.accepted(tls_));
    apply(client, client.lc.connected(tls_));
    if (tls_) {
      apply(client, client.lc.tls_established());
      apply(server, server.lc.tls_established());
    }
    for (tpeer* p : {&client, &server}) {
      proto::config cfg;
      cfg.mask_key = [] { return 0u; };  // frames byte for byte
      p->conn.emplace(p->role, *p, cfg);
      p->conn->open();
      apply(*p, p->lc.opened());
    }
  }

  /// Carries out the lifecycle's actions, as driver::run does.
  void apply(tpeer& p, const transport_actions& acts) {
    using op = transport_action::op;
    for (const auto& a : acts) {
      p.log.push_back(describe(a));
      switch (a.what) {
        case op::protocol_eof:
          p.conn->receive_eof();
          break;
        case op::protocol_abort:
          p.conn->abort(a.why);
          break;
        case op::protocol_close_timeout:
          p.conn->on_close_timeout();
          break;
        case op::stop_reading:
          p.read_stopped = true;
          break;
        case op::shutdown_send:
          p.write_shut = true;
          outbound(p).fin = true;
          break;
        case op::tls_shutdown:
          outbound(p).close_notify = true;
          p.shutdown_running = true;
          break;
        case op::await_fin:
          p.awaiting_fin = true;
          break;
        case op::close_socket:
          close_socket(p);
          break;
        case op::arm:
          p.timers.arm(a.timer, now + a.after);
          break;
        case op::disarm:
          p.timers.disarm(a.timer);
          break;
        case op::report:
          EXPECT_FALSE(p.socket_open) << p.name << ": reported before the socket closed";
          ++p.reports;
          p.ev = p.lc.final_event(p.conn && p.conn->result() ? &*p.conn->result() : nullptr);
          break;
        case op::fail:
          EXPECT_FALSE(p.socket_open) << p.name << ": failed before the socket closed";
          ++p.fails;
          p.fail_why = a.why;
          p.fail_who = a.who;
          break;
      }
    }
    if (p.done()) p.timers = {};  // the driver drops every timer at the end
  }

  /// What the driver does when a handler returns (driver::after_io).
  void settle(tpeer& p) {
    if (p.done() || !p.conn) return;
    apply(p, p.lc.observe(p.conn->get_state(), p.conn->result() ? &*p.conn->result() : nullptr));
    if (p.done()) return;
    flush(p);
    if (p.lc.state() == transport_state::draining) {
      apply(p, p.lc.output(p.unsent.empty() && p.conn->output_size() == 0));
    }
  }

  void flush(tpeer& p) {
    if (!p.lc.writes() || !p.socket_open || p.write_shut || !p.conn) return;
    std::string out;
    p.conn->swap_output(out);
    p.unsent += out;
    if (p.window_closed || p.unsent.empty()) return;
    tpeer& o = other(p);
    if (!o.socket_open && !o.frozen) {
      // Bytes sent to a closed socket: its kernel answers with a RST.
      reset(inbound(p));
    } else if (!outbound(p).reset) {
      outbound(p).bytes += p.unsent;
    }
    p.unsent.clear();
  }

  static void reset(pipe& in) {
    in.bytes.clear();
    in.reset = true;
  }

  void close_socket(tpeer& p) {
    if (!p.socket_open) return;
    p.socket_open = false;
    closes.push_back(p.name);
    pipe& in = inbound(p);
    if (!in.bytes.empty() && !in.reset) {
      // Closing with unread input: the kernel sends a RST, which may destroy
      // what is still in flight to the peer (the worst case, modelled here).
      reset(outbound(p));
    } else {
      outbound(p).fin = true;
    }
  }

  bool can_read(tpeer& p) { return !p.frozen && p.socket_open && p.lc.reads() && !p.read_stopped; }

  /// One event: a read, an EOF, a TLS shutdown or FIN wait completing, or
  /// (when nothing else can happen) the earliest timer. False when idle.
  bool step() {
    ++steps;
    for (tpeer* p : {&client, &server}) {
      if (read_event(*p)) return true;
    }
    for (tpeer* p : {&client, &server}) {
      if (tls_event(*p)) return true;
    }
    return timer_event();
  }

  bool read_event(tpeer& p) {
    if (!can_read(p)) return false;
    pipe& in = inbound(p);
    if (in.reset && !in.eof_read) {
      in.eof_read = true;
      apply(p, p.lc.transport_error(error::connection_reset));
    } else if (!in.bytes.empty()) {
      std::string b;
      b.swap(in.bytes);
      if (p.lc.state() == transport_state::open && p.conn->can_receive()) p.conn->receive(b);
    } else if ((in.close_notify || in.fin) && !in.eof_read) {
      in.eof_read = true;
      apply(p, p.lc.eof());
    } else {
      return false;
    }
    settle(p);
    return true;
  }

  bool tls_event(tpeer& p) {
    if (p.frozen || !p.socket_open) return false;
    pipe& in = inbound(p);
    if (p.shutdown_running) {
      // SSL_shutdown discards application data until the peer's close_notify.
      bool ok;
      if (in.close_notify && !in.reset) {
        ok = true;
      } else if (in.fin || in.reset) {
        ok = false;
      } else {
        return false;
      }
      in.bytes.clear();
      p.shutdown_running = false;
      apply(p, p.lc.tls_shutdown_done(ok));
      settle(p);
      return true;
    }
    if (p.awaiting_fin && (in.fin || in.reset || !in.bytes.empty())) {
      p.awaiting_fin = false;
      apply(p, p.lc.fin_arrived());
      return true;
    }
    return false;
  }

  bool timer_event() {
    tpeer* next = nullptr;
    for (tpeer* p : {&client, &server}) {
      if (p->frozen || p->timers.empty()) continue;
      if (!next || p->timers.earliest() < next->timers.earliest()) next = p;
    }
    if (!next) return false;
    fire_due(*next, next->timers.earliest());
    return true;
  }

  /// Time moves on to `at`; `p`'s jobs due by then fire, in timer_kind order.
  void fire_due(tpeer& p, deadline_table::time_point at) {
    if (at > now) now = at;
    while (auto k = p.timers.take_due(now)) {
      if (*k == timer_kind::heartbeat) continue;
      apply(p, p.lc.timer_fired(*k));
      settle(p);
    }
  }

  /// Runs until nothing more can happen; false if it did not settle.
  bool run(int max_steps = 200) {
    for (int i = 0; i < max_steps; ++i) {
      if (!step()) return true;
    }
    return false;
  }
};

}  // namespace closewise::net::test

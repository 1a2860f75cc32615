// Test harness: a resume-enabled client and server as in-memory peers.
//
// It wires the sans-I/O pieces together the way part B's network layer is
// meant to (docs/resume.md §10): real opening handshakes (proto::client_handshake
// and proto::server_handshake, so the negotiation is byte-exact), real
// proto::connection objects with the ack opcode enabled, a client_session on
// the client and a session_store on the server. The test moves bytes between
// them by hand, so it can drop, cut and delay them at any point.
#pragma once

#include <gtest/gtest.h>

#include <cstdint>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include "closewise/error.hpp"
#include "closewise/proto/connection.hpp"
#include "closewise/proto/handshake.hpp"
#include "closewise/resume/client_session.hpp"
#include "closewise/resume/fate.hpp"
#include "closewise/resume/memory_store.hpp"
#include "closewise/resume/session.hpp"
#include "closewise/resume/wire.hpp"
#include "proto/peer.hpp"

namespace closewise::resume::test {

using namespace std::chrono_literals;
using proto::message_kind;

/// A fixed clock the test moves.
struct test_clock {
  time_point now = time_point{} + std::chrono::hours(1);
  void advance(std::chrono::milliseconds d) { now += d; }
};

/// One side's connection-level plumbing, shared by client and server.
struct endpoint : proto::handler {
  test_clock& clock;
  std::unique_ptr<proto::connection> conn;
  session* s = nullptr;  // the session this connection carries (none: plain)
  std::vector<std::pair<seq, std::string>> delivered;  // what the application received
  std::vector<close_event> closed;
  std::vector<std::error_code> protocol_errors;
  std::vector<seq> acks_received;
  bool auto_ack = true;  // ack whenever ack_due() says so
  /// The application: runs for each delivered message (it may send).
  std::function<void(seq, std::string_view)> app;

  explicit endpoint(test_clock& c) : clock(c) {}

  void open(proto::role r, proto::config cfg) {
    if (s) cfg.extension_control_opcodes |= ack_opcode_bit;
    cfg.mask_key = [] { return closewise::test::test_key(); };
    conn = std::make_unique<proto::connection>(r, *this, std::move(cfg));
    conn->open();
  }

  // ---- proto::handler ------------------------------------------------------
  void on_message(message_kind, std::string_view payload) override {
    seq n = 0;
    if (s) {
      if (auto ec = s->in().on_message(payload.size(), clock.now, n)) {
        protocol_errors.push_back(ec);
        (void)conn->close_endpoint(close_code::protocol_error, "resume seq overflow");
        return;
      }
    }
    delivered.emplace_back(n, std::string(payload));
    if (app) app(n, payload);
    if (auto_ack) maybe_ack();
  }
  void on_extension_control(std::uint8_t op, std::string_view payload) override {
    seq n = 0;
    std::error_code ec = op == ack_opcode ? decode_ack(payload, n) : error::bad_opcode;
    if (!ec && s) ec = s->out().on_ack(n);
    if (ec) {
      protocol_errors.push_back(ec);
      // docs/resume.md §3: a bad ack fails the connection with 1002.
      (void)conn->close_endpoint(close_code::protocol_error, "bad resume ack");
      return;
    }
    acks_received.push_back(n);
  }
  void on_close_frame(close_code, std::string_view) override {
    // docs/resume.md §5.2: flush the pending ack before echoing a close.
    flush_ack();
  }
  void on_closed(const close_event& ev) override { closed.push_back(ev); }

  // ---- sending -------------------------------------------------------------
  /// Pushes through the resume layer (or straight to the connection when plain).
  std::error_code send(std::string text) {
    if (!s) return conn->send(message_kind::text, text);
    if (auto ec = s->out().push(message_kind::text, std::move(text), clock.now)) return ec;
    write_pending();
    return {};
  }
  /// Writes every writable message of the session (replays first, in order).
  void write_pending() {
    if (!s || !conn || !conn->can_send()) return;
    while (const auto m = s->out().next_to_write()) {
      if (conn->send(m->kind, m->payload)) return;
      s->out().mark_written();
    }
  }
  void maybe_ack() {
    if (s && conn && conn->can_send() && s->in().ack_due(clock.now)) send_ack();
  }
  void flush_ack() {
    if (s && conn && conn->can_send() && s->in().ack_pending()) send_ack();
  }
  void send_ack() {
    const auto p = encode_ack(s->in().take_ack());
    ASSERT_FALSE(conn->send_extension_control(ack_opcode, std::string_view(p.data(), p.size())));
  }
  /// The timer part B would arm at in().ack_deadline().
  void tick() { maybe_ack(); }
  /// Everything queued for the wire.
  std::string take() {
    std::string b;
    if (conn) conn->swap_output(b);
    return b;
  }
};

/// The client: a client_session across connections.
struct client_side : endpoint {
  client_session cs;
  std::optional<client_outcome> outcome;
  std::vector<std::pair<std::error_code, std::vector<message>>> undelivered;

  client_side(test_clock& c, session_settings st = {}) : endpoint(c), cs(st) {}

  void hand_back(std::vector<message> msgs, std::error_code why) {
    if (!msgs.empty()) undelivered.emplace_back(why, std::move(msgs));
  }
  std::vector<std::string> handed_back_texts() const {
    std::vector<std::string> out;
    for (const auto& [ec, v] : undelivered)
      for (const auto& m : v) out.push_back(m.payload);
    return out;
  }
  /// Delivered payloads without seqs.
  std::vector<std::string> texts() const {
    std::vector<std::string> out;
    for (const auto& d : delivered) out.push_back(d.second);
    return out;
  }
  /// The connection ended with `ev`; the reconnect policy said `retries`.
  void closed_with(const close_event& ev, bool retries) {
    hand_back(cs.on_close(client_fate(ev, retries)), error::resume_ended);
    s = nullptr;
  }
};

/// The server: one store, one connection at a time.
struct server_side : endpoint {
  session_store& store;
  std::string owner;
  session_store::session_ptr held;  // the session of the current connection
  std::optional<close_code> sent_close;
  std::vector<std::pair<std::error_code, std::vector<message>>> undelivered;
  std::optional<answer> last_answer;
  bool resume_enabled = true;
  std::function<void()> preempt_hook;  // what the store's preempt does

  server_side(test_clock& c, session_store& st) : endpoint(c), store(st) {}

  std::vector<std::string> texts() const {
    std::vector<std::string> out;
    for (const auto& d : delivered) out.push_back(d.second);
    return out;
  }

  /// Answers an upgrade request (what part B's server does, docs/resume.md §10).
  /// Returns the 101 bytes, or "" when the store is unavailable (part B: 503).
  std::string answer_upgrade(proto::server_handshake& hs, std::string_view subprotocol = {},
                             const proto::deflate_options& deflate = {}) {
    held.reset();
    s = nullptr;
    last_answer.reset();
    std::optional<offer> o;
    if (resume_enabled) o = find_offer(hs.request().extensions);
    std::string ext;
    if (o) {
      std::optional<resume_status> refused;
      std::optional<seq> old_received, old_sent;
      if (o->resume) {
        std::error_code ec;
        session_store::session_ptr got;
        store.attach_attempt(
            o->resume->id, o->resume->attempt, owner,
            [this] {
              if (preempt_hook) preempt_hook();
            },
            [&](std::error_code e, session_store::session_ptr p) {
              ec = e;
              got = std::move(p);
            });
        if (ec) {
          refused = status_of(ec);
          if (!refused) return {};
        } else if (got) {
          auto r = got->resume(*o->resume);
          if (r.status == resume_status::resumed) {
            held = std::move(got);
          } else {
            refused = r.status;
            old_received = got->in().committed();
            old_sent = got->out().sent();
            if (!r.handed_back.empty())
              undelivered.emplace_back(to_error(r.status), std::move(r.handed_back));
            store.end(got->id(), got->epoch(), [](std::error_code) {});
          }
        } else {
          ADD_FAILURE() << "attach did not complete synchronously (a preempt is pending)";
          return {};
        }
      }
      if (!held) {
        std::error_code ec;
        store.create(
            owner,
            [this] {
              if (preempt_hook) preempt_hook();
            },
            [&](std::error_code e, session_store::session_ptr p) {
              ec = e;
              held = std::move(p);
            });
        if (ec) return {};
      }
      answer a{held->id(),
               refused.value_or(o->resume ? resume_status::resumed : resume_status::fresh),
               {},
               {}};
      if (a.status == resume_status::resumed) {
        a.received = held->in().committed();
        a.sent = held->out().sent();
      } else if (refused && old_received) {
        a.received = old_received;
        a.sent = old_sent;
      }
      last_answer = a;
      ext = format_answer(a);
      s = held.get();
    }
    return hs.accept(subprotocol, deflate, ext);
  }

  /// The connection ended with `ev`: keep or end the session (docs/resume.md §6).
  void closed_with(const close_event& ev) {
    if (!held) return;
    if (server_fate(ev, sent_close) == close_fate::keep) {
      store.detach(std::move(held), [this](std::error_code ec, std::vector<message> back) {
        if (!back.empty()) undelivered.emplace_back(ec, std::move(back));
      });
    } else {
      const auto id = held->id();
      const auto epoch = held->epoch();
      auto back = held->end();
      if (!back.empty()) undelivered.emplace_back(error::resume_ended, std::move(back));
      store.end(id, epoch, [](std::error_code) {});
    }
    held.reset();
    s = nullptr;
    sent_close.reset();
  }
};

/// A client and a server and the bytes between them.
struct world {
  test_clock clock;
  memory_store_options store_opts;
  std::unique_ptr<memory_store> store;
  std::unique_ptr<client_side> client;
  std::unique_ptr<server_side> server;
  std::string last_request, last_response;

  explicit world(session_settings client_settings = {}, session_settings server_settings = {},
                 std::chrono::milliseconds ttl = 120'000ms) {
    store_opts.session = server_settings;
    store_opts.ttl = ttl;
    store_opts.tombstone = 600'000ms;
    store_opts.clock = [this] { return clock.now; };
    store = std::make_unique<memory_store>(store_opts);
    client = std::make_unique<client_side>(clock, client_settings);
    server = std::make_unique<server_side>(clock, *store);
  }

  /// Runs the opening handshake; true when both sides are open. The client's
  /// outcome is in client->outcome.
  bool connect(std::vector<std::string> subprotocols = {}, std::string_view pick = {},
               bool deflate = false) {
    proto::client_request_options o;
    o.host = "h:1";
    o.target = "/";
    o.subprotocols = std::move(subprotocols);
    o.deflate.enabled = deflate;
    o.extensions = {client->cs.offer()};
    proto::client_handshake ch(o);
    last_request = ch.request();
    proto::server_handshake sh;
    std::size_t used = 0;
    if (sh.receive(last_request, used) != proto::server_handshake::result::valid) return false;
    proto::deflate_options sd;
    sd.enabled = deflate;
    last_response = server->answer_upgrade(sh, pick, sd);
    if (last_response.empty()) return false;
    if (ch.receive(last_response, used) != proto::client_handshake::result::accepted) return false;
    client->outcome = client->cs.on_answer(ch.extensions());
    client->hand_back(std::move(client->outcome->handed_back), client->outcome->handback_error);
    if (client->outcome->kind == client_outcome_kind::failed) return false;

    proto::config scfg, ccfg;
    if (sh.deflate()) scfg.deflate = sh.deflate();
    if (ch.deflate()) ccfg.deflate = ch.deflate();
    server->open(proto::role::server, scfg);
    client->s =
        client->cs.has_session() && client->outcome->kind != client_outcome_kind::not_negotiated
            ? &client->cs.current()
            : nullptr;
    client->open(proto::role::client, ccfg);
    // docs/resume.md §4.4: replays go first, before anything sent after the resume.
    server->write_pending();
    client->write_pending();
    return true;
  }

  /// Moves every byte both ways until nothing is left.
  void pump() {
    for (int i = 0; i < 1000; ++i) {
      std::string c2s = client->take(), s2c = server->take();
      if (c2s.empty() && s2c.empty()) return;
      if (!c2s.empty() && server->conn->can_receive()) server->conn->receive(c2s);
      if (!s2c.empty() && client->conn->can_receive()) client->conn->receive(s2c);
    }
    ADD_FAILURE() << "pump did not settle";
  }

  /// Both timers fire (ack deadlines), then bytes move.
  void tick(std::chrono::milliseconds d) {
    clock.advance(d);
    client->tick();
    server->tick();
    pump();
  }

  /// The TCP connection dies: bytes in flight are lost, both sides see 1006
  /// (docs/resume.md §6: kept); the client's policy retries.
  void drop() {
    (void)client->take();
    (void)server->take();
    client->conn->abort(error::connection_reset);
    server->conn->abort(error::connection_reset);
    server->closed_with(server->closed.back());
    client->closed_with(client->closed.back(), true);
  }
};

}  // namespace closewise::resume::test

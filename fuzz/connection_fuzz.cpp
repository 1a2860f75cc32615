// Fuzzes two proto::connection peers, a client and a server, joined in memory
// and driven by a byte stream of actions: send text, binary or a fragmented
// message, ping, pong, close with a code and reason, deliver n bytes from one
// side to the other, inject garbage, EOF, close timeout, abort.
//
// Invariants (a violation aborts):
// - each side reports exactly one close result, and no hook runs after it;
// - states only move forward: connecting, open, closing_local or
//   closing_remote, closed;
// - on the wire, nothing follows a side's close frame (RFC 6455 §5.5.1), a
//   client masks every frame and a server none (§5.1), control frames are at
//   most 125 bytes (§5.5), and a closed side writes nothing more;
// - a received close is echoed with the same code and no reason, an empty
//   one with an empty close (§5.5.1);
// - while a direction carries no injected garbage, the receiver's messages
//   are a prefix of the sender's, and all of them once it closed cleanly.
#include "closewise/proto/connection.hpp"

#include <algorithm>
#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "closewise/error.hpp"

namespace proto = closewise::proto;
using closewise::close_code;

namespace {

// A broken invariant aborts, naming itself, so a crash report says which.
#define CHECK(cond)                                                                     \
  do {                                                                                  \
    if (!(cond)) {                                                                      \
      std::fprintf(stderr, "%s:%d: invariant broken: %s\n", __FILE__, __LINE__, #cond); \
      std::abort();                                                                     \
    }                                                                                   \
  } while (false)

/// Reads the input; past its end every read is 0, so any input is a script.
class script {
 public:
  script(const std::uint8_t* d, std::size_t n) : d_(d), n_(n) {}
  bool done() const noexcept { return at_ >= n_; }
  std::uint8_t byte() noexcept { return at_ < n_ ? d_[at_++] : 0; }
  std::string bytes(std::size_t n) {
    const std::size_t k = std::min(n, n_ - std::min(at_, n_));
    std::string s(reinterpret_cast<const char*>(d_ + at_), k);
    at_ += k;
    return s;
  }

 private:
  const std::uint8_t* d_;
  std::size_t n_;
  std::size_t at_ = 0;
};

int rank(proto::state s) {
  // clang-format off
  switch (s) {
    case proto::state::connecting: return 0;
    case proto::state::open: return 1;
    case proto::state::closing_local:
    case proto::state::closing_remote: return 2;
    case proto::state::closed: return 3;
  }
  // clang-format on
  return -1;
}

struct message {
  proto::message_kind kind;
  std::string payload;
  friend bool operator==(const message&, const message&) = default;
};

struct side;

struct recorder : proto::handler {
  side* me = nullptr;
  void on_message(proto::message_kind kind, std::string_view payload) override;
  void on_ping(std::string_view p) override;
  void on_pong(std::string_view p) override;
  void on_close_frame(close_code code, std::string_view reason) override;
  void on_closed(const closewise::close_event& ev) override;
};

/// One peer: its connection, what it sent and received, and a check of
/// everything it wrote, parsed independently of the connection's own parser.
struct side {
  side(proto::role r, proto::config cfg) : role(r), conn(r, hooks, std::move(cfg)) {
    hooks.me = this;
  }
  proto::role role;
  recorder hooks;
  proto::connection conn;
  proto::state last = proto::state::connecting;
  int closed = 0;
  std::size_t output_at_close = 0;  // bytes queued when on_closed ran; nothing may follow
  std::vector<message> sent;        // messages the peer must receive, in order
  std::vector<message> received;    // messages this side received
  std::string pending;              // written, not yet delivered to the peer
  bool garbage_to_peer = false;     // `pending` carried injected bytes

  // The peer's close frame as received, and whether it arrived before ours.
  bool echo_due = false;
  close_code echo_code = close_code::no_status;

  // The wire check of everything this side wrote.
  std::string wire;
  std::size_t parsed = 0;
  bool close_on_wire = false;
  std::size_t wire_at_close_result = 0;

  void step_state() {
    const proto::state now = conn.get_state();
    CHECK(rank(now) >= rank(last));
    if (rank(now) == 2 && rank(last) == 2) CHECK(now == last);  // no local <-> remote switch
    last = now;
  }

  /// Collects what the connection wrote and checks the frames in it.
  void collect() {
    std::string out;
    conn.swap_output(out);
    if (closed != 0) {  // a closed side writes nothing after what it queued on the way
      CHECK(out.size() == output_at_close);
      output_at_close = 0;
    }
    pending += out;
    wire += out;
    parse_wire();
  }

  /// Appends bytes that this side "sent" without the connection (fragments).
  void inject_frames(const std::string& frames) {
    pending += frames;
    wire += frames;
    parse_wire();
  }

  void parse_wire() {
    for (;;) {
      proto::frame_header h;
      std::error_code ec;
      const std::uint8_t* p = reinterpret_cast<const std::uint8_t*>(wire.data()) + parsed;
      const std::size_t left = wire.size() - parsed;
      const std::size_t hs = proto::decode_header(p, left, h, ec);
      CHECK(!ec);
      if (hs == 0) return;
      CHECK(left >= hs + h.length);  // a side always writes whole frames
      // RFC 6455 §5.5.1: nothing at all follows a close frame.
      CHECK(!close_on_wire);
      // RFC 6455 §5.1, §5.3: a client masks every frame, a server none.
      CHECK(h.masked == (role == proto::role::client));
      CHECK(!proto::is_reserved(h.op));
      if (proto::is_control(h.op)) CHECK(h.fin && h.length <= proto::max_control_payload);
      std::string payload(reinterpret_cast<const char*>(p + hs),
                          static_cast<std::size_t>(h.length));
      if (h.masked) {
        proto::apply_mask(reinterpret_cast<std::uint8_t*>(payload.data()), payload.size(),
                          h.mask_key);
      }
      if (h.op == proto::opcode::close) {
        close_on_wire = true;
        if (echo_due) {
          // RFC 6455 §5.5.1: the echo carries the received code, an empty
          // close is echoed empty; closewise sends no reason with it.
          if (echo_code == close_code::no_status) {
            CHECK(payload.empty());
          } else {
            CHECK(payload.size() == 2);
            CHECK(((static_cast<unsigned>(static_cast<std::uint8_t>(payload[0])) << 8) |
                   static_cast<std::uint8_t>(payload[1])) == closewise::to_int(echo_code));
          }
        }
      }
      parsed += hs + static_cast<std::size_t>(h.length);
    }
  }
};

void recorder::on_message(proto::message_kind kind, std::string_view payload) {
  CHECK(me->closed == 0);
  me->received.push_back({kind, std::string(payload)});
}
void recorder::on_ping(std::string_view p) {
  CHECK(me->closed == 0);
  CHECK(p.size() <= proto::max_control_payload);
}
void recorder::on_pong(std::string_view p) {
  CHECK(me->closed == 0);
  CHECK(p.size() <= proto::max_control_payload);
}
void recorder::on_close_frame(close_code code, std::string_view reason) {
  CHECK(me->closed == 0);
  CHECK(code == close_code::no_status || closewise::is_valid_on_wire(code));
  CHECK(reason.size() <= closewise::max_close_reason);
  CHECK(closewise::is_valid_utf8(reason));
  // In closing_remote the connection echoes this close next (it has sent no
  // close yet); in closing_local it was the answer to ours.
  if (me->conn.get_state() == proto::state::closing_remote) {
    me->echo_due = true;
    me->echo_code = code;
  }
}
void recorder::on_closed(const closewise::close_event& ev) {
  ++me->closed;
  CHECK(me->closed == 1);
  me->output_at_close = me->conn.output_size();
  CHECK(ev.reason.size() <= closewise::max_close_reason);
  if (ev.was_clean) CHECK(!ev.error);
  if (ev.code == close_code::abnormal) CHECK(!ev.was_clean);
}

proto::config make_config(std::uint8_t flags, std::uint32_t& keys) {
  proto::config c;
  if (flags & 1) c.deflate = proto::deflate_params{};
  if (flags & 2) {
    c.max_message = 200;
    c.max_frame = 120;
  }
  c.auto_pong = (flags & 4) == 0;
  c.deflate_min_size = (flags & 8) != 0 ? 0 : 64;
  c.mask_key = [&keys] { return keys = keys * 1664525u + 1013904223u; };
  return c;
}

/// A payload for a send: 0-511 bytes, printable for text unless raw bytes are asked for.
std::string payload_from(script& s, bool text) {
  const std::uint8_t mode = s.byte();
  std::string p = s.bytes(s.byte() + ((mode & 1) != 0 ? 256u : 0u));
  if (text && (mode & 2) == 0) {
    for (auto& c : p) c = static_cast<char>(0x20 + (static_cast<unsigned char>(c) % 0x5F));
  }
  return p;
}

/// A close code: mostly one worth testing, sometimes any 16-bit value.
close_code code_from(script& s) {
  static constexpr std::uint16_t interesting[] = {
      1000, 1001, 1002, 1003, 1004, 1005, 1006, 1007, 1008, 1009, 1010, 1011, 1012, 1013,
      1014, 1015, 1016, 2999, 3000, 3499, 3500, 3999, 4000, 4999, 999,  5000, 0,    65535};
  const std::uint8_t pick = s.byte();
  if (pick < 224) return static_cast<close_code>(interesting[pick % std::size(interesting)]);
  return static_cast<close_code>((s.byte() << 8) | s.byte());
}

/// A whole message as `parts` fragments, masked for a client (RFC 6455 §5.4).
std::string fragments(proto::role r, proto::message_kind kind, std::string_view payload,
                      std::size_t parts, std::uint32_t key) {
  std::string out;
  const std::size_t step = std::max<std::size_t>(1, payload.size() / parts);
  std::size_t at = 0;
  bool first = true;
  do {
    const std::size_t n = std::min(step, payload.size() - at);
    const bool fin = at + n >= payload.size();
    proto::frame_header h;
    h.fin = fin;
    const proto::opcode starts =
        kind == proto::message_kind::text ? proto::opcode::text : proto::opcode::binary;
    h.op = first ? starts : proto::opcode::continuation;
    h.length = n;
    h.masked = r == proto::role::client;
    h.mask_key = key;
    std::uint8_t hdr[proto::max_header_size];
    out.append(reinterpret_cast<const char*>(hdr), proto::encode_header(h, hdr));
    std::string body(payload.substr(at, n));
    if (h.masked) proto::apply_mask(reinterpret_cast<std::uint8_t*>(body.data()), n, key);
    out += body;
    at += n;
    first = false;
  } while (at < payload.size());
  return out;
}

/// Delivers up to `n` pending bytes of `from` to `to` (0: all of them).
void deliver(side& from, side& to, std::size_t n, std::uint8_t how) {
  if (from.pending.empty()) return;
  const std::size_t k = n == 0 ? from.pending.size() : std::min(n, from.pending.size());
  std::string bytes = from.pending.substr(0, k);
  from.pending.erase(0, k);
  switch (how % 3) {
    case 0:
      to.conn.receive(bytes);
      break;
    case 1:
      to.conn.receive_in_place(bytes.data(), bytes.size());
      break;
    default: {
      // The network layer's path for large payloads: straight into the window.
      std::size_t at = 0;
      while (at < bytes.size()) {
        auto [dst, room] = to.conn.receive_window(1);
        if (room == 0) {
          to.conn.receive(bytes.data() + at, bytes.size() - at);
          break;
        }
        room = std::min(room, bytes.size() - at);
        std::memcpy(dst, bytes.data() + at, room);
        to.conn.commit_window(room);
        at += room;
      }
    }
  }
}

void after_action(side& a, side& b) {
  a.step_state();
  b.step_state();
  a.collect();
  b.collect();
  // Without garbage in a direction, the receiver got a prefix of what was sent.
  for (side* s : {&a, &b}) {
    side& peer = s == &a ? b : a;
    if (s->garbage_to_peer) continue;
    CHECK(peer.received.size() <= s->sent.size());
    for (std::size_t i = 0; i < peer.received.size(); ++i) CHECK(peer.received[i] == s->sent[i]);
  }
}

void act(script& s, side& me, side& peer, std::uint32_t& keys) {
  // The low nibble picks the action, the high one its variant.
  const std::uint8_t op = s.byte();
  const int action = (op & 0x0F) % 12;
  switch (action) {
    case 0:
    case 1: {
      const auto kind = action == 0 ? proto::message_kind::text : proto::message_kind::binary;
      std::string p = payload_from(s, kind == proto::message_kind::text);
      if (!me.conn.send(kind, p)) me.sent.push_back({kind, std::move(p)});
      break;
    }
    case 2: {  // a fragmented message, written as the application's peer would
      const auto kind = (op & 0x10) != 0 ? proto::message_kind::binary : proto::message_kind::text;
      std::string p = payload_from(s, kind == proto::message_kind::text);
      const std::size_t parts = 1 + s.byte() % 6;
      const bool valid_text = kind == proto::message_kind::binary || closewise::is_valid_utf8(p);
      // Only where the connection itself could still send a message.
      if (me.conn.can_send() && !me.close_on_wire && valid_text) {
        me.inject_frames(fragments(me.role, kind, p, parts, keys = keys * 1664525u + 1u));
        me.sent.push_back({kind, std::move(p)});
      }
      break;
    }
    case 3:
      (void)me.conn.ping(s.bytes(s.byte() % 130));
      break;
    case 4:
      (void)me.conn.pong(s.bytes(s.byte() % 130));
      break;
    case 5:
    case 6: {
      const close_code code = code_from(s);
      const std::string reason = s.bytes(s.byte() % 130);
      if (action == 5)
        (void)me.conn.close(code, reason);
      else
        (void)me.conn.close_endpoint(code, reason);
      break;
    }
    case 7:
    case 8: {
      const std::uint8_t n = s.byte();
      deliver(me, peer, n, op >> 4);
      break;
    }
    case 9: {  // garbage on the wire from me to the peer
      me.pending += s.bytes(1 + s.byte() % 16);
      me.garbage_to_peer = true;
      break;
    }
    case 10:
      if ((op & 0x10) != 0)
        peer.conn.receive_eof();
      else
        peer.conn.on_close_timeout();
      me.garbage_to_peer = true;  // the peer stops reading: no longer a prefix test
      break;
    default:
      peer.conn.abort(closewise::error::heartbeat_timeout);
      me.garbage_to_peer = true;
      break;
  }
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  if (size < 1) return 0;
  script s(data, size);
  const std::uint8_t flags = s.byte();
  std::uint32_t client_keys = flags, server_keys = 7, inject_keys = 3;
  side client(proto::role::client, make_config(flags, client_keys));
  side server(proto::role::server, make_config(flags, server_keys));
  client.conn.open();
  server.conn.open();
  after_action(client, server);

  for (int steps = 0; !s.done() && steps < 4096; ++steps) {
    const bool client_acts = (s.byte() & 1) == 0;
    if (client_acts)
      act(s, client, server, inject_keys);
    else
      act(s, server, client, inject_keys);
    after_action(client, server);
  }

  // Drain both directions until nothing moves, as a network that never drops.
  for (int rounds = 0; rounds < 64 && (!client.pending.empty() || !server.pending.empty());
       ++rounds) {
    deliver(client, server, 0, 0);
    after_action(client, server);
    deliver(server, client, 0, 0);
    after_action(client, server);
  }
  CHECK(client.pending.empty() && server.pending.empty());

  // A clean close means every message sent before it arrived.
  for (side* me : {&client, &server}) {
    side& peer = me == &client ? server : client;
    const auto& r = peer.conn.result();
    if (!me->garbage_to_peer && r && r->was_clean) CHECK(peer.received == me->sent);
  }

  client.conn.receive_eof();
  server.conn.receive_eof();
  after_action(client, server);
  // CLOSEWISE_FUZZ_TRACE=1 prints how a script ended, to check what a seed reaches.
  static const bool trace = std::getenv("CLOSEWISE_FUZZ_TRACE") != nullptr;
  if (trace) {
    for (side* me : {&client, &server}) {
      const auto& r = *me->conn.result();
      std::fprintf(stderr, "%s: sent %zu received %zu, close %u \"%s\" clean=%d initiator=%s %s\n",
                   me == &client ? "client" : "server", me->sent.size(), me->received.size(),
                   unsigned{closewise::to_int(r.code)}, r.reason.c_str(), r.was_clean ? 1 : 0,
                   std::string(closewise::to_string(r.initiator)).c_str(),
                   r.error.message().c_str());
    }
  }
  for (side* me : {&client, &server}) {
    CHECK(me->closed == 1);
    CHECK(me->conn.get_state() == proto::state::closed);
    CHECK(me->conn.result().has_value());
    CHECK(!me->conn.can_send() && !me->conn.can_receive());
  }
  return 0;
}

// Fuzzes the frame parser and connection state machine in both roles.
//
// Input: byte 0 picks options (deflate, small limits, in-place feeding, auto
// pong, payload read into the receive window as the network layer does),
// byte 1 the feeding chunk size, the rest is the peer's byte stream.
// Beyond "no crash, no hang, no leak", it checks the contract: on_closed runs
// exactly once, no hook runs after it, and every byte the connection writes
// (pongs, echoes, close frames) is accepted by a correct peer without error.
#include "closewise/proto/connection.hpp"

#include <cstdint>
#include <cstdlib>
#include <cstring>
#include <string>
#include <vector>

#include "closewise/error.hpp"

namespace proto = closewise::proto;

namespace {

void check(bool ok) {
  if (!ok) std::abort();
}

struct fuzz_handler : proto::handler {
  proto::connection* conn = nullptr;
  bool echo = true;
  int closed = 0;
  void on_message(proto::message_kind kind, std::string_view payload) override {
    check(closed == 0);
    if (echo && conn) {
      // Echo, and close from inside the hook now and then, to reach the close paths.
      (void)conn->send(kind, payload);
      if (!payload.empty() && payload[0] == 'C')
        (void)conn->close(closewise::close_code::normal, "bye");
    }
  }
  void on_ping(std::string_view p) override {
    check(closed == 0);
    check(p.size() <= proto::max_control_payload);
  }
  void on_pong(std::string_view) override { check(closed == 0); }
  void on_close_frame(closewise::close_code code, std::string_view reason) override {
    check(closed == 0);
    check(code == closewise::close_code::no_status || closewise::is_valid_on_wire(code));
    check(reason.size() <= closewise::max_close_reason);
  }
  void on_closed(const closewise::close_event&) override { ++closed; }
};

proto::config make_config(std::uint8_t flags, std::uint32_t& key_state) {
  proto::config cfg;
  if (flags & 1) cfg.deflate = proto::deflate_params{};
  if (flags & 2) {
    cfg.max_message = 300;
    cfg.max_frame = 200;
  }
  cfg.auto_pong = (flags & 8) == 0;
  cfg.mask_key = [&key_state] { return key_state = key_state * 1664525u + 1013904223u; };
  return cfg;
}

void run(proto::role r, std::uint8_t flags, std::size_t chunk, const std::uint8_t* data,
         std::size_t size) {
  std::uint32_t key_state = flags;
  fuzz_handler h;
  proto::connection c(r, h, make_config(flags, key_state));
  h.conn = &c;
  c.open();
  std::vector<std::uint8_t> buf(data, data + size);
  std::size_t at = 0;
  while (at < size) {
    std::size_t n = chunk == 0 ? size - at : std::min(chunk, size - at);
    if (flags & 16) {
      // The network layer's large-payload path: bytes go straight into the window.
      if (auto [dst, room] = c.receive_window(1); room != 0) {
        n = std::min(n, room);
        std::memcpy(dst, data + at, n);
        c.commit_window(n);
        at += n;
        continue;
      }
    }
    if (flags & 4)
      c.receive_in_place(buf.data() + at, n);
    else
      c.receive(data + at, n);
    at += n;
  }
  c.receive_eof();
  check(h.closed == 1);
  check(c.get_state() == proto::state::closed);
  check(c.result().has_value());
  check(!c.can_send() && !c.can_receive());

  // Whatever this side wrote must parse cleanly at a correct peer of the other role.
  std::string out;
  c.swap_output(out);
  std::uint32_t peer_keys = 7;
  fuzz_handler ph;
  ph.echo = false;
  proto::config pcfg = make_config(flags & 1, peer_keys);
  proto::connection peer(r == proto::role::server ? proto::role::client : proto::role::server, ph,
                         pcfg);
  peer.open();
  peer.receive(out);
  if (ph.closed != 0) check(!peer.result()->error);  // a close frame, never a violation
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  if (size < 2) return 0;
  const std::uint8_t flags = data[0];
  const std::size_t chunk = data[1] % 17;  // 0: all at once
  run(proto::role::server, flags, chunk, data + 2, size - 2);
  run(proto::role::client, flags, chunk, data + 2, size - 2);
  return 0;
}

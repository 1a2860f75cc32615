// Test helpers for the protocol core: a recording handler, an in-memory peer
// and byte-level builders, so tests compare frames byte for byte.
#pragma once

#include <cstdint>
#include <cstring>
#include <functional>
#include <ostream>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "closewise/close_event.hpp"
#include "closewise/proto/connection.hpp"
#include "closewise/proto/frame.hpp"

namespace closewise {
/// Readable close events in gtest failure messages.
inline void PrintTo(const close_event& ev, std::ostream* os) {
  *os << "{code=" << to_int(ev.code) << " reason=\"" << ev.reason << "\" was_clean=" << ev.was_clean
      << " initiator=" << to_string(ev.initiator) << " error=" << ev.error.message() << "}";
}
}  // namespace closewise

namespace closewise::test {

/// "81 05 68 65" -> the bytes; spaces are ignored.
inline std::string hex(std::string_view s) {
  std::string out;
  int nibble = -1;
  for (char c : s) {
    int v;
    // clang-format off
    if (c >= '0' && c <= '9') v = c - '0';
    else if (c >= 'a' && c <= 'f') v = c - 'a' + 10;
    else if (c >= 'A' && c <= 'F') v = c - 'A' + 10;
    else continue;
    // clang-format on
    if (nibble < 0) {
      nibble = v;
    } else {
      out.push_back(static_cast<char>((nibble << 4) | v));
      nibble = -1;
    }
  }
  return out;
}

/// The bytes as "81 05 68 65", for readable failure messages.
inline std::string to_hex(std::string_view s) {
  static constexpr char digits[] = "0123456789abcdef";
  std::string out;
  for (std::size_t i = 0; i < s.size(); ++i) {
    const auto b = static_cast<unsigned char>(s[i]);
    if (i) out.push_back(' ');
    out.push_back(digits[b >> 4]);
    out.push_back(digits[b & 0xF]);
  }
  return out;
}

/// The fixed test masking key, as it appears on the wire.
inline constexpr unsigned char test_key_bytes[4] = {0x37, 0xFA, 0x21, 0x3D};

inline std::uint32_t test_key() {
  std::uint32_t k;
  std::memcpy(&k, test_key_bytes, 4);
  return k;
}

/// A config whose client frames use the fixed test key.
inline proto::config fixed_key_config(proto::config c = {}) {
  c.mask_key = [] { return test_key(); };
  return c;
}

/// Builds one frame. `masked` uses the fixed test key. `first_byte` overrides
/// FIN/RSV/opcode when non-negative, to build frames the API never would.
inline std::string frame(proto::opcode op, std::string_view payload, bool masked, bool fin = true,
                         int first_byte = -1) {
  proto::frame_header h;
  h.fin = fin;
  h.op = op;
  h.length = payload.size();
  h.masked = masked;
  h.mask_key = test_key();
  std::uint8_t hdr[proto::max_header_size];
  const auto n = proto::encode_header(h, hdr);
  if (first_byte >= 0) hdr[0] = static_cast<std::uint8_t>(first_byte);
  std::string out(reinterpret_cast<const char*>(hdr), n);
  std::string body(payload);
  if (masked)
    proto::apply_mask(reinterpret_cast<std::uint8_t*>(body.data()), body.size(), test_key());
  return out + body;
}

/// A close payload with a raw 16-bit code, valid or not.
inline std::string close_body(std::uint16_t code, std::string_view reason = {}) {
  std::string s;
  s.push_back(static_cast<char>(code >> 8));
  s.push_back(static_cast<char>(code & 0xFF));
  s.append(reason);
  return s;
}

/// A handler that records every hook call.
struct recorder : proto::handler {
  std::vector<std::pair<proto::message_kind, std::string>> messages;
  std::vector<const char*> message_data;  // where each payload view pointed
  std::vector<std::string> pings, pongs;
  std::vector<std::pair<close_code, std::string>> close_frames;
  std::vector<close_event> closed;
  std::function<void()> on_close_frame_hook;
  std::function<void(std::string_view)> on_message_hook;

  void on_message(proto::message_kind kind, std::string_view payload) override {
    messages.emplace_back(kind, std::string(payload));
    message_data.push_back(payload.data());
    if (on_message_hook) on_message_hook(payload);
  }
  void on_ping(std::string_view p) override { pings.emplace_back(p); }
  void on_pong(std::string_view p) override { pongs.emplace_back(p); }
  void on_close_frame(close_code code, std::string_view reason) override {
    close_frames.emplace_back(code, std::string(reason));
    if (on_close_frame_hook) on_close_frame_hook();
  }
  void on_closed(const close_event& ev) override { closed.push_back(ev); }
};

/// One endpoint: a connection and its recorder, already open.
struct peer {
  recorder rec;
  proto::connection conn;

  explicit peer(proto::role r, proto::config c = fixed_key_config(), bool open = true)
      : conn(r, rec, std::move(c)) {
    if (open) conn.open();
  }
  /// Takes everything queued for the wire.
  std::string take() {
    std::string b;
    conn.swap_output(b);
    return b;
  }
  /// Feeds the bytes in one piece.
  void feed(std::string_view bytes) { conn.receive(bytes); }
  /// Feeds the bytes one at a time.
  void feed_bytewise(std::string_view bytes) {
    for (char c : bytes) conn.receive(&c, 1);
  }
};

/// Moves everything `from` has queued into `to`; returns the bytes moved.
inline std::string hop(peer& from, peer& to) {
  std::string bytes = from.take();
  to.feed(bytes);
  return bytes;
}

inline close_event clean(close_code code, initiator who, std::string reason = {}) {
  return close_event{code, std::move(reason), true, who, {}};
}

inline close_event failed(close_code code, std::string reason, std::error_code why) {
  return close_event{code, std::move(reason), false, initiator::local, why};
}

}  // namespace closewise::test

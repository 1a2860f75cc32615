// closewise::proto: the RFC 6455 §5.2 frame format, masking and close payloads.
//
// These are the stateless pieces of the wire format. The connection state
// machine (proto/connection.hpp) decides what a header means in context
// (masking by role, RSV bits by negotiated extension, fragmentation).
#pragma once

#include <bit>
#include <cstddef>
#include <cstdint>
#include <cstring>
#include <string>
#include <string_view>
#include <system_error>

#include "closewise/close_code.hpp"

namespace closewise::proto {

/// Which end of the connection this is; it decides masking (RFC 6455 §5.1).
enum class role : std::uint8_t { client, server };

/// RFC 6455 §5.2 opcodes. Values 3-7 and B-F are reserved.
enum class opcode : std::uint8_t {
  continuation = 0x0,
  text = 0x1,
  binary = 0x2,
  close = 0x8,
  ping = 0x9,
  pong = 0xA,
};

/// RFC 6455 §5.5: opcodes with the high bit set (close, ping, pong and the
/// reserved 0xB-0xF) are control frames. The one place the bit is read.
constexpr bool is_control(opcode op) noexcept { return (static_cast<std::uint8_t>(op) & 0x8) != 0; }
/// RFC 6455 §5.6: a text or binary frame begins a data message; continuation
/// frames carry the rest of it.
constexpr bool begins_message(opcode op) noexcept {
  return op == opcode::text || op == opcode::binary;
}
/// RFC 6455 §5.2: every value without a name (0x3-0x7, 0xB-0xF) is reserved
/// for further frames. A decoded header may hold one.
constexpr bool is_reserved(opcode op) noexcept {
  switch (op) {
    case opcode::continuation:
    case opcode::text:
    case opcode::binary:
    case opcode::close:
    case opcode::ping:
    case opcode::pong:
      return false;
  }
  return true;
}
/// The opcode's name in the RFC 6455 §11.8 registry, lower case ("text",
/// "ping"), or "reserved".
constexpr std::string_view to_string(opcode op) noexcept {
  // clang-format off
  switch (op) {
    case opcode::continuation: return "continuation";
    case opcode::text: return "text";
    case opcode::binary: return "binary";
    case opcode::close: return "close";
    case opcode::ping: return "ping";
    case opcode::pong: return "pong";
  }
  // clang-format on
  return "reserved";
}

/// RFC 6455 §5.5: control frame payloads are at most 125 bytes.
inline constexpr std::size_t max_control_payload = 125;
/// Largest frame header: 2 + 8 (64-bit length) + 4 (mask key).
inline constexpr std::size_t max_header_size = 14;

/// A decoded frame header (RFC 6455 §5.2).
struct frame_header {
  bool fin = true;
  bool rsv1 = false, rsv2 = false, rsv3 = false;
  opcode op = opcode::text;  ///< may hold a reserved value after decode_header
  bool masked = false;
  std::uint32_t mask_key = 0;  ///< in wire byte order, as read with memcpy
  std::uint64_t length = 0;

  friend bool operator==(const frame_header&, const frame_header&) = default;
};

/// The size of the header that starts with bytes `b0 b1` (2 to 14 bytes).
constexpr std::size_t header_size(std::uint8_t /*b0*/, std::uint8_t b1) noexcept {
  const std::uint8_t len7 = b1 & 0x7F;
  return 2 + (len7 == 126 ? 2 : len7 == 127 ? 8 : 0) + ((b1 & 0x80) != 0 ? 4 : 0);
}

/// Writes a header for `h` into `out` (at least max_header_size bytes); returns its size.
/// Uses the shortest length form, as RFC 6455 §5.2 requires.
std::size_t encode_header(const frame_header& h, std::uint8_t* out) noexcept;

/// Decodes the header at the start of `data`.
///
/// Returns the header size once all of it is in `data`, or 0 when more bytes
/// are needed (`ec` clear). A 64-bit length with the top bit set, or a length
/// not in its shortest form, is error::bad_length (RFC 6455 §5.2, fail with
/// 1002). It checks only the format; role, RSV and opcode rules are the
/// connection's, because they depend on context.
[[nodiscard]] std::size_t decode_header(const std::uint8_t* data, std::size_t size,
                                        frame_header& out, std::error_code& ec) noexcept;

namespace detail {
/// The key as it sits in memory, advanced by `shift` bytes of the key stream.
constexpr std::uint32_t advance_mask_key(std::uint32_t key, std::size_t shift) noexcept {
  const int bits = static_cast<int>((shift & 3) * 8);
  if constexpr (std::endian::native == std::endian::little)
    return std::rotr(key, bits);
  else
    return std::rotl(key, bits);
}
/// The out-of-line part of apply_mask: 32 bytes or more, key already advanced.
void apply_mask_wide(std::uint8_t* data, std::size_t size, std::uint32_t key) noexcept;
}  // namespace detail

/// XORs `data` with the 4-byte key, starting at `offset` bytes into the key
/// stream (RFC 6455 §5.3). In place, for any size, alignment and offset: small
/// payloads (the common case) are masked inline 8 bytes at a time, larger ones
/// 16 or 32 bytes at a time. Masking twice with the same key restores the data.
inline void apply_mask(std::uint8_t* data, std::size_t size, std::uint32_t key,
                       std::size_t offset = 0) noexcept {
  key = detail::advance_mask_key(key, offset);
  if (size >= 32) return detail::apply_mask_wide(data, size, key);
  const std::uint64_t k64 = (std::uint64_t{key} << 32) | key;
  if (size >= 16) {
    // One 16-byte step (a single vector op once compiled); the key phase is unchanged.
    std::uint64_t a, b;
    std::memcpy(&a, data, 8);
    std::memcpy(&b, data + 8, 8);
    a ^= k64;
    b ^= k64;
    std::memcpy(data, &a, 8);
    std::memcpy(data + 8, &b, 8);
    data += 16;
    size -= 16;
  }
  for (; size >= 8; data += 8, size -= 8) {
    std::uint64_t v;
    std::memcpy(&v, data, 8);
    v ^= k64;
    std::memcpy(data, &v, 8);
  }
  if (size >= 4) {
    std::uint32_t v;
    std::memcpy(&v, data, 4);
    v ^= key;
    std::memcpy(data, &v, 4);
    data += 4;
    size -= 4;
  }
  unsigned char k[4];
  std::memcpy(k, &key, 4);
  for (std::size_t i = 0; i < size; ++i) data[i] ^= k[i];
}

/// Builds a close frame payload: the code in network byte order, then the reason
/// (RFC 6455 §5.5.1). `close_code::no_status` gives the empty payload.
[[nodiscard]] std::string make_close_payload(close_code code, std::string_view reason);

/// The result of parsing a received close payload (RFC 6455 §5.5.1, §7.1.5).
struct close_payload {
  close_code code = close_code::no_status;  ///< 1005 when the payload was empty
  std::string_view reason;                  ///< a view into the parsed payload
};

/// Validates a received close payload: 1 byte, over 125 bytes, or a code not
/// valid on the wire is error::bad_close_payload / error::bad_close_code (1002);
/// a non-UTF-8 reason is error::invalid_utf8 (1007). `out` is set only on success.
[[nodiscard]] std::error_code parse_close_payload(std::string_view payload,
                                                  close_payload& out) noexcept;

}  // namespace closewise::proto

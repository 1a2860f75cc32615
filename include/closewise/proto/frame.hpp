// closewise::proto: the RFC 6455 §5.2 frame format, masking and close payloads.
#pragma once

#include <cstddef>
#include <cstdint>
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

constexpr bool is_control(opcode op) noexcept { return (static_cast<std::uint8_t>(op) & 0x8) != 0; }
constexpr bool is_reserved(std::uint8_t op) noexcept {
  return (op >= 0x3 && op <= 0x7) || op >= 0xB;
}

/// RFC 6455 §5.5: control frame payloads are at most 125 bytes.
inline constexpr std::size_t max_control_payload = 125;
/// Largest frame header: 2 + 8 (64-bit length) + 4 (mask key).
inline constexpr std::size_t max_header_size = 14;

/// A decoded frame header.
struct frame_header {
  bool fin = true;
  bool rsv1 = false, rsv2 = false, rsv3 = false;
  opcode op = opcode::text;
  bool masked = false;
  std::uint32_t mask_key = 0;  ///< in wire byte order, as read with memcpy
  std::uint64_t length = 0;
};

/// Writes a header for `h` into `out` (at least max_header_size bytes); returns its size.
/// Uses the shortest length form, as RFC 6455 §5.2 requires.
std::size_t encode_header(const frame_header& h, std::uint8_t* out) noexcept;

/// XORs `data` with the 4-byte key, starting at `offset` bytes into the key
/// stream (RFC 6455 §5.3). In place; fast for every size.
void apply_mask(std::uint8_t* data, std::size_t size, std::uint32_t key, std::size_t offset = 0) noexcept;

/// Builds a close frame payload: the code in network byte order, then the reason.
std::string make_close_payload(close_code code, std::string_view reason);

/// The result of parsing a received close payload (RFC 6455 §5.5.1, §7.1.5).
struct close_payload {
  close_code code = close_code::no_status;  ///< 1005 when the payload was empty
  std::string_view reason;
};

/// Validates a received close payload: 1 byte, over 125 bytes, or a code not
/// valid on the wire is error::bad_close_payload / error::bad_close_code (1002);
/// a non-UTF-8 reason is error::invalid_utf8 (1007).
std::error_code parse_close_payload(std::string_view payload, close_payload& out) noexcept;

}  // namespace closewise::proto

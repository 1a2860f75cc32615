// closewise::resume: the wire format of the `closewise-resume` extension
// (docs/resume.md §2-§3): the offer and answer carried in
// Sec-WebSocket-Extensions (RFC 6455 §9.1, §11.3.2) and the acknowledgement
// control frame on reserved opcode 0xB (RFC 6455 §5.2, §5.5, §5.8).
//
// Pure functions over header values and frame payloads: no state, no I/O.
#pragma once

#include <array>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <system_error>
#include <vector>

#include "closewise/resume/message.hpp"
#include "closewise/resume/session_id.hpp"

namespace closewise::resume {

/// The extension token (RFC 6455 §9.1). An incompatible version gets a new token.
inline constexpr std::string_view extension_name = "closewise-resume";

/// RFC 6455 §5.2: "%xB-F are reserved for further control frames"; the
/// negotiated extension gives 0xB the meaning "acknowledgement".
inline constexpr std::uint8_t ack_opcode = 0xB;
/// The bit to set in `proto::config::extension_control_opcodes`.
inline constexpr std::uint16_t ack_opcode_bit = std::uint16_t{1} << ack_opcode;
/// An ack's payload: the cumulative seq, 64-bit big-endian.
inline constexpr std::size_t ack_payload_size = 8;

/// The payload of an ack for `received` (RFC 6455 §5.2 network byte order).
std::array<char, ack_payload_size> encode_ack(seq received) noexcept;
/// Reads an ack payload. Anything but 8 bytes, or a value above max_seq, is
/// error::bad_resume_ack: the receiver fails the connection with 1002.
std::error_code decode_ack(std::string_view payload, seq& out) noexcept;

/// What the server says about the offered session (docs/resume.md §2.4).
enum class resume_status : std::uint8_t {
  fresh,       ///< `new`: no session was offered; a new one starts
  resumed,     ///< the offered session continues
  expired,     ///< its TTL passed; a new one starts
  ended,       ///< it was ended on purpose; a new one starts
  unknown,     ///< no such session (or another owner's); a new one starts
  overflowed,  ///< a replay buffer lost what the other side lacks; a new one starts
  invalid,     ///< the positions contradict each other; a new one starts
};

/// The token on the wire: "new", "resumed", "expired", ...
std::string_view to_string(resume_status s) noexcept;
std::optional<resume_status> parse_resume_status(std::string_view token) noexcept;
/// The error a refusal hands messages back with (error::resume_expired, ...);
/// empty for fresh and resumed.
std::error_code to_error(resume_status s) noexcept;
/// The status a store error stands for (resume_expired -> expired, ...);
/// nullopt for errors that are not a refusal (store unavailable, ...).
std::optional<resume_status> status_of(std::error_code store_error) noexcept;

/// One side's position in a session, as offered by a client (docs/resume.md §2.3).
struct resume_point {
  session_id id;
  seq received = 0;     ///< messages of the peer's direction delivered here
  seq sent = 0;         ///< messages of this side's direction sent
  seq replay_from = 1;  ///< the lowest seq of this side's direction it can still send again
  /// The client's count of handshakes that offered this session, this one
  /// included (1, 2, ...): a store refuses one not newer than the last it
  /// took, so a late handshake of an abandoned attempt cannot take the session
  /// from the live connection (docs/resume.md §6.1). 0: not sent.
  seq attempt = 0;

  friend bool operator==(const resume_point&, const resume_point&) = default;
};

/// A client's offer: without a point, "start a new session".
struct offer {
  std::optional<resume_point> resume;
  friend bool operator==(const offer&, const offer&) = default;
};

/// The element for `client_request_options::extensions`:
/// `closewise-resume` or
/// `closewise-resume; session=ID; received=R; sent=S; replay_from=F[; attempt=A]`.
std::string format_offer(const offer& o);

/// Server: the client's offer in a request's Sec-WebSocket-Extensions value
/// (`upgrade_request::extensions`). Nullopt when there is none, or when the
/// first `closewise-resume` element is malformed: the server declines it, as
/// RFC 6455 §9.1 allows, and the client sees "not negotiated".
std::optional<offer> find_offer(std::string_view extensions_header);

/// The server's answer (docs/resume.md §2.4).
struct answer {
  session_id id;  ///< the session this connection now carries
  resume_status status = resume_status::fresh;
  /// The offered session's server-side position: present with resumed,
  /// overflowed and invalid, absent otherwise.
  std::optional<seq> received;
  std::optional<seq> sent;

  friend bool operator==(const answer&, const answer&) = default;
};

/// The element for `server_handshake::accept(..., extensions)`.
std::string format_answer(const answer& a);

/// Client: reads the answer among `client_handshake::extensions()`. Returns
/// nullopt in `out` when the server did not answer (not negotiated). A
/// malformed answer, or one whose parameters do not fit its status, is
/// error::bad_extension: the client fails the connection (RFC 6455 §9.1).
std::error_code find_answer(const std::vector<std::string>& extensions, std::optional<answer>& out);

}  // namespace closewise::resume

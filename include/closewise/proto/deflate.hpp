// closewise::proto: permessage-deflate (RFC 7692) with zlib.
//
// Negotiation (RFC 7692 §7.1) is a pair of pure functions over header values;
// the codec compresses and inflates message payloads for one side of a
// connection. The codec is sans-I/O like the rest of the protocol core.
#pragma once

#include <cstddef>
#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <system_error>

#include "closewise/proto/frame.hpp"

namespace closewise::proto {

/// The smallest and largest LZ77 window sizes RFC 7692 §7.1.2 allows (base-2 log).
inline constexpr std::uint8_t min_window_bits = 8;
inline constexpr std::uint8_t max_window_bits = 15;

/// The negotiated permessage-deflate parameters (RFC 7692 §7.1).
///
/// "server_*" govern what the server compresses (and so what the client
/// inflates); "client_*" govern the other direction.
struct deflate_params {
  bool server_no_context_takeover = false;  ///< §7.1.1.1: server resets its compressor per message
  bool client_no_context_takeover = false;  ///< §7.1.1.2: client resets its compressor per message
  std::uint8_t server_max_window_bits = 15;  ///< §7.1.2.1: 8..15
  std::uint8_t client_max_window_bits = 15;  ///< §7.1.2.2: 8..15
  friend bool operator==(const deflate_params&, const deflate_params&) = default;
};

/// What a client offers, or what a server is willing to accept.
///
/// As a client offer (format_deflate_offer): each `*_no_context_takeover`
/// that is true is offered; a window below 15 is offered with its value.
/// As server preferences (negotiate_deflate): a `*_no_context_takeover` that
/// is true is always demanded in the response; a window below 15 is the
/// largest window the server will accept for that direction.
struct deflate_options {
  bool enabled = false;
  bool server_no_context_takeover = false;
  bool client_no_context_takeover = false;
  std::uint8_t server_max_window_bits = 15;
  std::uint8_t client_max_window_bits = 15;
  /// Messages smaller than this are sent uncompressed.
  std::size_t min_compress_size = 64;
  /// Client only: offer "client_max_window_bits" even at 15 (no value), which
  /// lets the server shrink our window (RFC 7692 §7.1.2.2), as browsers do.
  bool offer_client_max_window_bits = true;
};

/// Formats a client offer, e.g. "permessage-deflate; client_max_window_bits".
/// Returns an empty string when `o.enabled` is false. Window values outside
/// 8..15 are clamped into that range.
std::string format_deflate_offer(const deflate_options& o);

/// Server side: picks a response to the client's Sec-WebSocket-Extensions
/// header. Returns the negotiated params (nullopt: no deflate) and writes the
/// response header value to `response` (empty when nothing was accepted).
///
/// RFC 7692 §5: the server accepts the first offer it can honour. Offers with
/// malformed, duplicated or unknown parameters, or that cannot meet the
/// server's limits (a client window limit the client did not offer to obey),
/// are declined, and the next offer is tried. Other extensions are ignored.
[[nodiscard]] std::optional<deflate_params> negotiate_deflate(std::string_view offer_header,
                                                              const deflate_options& server,
                                                              std::string& response);

/// Client side: checks the server's Sec-WebSocket-Extensions response value
/// against what was offered (RFC 7692 §7.1). An empty value means no
/// extension: `out` = nullopt. Anything the offer did not allow (another
/// extension, an unknown, duplicated or malformed parameter, a window larger
/// than offered, client_max_window_bits when not offered) is
/// error::bad_extension, and the client must fail the connection (§5).
[[nodiscard]] std::error_code accept_deflate_response(std::string_view response_header,
                                                      const deflate_options& offered,
                                                      std::optional<deflate_params>& out);

/// Compresses and inflates messages for one side of a connection.
///
/// zlib streams are created on first use, so an idle connection pays nothing.
/// The compressor follows this side's parameters (a server compresses with
/// server_*), the inflater the peer's. After an error that direction stays
/// failed (every later call returns error::bad_compression).
class deflate_codec {
 public:
  deflate_codec(role r, const deflate_params& p);
  ~deflate_codec();
  deflate_codec(const deflate_codec&) = delete;
  deflate_codec& operator=(const deflate_codec&) = delete;

  /// Appends the compressed message to `out`, without the final 00 00 FF FF
  /// (RFC 7692 §7.2.1). An empty message compresses to the single byte 00.
  [[nodiscard]] std::error_code compress(std::string_view message, std::string& out);
  /// Inflates one fragment of a compressed message, appending to `out`.
  /// `fin` marks the message's last fragment (the 00 00 FF FF tail is added,
  /// RFC 7692 §7.2.2). error::message_too_big when `out` would exceed
  /// `max_out` bytes (a deflate bomb stops there, having written at most
  /// max_out + 1 bytes); error::bad_compression on bad data.
  [[nodiscard]] std::error_code decompress(std::string_view fragment, bool fin, std::string& out,
                                           std::size_t max_out);

 private:
  struct impl;
  std::unique_ptr<impl> impl_;
};

}  // namespace closewise::proto

// closewise::proto: permessage-deflate (RFC 7692) with zlib.
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

/// The negotiated permessage-deflate parameters (RFC 7692 §7.1).
struct deflate_params {
  bool server_no_context_takeover = false;
  bool client_no_context_takeover = false;
  std::uint8_t server_max_window_bits = 15;  ///< 8..15
  std::uint8_t client_max_window_bits = 15;  ///< 8..15
  friend bool operator==(const deflate_params&, const deflate_params&) = default;
};

/// What a client offers, or what a server is willing to accept.
struct deflate_options {
  bool enabled = false;
  bool server_no_context_takeover = false;
  bool client_no_context_takeover = false;
  std::uint8_t server_max_window_bits = 15;
  std::uint8_t client_max_window_bits = 15;
  /// Messages smaller than this are sent uncompressed.
  std::size_t min_compress_size = 64;
};

/// Formats a client offer, e.g. "permessage-deflate; client_max_window_bits".
std::string format_deflate_offer(const deflate_options& o);

/// Server side: picks a response to the client's Sec-WebSocket-Extensions
/// header. Returns the negotiated params (nullopt: no deflate) and writes the
/// response header value to `response`. Malformed offers are skipped
/// (RFC 7692 §5: decline offers it cannot accept).
std::optional<deflate_params> negotiate_deflate(std::string_view offer_header,
                                                const deflate_options& server,
                                                std::string& response);

/// Client side: checks the server's accepted extension against what was
/// offered. Unknown extensions or parameters are error::bad_extension.
std::error_code accept_deflate_response(std::string_view response_header,
                                        const deflate_options& offered,
                                        std::optional<deflate_params>& out);

/// Compresses and inflates messages for one side of a connection.
class deflate_codec {
 public:
  deflate_codec(role r, const deflate_params& p);
  ~deflate_codec();
  deflate_codec(const deflate_codec&) = delete;
  deflate_codec& operator=(const deflate_codec&) = delete;

  /// Appends the compressed message to `out`, without the final 00 00 FF FF (§7.2.1).
  std::error_code compress(std::string_view message, std::string& out);
  /// Inflates one fragment of a compressed message, appending to `out`.
  /// `fin` marks the message's last fragment (the 00 00 FF FF tail is added).
  /// error::message_too_big when `out` would exceed `max_out` (a deflate bomb
  /// stops there, without allocating more); error::bad_compression on bad data.
  std::error_code decompress(std::string_view fragment, bool fin, std::string& out,
                             std::size_t max_out);

 private:
  struct impl;
  std::unique_ptr<impl> impl_;
};

}  // namespace closewise::proto

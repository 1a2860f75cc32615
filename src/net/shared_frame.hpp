// closewise::net (private): a data frame encoded once and written to many connections.
#pragma once

#include <cstddef>
#include <memory>
#include <string>
#include <string_view>

#include "closewise/proto/connection.hpp"

namespace closewise::net::detail {

/// A server broadcast's frame. RFC 6455 §5.1: "A server MUST NOT mask any
/// frames that it sends to the client", so the same bytes are valid on every
/// server connection that did not negotiate permessage-deflate. Immutable once
/// built; write queues hold it by shared_ptr instead of copying it.
struct shared_frame {
  proto::message_kind kind = proto::message_kind::text;
  std::string bytes;       ///< header and payload, ready for the wire
  std::size_t header = 0;  ///< bytes of the header at the front of `bytes`
  /// The payload, for a connection that has to compress it itself.
  std::string_view payload() const noexcept { return std::string_view(bytes).substr(header); }
};

/// Encodes `payload` as one unmasked, unfragmented server frame.
[[nodiscard]] std::shared_ptr<const shared_frame> make_shared_frame(proto::message_kind kind,
                                                                    std::string_view payload);

}  // namespace closewise::net::detail

// The driver's one hook for extensions: their control frames (RFC 6455 §5.2,
// §5.8), used by the resume layer's ack (docs/resume.md §3).
#include "closewise/error.hpp"
#include "driver.hpp"

namespace closewise::net::detail {

std::error_code driver::send_extension_control(std::uint8_t opcode, std::string_view payload) {
  if (!conn_ || lc_.state() != transport_state::open) return error::not_open;
  return conn_->send_extension_control(opcode, payload);
}

}  // namespace closewise::net::detail

#include "shared_frame.hpp"

#include <cstdint>

#include "closewise/proto/frame.hpp"

namespace closewise::net::detail {

std::shared_ptr<const shared_frame> make_shared_frame(proto::message_kind kind,
                                                      std::string_view payload) {
  auto f = std::make_shared<shared_frame>();
  f->kind = kind;
  proto::frame_header h;
  h.op = kind == proto::message_kind::text ? proto::opcode::text : proto::opcode::binary;
  h.length = payload.size();
  std::uint8_t hdr[proto::max_header_size];
  f->header = proto::encode_header(h, hdr);
  f->bytes.reserve(f->header + payload.size());
  f->bytes.append(reinterpret_cast<const char*>(hdr), f->header);
  f->bytes.append(payload);
  return f;
}

}  // namespace closewise::net::detail

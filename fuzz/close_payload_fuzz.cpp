// Fuzzes close payload parsing (RFC 6455 §5.5.1, §7.4) three ways: the parser
// itself, the same payload arriving in a close frame at a connection, and the
// application-side checks and truncation helper on the reason.
#include "closewise/proto/frame.hpp"

#include <cstdint>
#include <cstdlib>
#include <string>

#include "closewise/close_event.hpp"
#include "closewise/error.hpp"
#include "closewise/proto/connection.hpp"
#include "closewise/utf8.hpp"

namespace proto = closewise::proto;
using closewise::close_code;

namespace {

void check(bool ok) {
  if (!ok) std::abort();
}

struct recorder : proto::handler {
  int frames = 0, closed = 0;
  void on_message(proto::message_kind, std::string_view) override {}
  void on_close_frame(close_code, std::string_view) override { ++frames; }
  void on_closed(const closewise::close_event&) override { ++closed; }
};

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  const std::string payload(reinterpret_cast<const char*>(data), size);

  // 1. The parser: accepted payloads are well formed and round-trip exactly.
  proto::close_payload parsed;
  const std::error_code ec = proto::parse_close_payload(payload, parsed);
  if (!ec) {
    check(size != 1 && size <= proto::max_control_payload);
    check(size == 0 ? parsed.code == close_code::no_status
                    : closewise::is_valid_on_wire(parsed.code));
    check(closewise::is_valid_utf8(parsed.reason));
    check(proto::make_close_payload(parsed.code, parsed.reason) == payload);
  } else {
    check(ec == closewise::error::bad_close_payload || ec == closewise::error::bad_close_code ||
          ec == closewise::error::invalid_utf8);
  }

  // 2. The same payload in a masked close frame at a server: clean echo or the right failure.
  if (size <= 0xFFFF) {
    proto::frame_header h;
    h.op = proto::opcode::close;
    h.masked = true;
    h.mask_key = 0xA5C3E1F7u;
    h.length = size;
    std::uint8_t hdr[proto::max_header_size];
    std::string frame(reinterpret_cast<const char*>(hdr), proto::encode_header(h, hdr));
    std::string body = payload;
    proto::apply_mask(reinterpret_cast<std::uint8_t*>(body.data()), body.size(), h.mask_key);
    frame += body;
    recorder r;
    proto::connection c(proto::role::server, r);
    c.open();
    c.receive(frame);
    check(r.closed == 1 && c.result());
    const auto& ev = *c.result();
    if (!ec) {
      check(r.frames == 1 && ev.was_clean && ev.code == parsed.code);
      check(ev.initiator == closewise::initiator::remote && ev.reason == parsed.reason);
    } else {
      check(r.frames == 0 && !ev.was_clean && ev.initiator == closewise::initiator::local);
      const bool utf8 = ec == closewise::error::invalid_utf8;
      check(ev.code == (utf8 ? close_code::invalid_payload : close_code::protocol_error));
    }
  }

  // 3. The application side: the code from the first two bytes, the rest as a reason.
  if (size >= 2) {
    const auto code = static_cast<close_code>((data[0] << 8) | data[1]);
    const std::string_view reason = std::string_view(payload).substr(2);
    const std::error_code app = closewise::validate_app_close(code, reason);
    recorder r;
    proto::connection c(proto::role::client, r);
    c.open();
    check(c.close(code, reason) == app);
    check((c.get_state() == proto::state::closing_local) == !app);
    const std::string_view cut = closewise::truncate_close_reason(reason);
    check(cut.size() <= closewise::max_close_reason && reason.substr(0, cut.size()) == cut);
    check(closewise::is_valid_utf8(cut));
  }
  return 0;
}

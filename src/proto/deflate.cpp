#include "closewise/proto/deflate.hpp"

#include <zlib.h>

#include <algorithm>
#include <climits>
#include <cstring>
#include <limits>
#include <vector>

#include "closewise/error.hpp"
#include "http_syntax.hpp"

namespace closewise::proto {
namespace {

constexpr std::string_view extension_name = "permessage-deflate";
// RFC 7692 §7.2.1: the sync-flush marker every compressed message ends with.
constexpr unsigned char flush_tail[4] = {0x00, 0x00, 0xFF, 0xFF};

std::uint8_t clamp_bits(std::uint8_t b) noexcept {
  return std::clamp(b, min_window_bits, max_window_bits);
}

/// A permessage-deflate element with its parameters checked (RFC 7692 §7.1).
struct deflate_element {
  bool server_no_context_takeover = false;
  bool client_no_context_takeover = false;
  std::optional<std::uint8_t> server_max_window_bits;
  bool client_max_window_bits_present = false;
  std::optional<std::uint8_t> client_max_window_bits;
};

enum class side { offer, response };

/// Checks the parameters of one permessage-deflate element. False on an
/// unknown or duplicated parameter or a bad value (RFC 7692 §7.1: such an
/// offer is declined, such a response fails the connection).
bool check_params(const detail::extension& e, side s, deflate_element& out) {
  bool seen[4] = {false, false, false, false};
  for (const auto& p : e.params) {
    int idx = -1;
    if (detail::iequals(p.name, "server_no_context_takeover"))
      idx = 0;
    else if (detail::iequals(p.name, "client_no_context_takeover"))
      idx = 1;
    else if (detail::iequals(p.name, "server_max_window_bits"))
      idx = 2;
    else if (detail::iequals(p.name, "client_max_window_bits"))
      idx = 3;
    // RFC 7692 §7.1: "An extension negotiation offer [or response] ... MUST
    // NOT include ... an extension parameter not defined for use in an offer".
    if (idx < 0) return false;
    // RFC 7692 §7.1: "... MUST NOT include multiple extension parameters with
    // the same name".
    if (seen[idx]) return false;
    seen[idx] = true;
    switch (idx) {
      case 0:
      case 1:
        // RFC 7692 §7.1.1: the no_context_takeover parameters have no value.
        if (p.value) return false;
        (idx == 0 ? out.server_no_context_takeover : out.client_no_context_takeover) = true;
        break;
      case 2: {
        // RFC 7692 §7.1.2.1: server_max_window_bits always carries a value.
        if (!p.value) return false;
        auto b = detail::parse_window_bits(*p.value);
        if (!b) return false;
        out.server_max_window_bits = b;
        break;
      }
      case 3: {
        out.client_max_window_bits_present = true;
        // RFC 7692 §7.1.2.2: "this parameter has no value or a decimal
        // integer value"; in a response the server states the value.
        if (!p.value) {
          if (s == side::response) return false;
          break;
        }
        auto b = detail::parse_window_bits(*p.value);
        if (!b) return false;
        out.client_max_window_bits = b;
        break;
      }
      default:
        break;
    }
  }
  return true;
}

void append_params(std::string& s, const deflate_params& p, bool send_server_bits,
                   bool send_client_bits) {
  s += extension_name;
  if (p.server_no_context_takeover) s += "; server_no_context_takeover";
  if (p.client_no_context_takeover) s += "; client_no_context_takeover";
  if (send_server_bits) {
    s += "; server_max_window_bits=";
    s += std::to_string(p.server_max_window_bits);
  }
  if (send_client_bits) {
    s += "; client_max_window_bits=";
    s += std::to_string(p.client_max_window_bits);
  }
}

/// The server's answer to one valid offer, or nullopt when it cannot honour it.
std::optional<deflate_params> answer_offer(const deflate_element& o, const deflate_options& srv,
                                           bool& send_server_bits, bool& send_client_bits) {
  deflate_params p;
  // RFC 7692 §7.1.1.1: a server "MAY include the server_no_context_takeover
  // extension parameter in an extension negotiation response even if the
  // extension negotiation offer being accepted by the response didn't".
  p.server_no_context_takeover = o.server_no_context_takeover || srv.server_no_context_takeover;
  // RFC 7692 §7.1.1.2: a client offering client_no_context_takeover will use
  // it even if the server does not echo it; the server may demand it anyway.
  p.client_no_context_takeover = o.client_no_context_takeover || srv.client_no_context_takeover;

  const std::uint8_t our_server_bits = clamp_bits(srv.server_max_window_bits);
  if (o.server_max_window_bits) {
    // RFC 7692 §7.1.2.1: "A server accepts an extension negotiation offer with
    // this parameter by including the server_max_window_bits extension
    // parameter in the extension negotiation response ... with the same or
    // smaller value as the offer."
    p.server_max_window_bits = std::min(*o.server_max_window_bits, our_server_bits);
    send_server_bits = true;
  } else {
    // RFC 7692 §7.1.2.1: the server MAY include it even if the offer didn't.
    p.server_max_window_bits = our_server_bits;
    send_server_bits = our_server_bits < max_window_bits;
  }

  const std::uint8_t our_client_bits = clamp_bits(srv.client_max_window_bits);
  if (o.client_max_window_bits_present) {
    p.client_max_window_bits =
        std::min(o.client_max_window_bits.value_or(max_window_bits), our_client_bits);
    send_client_bits = p.client_max_window_bits < max_window_bits;
  } else {
    // RFC 7692 §7.1.2.2: "If a received extension negotiation offer doesn't
    // have the client_max_window_bits extension parameter, the corresponding
    // extension negotiation response to the offer MUST NOT include [it]."
    // A server that limits the client's window cannot accept such an offer.
    if (our_client_bits < max_window_bits) return std::nullopt;
    p.client_max_window_bits = max_window_bits;
    send_client_bits = false;
  }
  return p;
}

}  // namespace

std::string format_deflate_offer(const deflate_options& o) {
  if (!o.enabled) return {};
  std::string s{extension_name};
  if (o.server_no_context_takeover) s += "; server_no_context_takeover";
  if (o.client_no_context_takeover) s += "; client_no_context_takeover";
  const auto sb = clamp_bits(o.server_max_window_bits);
  if (sb < max_window_bits) {
    s += "; server_max_window_bits=";
    s += std::to_string(sb);
  }
  const auto cb = clamp_bits(o.client_max_window_bits);
  if (cb < max_window_bits) {
    s += "; client_max_window_bits=";
    s += std::to_string(cb);
  } else if (o.offer_client_max_window_bits) {
    s += "; client_max_window_bits";
  }
  return s;
}

std::optional<deflate_params> negotiate_deflate(std::string_view offer_header,
                                                const deflate_options& server,
                                                std::string& response) {
  response.clear();
  if (!server.enabled) return std::nullopt;
  std::optional<deflate_params> chosen;
  detail::for_each_element(offer_header, [&](std::string_view element) {
    detail::extension e;
    // RFC 7692 §5: offers the server cannot parse or accept are declined.
    if (!detail::parse_extension(element, e)) return true;
    if (!detail::iequals(e.name, extension_name)) return true;
    deflate_element o;
    if (!check_params(e, side::offer, o)) return true;
    bool send_server_bits = false, send_client_bits = false;
    auto p = answer_offer(o, server, send_server_bits, send_client_bits);
    if (!p) return true;
    // RFC 7692 §5: the server accepts at most one offer, the first it can.
    append_params(response, *p, send_server_bits, send_client_bits);
    chosen = p;
    return false;
  });
  return chosen;
}

std::error_code accept_deflate_response(std::string_view response_header,
                                        const deflate_options& offered,
                                        std::optional<deflate_params>& out) {
  out.reset();
  if (detail::trim(response_header).empty()) return {};
  // RFC 6455 §9.1: the server may only respond with extensions the client offered.
  if (!offered.enabled) return error::bad_extension;
  std::vector<std::string_view> elements;
  bool well_formed = true;
  detail::for_each_element(response_header, [&](std::string_view element) {
    elements.push_back(element);
    return elements.size() <= 1;
  });
  if (elements.size() != 1) return error::bad_extension;
  detail::extension e;
  if (!detail::parse_extension(elements.front(), e)) well_formed = false;
  if (!well_formed || !detail::iequals(e.name, extension_name)) return error::bad_extension;
  deflate_element r;
  if (!check_params(e, side::response, r)) return error::bad_extension;

  deflate_params p;
  // RFC 7692 §7.1.1.1: the server accepts an offer of server_no_context_takeover
  // by including it, and may include it unasked.
  if (offered.server_no_context_takeover && !r.server_no_context_takeover)
    return error::bad_extension;
  p.server_no_context_takeover = r.server_no_context_takeover;
  // RFC 7692 §7.1.1.2: a client that offered client_no_context_takeover uses
  // it whether or not the server echoes it.
  p.client_no_context_takeover = r.client_no_context_takeover || offered.client_no_context_takeover;

  const auto offered_server_bits = clamp_bits(offered.server_max_window_bits);
  if (offered_server_bits < max_window_bits) {
    // RFC 7692 §7.1.2.1: accepting our server_max_window_bits means echoing
    // it "with the same or smaller value as the offer".
    if (!r.server_max_window_bits || *r.server_max_window_bits > offered_server_bits)
      return error::bad_extension;
  }
  p.server_max_window_bits = r.server_max_window_bits.value_or(max_window_bits);

  const auto offered_client_bits = clamp_bits(offered.client_max_window_bits);
  const bool offered_client_param =
      offered_client_bits < max_window_bits || offered.offer_client_max_window_bits;
  if (r.client_max_window_bits_present) {
    // RFC 7692 §7.1.2.2: a response MUST NOT include client_max_window_bits
    // unless the offer did, and its value is at most the offered one.
    if (!offered_client_param || *r.client_max_window_bits > offered_client_bits)
      return error::bad_extension;
  }
  // Using a smaller window than allowed is always valid, so keep our own limit.
  p.client_max_window_bits =
      std::min(r.client_max_window_bits.value_or(max_window_bits), offered_client_bits);
  out = p;
  return {};
}

// ------------------------------------------------------------------ codec --

struct deflate_codec::impl {
  // This side's compressor and the peer's inflater parameters.
  int own_bits = 15;
  bool own_reset = false;
  int peer_bits = 15;
  bool peer_reset = false;

  z_stream def{};
  z_stream inf{};
  bool def_ready = false;
  bool inf_ready = false;
  bool def_failed = false;  // each direction fails on its own
  bool inf_failed = false;

  ~impl() {
    if (def_ready) deflateEnd(&def);
    if (inf_ready) inflateEnd(&inf);
  }

  bool start_deflate() {
    if (def_ready) return true;
    // zlib refuses windowBits 8 for raw deflate (it is silently 9 otherwise).
    // Using 9 is still within an 8-bit window for the peer: zlib never emits
    // a distance beyond w_size - MIN_LOOKAHEAD = 512 - 262 = 250 bytes.
    const int bits = std::max(own_bits, 9);
    if (deflateInit2(&def, Z_DEFAULT_COMPRESSION, Z_DEFLATED, -bits, 8, Z_DEFAULT_STRATEGY) != Z_OK)
      return false;
    def_ready = true;
    return true;
  }

  bool start_inflate() {
    if (inf_ready) return true;
    // RFC 7692 §7.2.2: inflate with the window the peer agreed not to exceed.
    if (inflateInit2(&inf, -peer_bits) != Z_OK) return false;
    inf_ready = true;
    return true;
  }

  std::error_code fail_inflate(error e) {
    inf_failed = true;
    return e;
  }
  std::error_code fail_deflate() {
    def_failed = true;
    return error::bad_compression;
  }

  /// Inflates `data` into `out`, keeping out.size() <= max_out + 1.
  std::error_code inflate_into(const unsigned char* data, std::size_t size, std::string& out,
                               std::size_t max_out) {
    const std::size_t cap =
        max_out == std::numeric_limits<std::size_t>::max() ? max_out : max_out + 1;
    const std::size_t start = out.size();
    std::size_t left = size;
    for (;;) {
      if (inf.avail_in == 0 && left > 0) {
        const auto n = static_cast<uInt>(std::min<std::size_t>(left, UINT_MAX));
        inf.next_in = const_cast<unsigned char*>(data + (size - left));
        inf.avail_in = n;
        left -= n;
      }
      if (out.size() >= cap) return fail_inflate(error::message_too_big);
      // Grow geometrically with what this call produced, within [1 KiB, 1 MiB].
      const std::size_t grow = std::clamp<std::size_t>(std::max(out.size() - start, size * 4),
                                                       std::size_t{1024}, std::size_t{1} << 20);
      const auto room =
          static_cast<uInt>(std::min({cap - out.size(), grow, std::size_t{UINT_MAX}}));
      const std::size_t pos = out.size();
      out.resize(pos + room);
      inf.next_out = reinterpret_cast<unsigned char*>(out.data() + pos);
      inf.avail_out = room;
      const int rc = ::inflate(&inf, Z_SYNC_FLUSH);
      out.resize(pos + (room - inf.avail_out));
      if (out.size() > max_out) return fail_inflate(error::message_too_big);
      switch (rc) {
        case Z_STREAM_END:
          // A block with BFINAL set ends the stream: the next data starts a
          // new one with an empty window (RFC 7692 §7.2.3.4 allows BFINAL).
          if (inflateReset(&inf) != Z_OK) return fail_inflate(error::bad_compression);
          if (inf.avail_in == 0 && left == 0) return {};
          break;
        case Z_OK:
          if (inf.avail_in == 0 && left == 0 && inf.avail_out > 0) return {};
          break;
        case Z_BUF_ERROR:
          // No progress was possible: either out of input (done) or of room.
          if (inf.avail_out > 0 && inf.avail_in == 0 && left == 0) return {};
          if (inf.avail_out > 0) return fail_inflate(error::bad_compression);
          break;
        default:  // Z_DATA_ERROR, Z_NEED_DICT, Z_MEM_ERROR, Z_STREAM_ERROR
          return fail_inflate(error::bad_compression);
      }
    }
  }
};

deflate_codec::deflate_codec(role r, const deflate_params& p) : impl_(std::make_unique<impl>()) {
  const bool server = r == role::server;
  impl_->own_bits = clamp_bits(server ? p.server_max_window_bits : p.client_max_window_bits);
  impl_->own_reset = server ? p.server_no_context_takeover : p.client_no_context_takeover;
  impl_->peer_bits = clamp_bits(server ? p.client_max_window_bits : p.server_max_window_bits);
  impl_->peer_reset = server ? p.client_no_context_takeover : p.server_no_context_takeover;
}

deflate_codec::~deflate_codec() = default;

std::error_code deflate_codec::compress(std::string_view message, std::string& out) {
  impl& m = *impl_;
  if (m.def_failed) return error::bad_compression;
  // RFC 7692 §7.2.3.6 (generating an empty fragment): the single octet 0x00
  // is an empty uncompressed block; zlib emits nothing right after a flush.
  if (message.empty()) {
    out.push_back('\0');
    return {};
  }
  if (!m.start_deflate()) return m.fail_deflate();
  z_stream& z = m.def;
  const std::size_t start = out.size();
  const auto* data = reinterpret_cast<const unsigned char*>(message.data());
  std::size_t left = message.size();
  z.avail_in = 0;
  for (;;) {
    if (z.avail_in == 0 && left > 0) {
      const auto n = static_cast<uInt>(std::min<std::size_t>(left, UINT_MAX));
      z.next_in = const_cast<unsigned char*>(data + (message.size() - left));
      z.avail_in = n;
      left -= n;
    }
    const std::size_t pending = z.avail_in + left;
    // deflateBound covers the input; the margin covers the sync-flush marker.
    const auto room = static_cast<uInt>(std::min<std::size_t>(
        deflateBound(&z, static_cast<uLong>(std::min<std::size_t>(pending, std::size_t{1} << 24))) +
            16,
        UINT_MAX));
    const std::size_t pos = out.size();
    out.resize(pos + room);
    z.next_out = reinterpret_cast<unsigned char*>(out.data() + pos);
    z.avail_out = room;
    // RFC 7692 §7.2.1: "Compress all the octets of the payload of the message
    // using DEFLATE" and flush, so the message ends on a byte boundary.
    const int rc = ::deflate(&z, left > 0 ? Z_NO_FLUSH : Z_SYNC_FLUSH);
    out.resize(pos + (room - z.avail_out));
    if (rc != Z_OK && rc != Z_BUF_ERROR) return m.fail_deflate();
    if (left == 0 && z.avail_in == 0 && z.avail_out > 0) break;
  }
  // RFC 7692 §7.2.1: "Remove 4 octets (that are 0x00 0x00 0xff 0xff) from the
  // tail end."
  if (out.size() - start < 4 ||
      std::memcmp(out.data() + out.size() - 4, flush_tail, sizeof flush_tail) != 0)
    return m.fail_deflate();
  out.resize(out.size() - 4);
  // RFC 7692 §7.1.1: without context takeover each message starts afresh.
  if (m.own_reset && deflateReset(&z) != Z_OK) return m.fail_deflate();
  return {};
}

std::error_code deflate_codec::decompress(std::string_view fragment, bool fin, std::string& out,
                                          std::size_t max_out) {
  impl& m = *impl_;
  if (m.inf_failed) return error::bad_compression;
  if (out.size() > max_out) return m.fail_inflate(error::message_too_big);
  if (!m.start_inflate()) return m.fail_inflate(error::bad_compression);
  if (auto ec = m.inflate_into(reinterpret_cast<const unsigned char*>(fragment.data()),
                               fragment.size(), out, max_out))
    return ec;
  if (!fin) return {};
  // RFC 7692 §7.2.2: "Append 4 octets of 0x00 0x00 0xff 0xff to the tail end
  // of the payload of the message" before inflating the end of the message.
  if (auto ec = m.inflate_into(flush_tail, sizeof flush_tail, out, max_out)) return ec;
  // RFC 7692 §7.1.1: the peer starts every message with an empty window.
  if (m.peer_reset && inflateReset(&m.inf) != Z_OK) return m.fail_inflate(error::bad_compression);
  return {};
}

}  // namespace closewise::proto

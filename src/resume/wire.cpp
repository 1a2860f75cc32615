#include "closewise/resume/wire.hpp"

#include <charconv>

#include "../proto/http_syntax.hpp"
#include "closewise/error.hpp"

namespace closewise::resume {
namespace {

namespace detail = proto::detail;

/// A seq as the wire writes it: decimal, no sign, no leading zeros, at most
/// max_seq (docs/resume.md §2.2).
std::optional<seq> parse_seq(std::string_view s) noexcept {
  if (s.empty() || s.size() > 16 || (s.size() > 1 && s[0] == '0')) return std::nullopt;
  seq v = 0;
  for (char c : s) {
    if (c < '0' || c > '9') return std::nullopt;
    v = v * 10 + static_cast<seq>(c - '0');
  }
  if (v > max_seq) return std::nullopt;
  return v;
}

void append_param(std::string& out, std::string_view name, std::string_view value) {
  out += "; ";
  out += name;
  out += '=';
  out += value;
}

void append_param(std::string& out, std::string_view name, seq value) {
  append_param(out, name, std::to_string(value));
}

/// The parameters of one element, each allowed once and with a value.
struct params {
  std::optional<session_id> session;
  std::optional<seq> received, sent, replay_from, attempt;
  std::optional<resume_status> status;
};

enum class side { offer, answer };

/// False on an unknown, repeated, valueless or malformed parameter, or one
/// that does not belong on this side.
bool read_params(const detail::extension& e, side s, params& out) {
  for (const auto& p : e.params) {
    if (!p.value) return false;
    const std::string_view v = *p.value;
    if (detail::iequals(p.name, "session")) {
      if (out.session || !(out.session = session_id::parse(v))) return false;
    } else if (detail::iequals(p.name, "received")) {
      if (out.received || !(out.received = parse_seq(v))) return false;
    } else if (detail::iequals(p.name, "sent")) {
      if (out.sent || !(out.sent = parse_seq(v))) return false;
    } else if (detail::iequals(p.name, "replay_from") && s == side::offer) {
      if (out.replay_from || !(out.replay_from = parse_seq(v))) return false;
    } else if (detail::iequals(p.name, "attempt") && s == side::offer) {
      if (out.attempt || !(out.attempt = parse_seq(v))) return false;
    } else if (detail::iequals(p.name, "status") && s == side::answer) {
      if (out.status || !(out.status = parse_resume_status(v))) return false;
    } else {
      return false;
    }
  }
  return true;
}

}  // namespace

std::array<char, ack_payload_size> encode_ack(seq received) noexcept {
  std::array<char, ack_payload_size> out{};
  // RFC 6455 §5.2: multibyte quantities are in network byte order.
  for (std::size_t i = 0; i < ack_payload_size; ++i)
    out[i] = static_cast<char>((received >> (8 * (ack_payload_size - 1 - i))) & 0xFF);
  return out;
}

std::error_code decode_ack(std::string_view payload, seq& out) noexcept {
  if (payload.size() != ack_payload_size) return error::bad_resume_ack;
  seq v = 0;
  for (char c : payload) v = (v << 8) | static_cast<unsigned char>(c);
  if (v > max_seq) return error::bad_resume_ack;
  out = v;
  return {};
}

std::string_view to_string(resume_status s) noexcept {
  switch (s) {
    case resume_status::fresh:
      return "new";
    case resume_status::resumed:
      return "resumed";
    case resume_status::expired:
      return "expired";
    case resume_status::ended:
      return "ended";
    case resume_status::unknown:
      return "unknown";
    case resume_status::overflowed:
      return "overflowed";
    case resume_status::invalid:
      return "invalid";
  }
  return "invalid";
}

std::optional<resume_status> parse_resume_status(std::string_view token) noexcept {
  for (auto s :
       {resume_status::fresh, resume_status::resumed, resume_status::expired, resume_status::ended,
        resume_status::unknown, resume_status::overflowed, resume_status::invalid})
    if (token == to_string(s)) return s;
  return std::nullopt;
}

std::error_code to_error(resume_status s) noexcept {
  switch (s) {
    case resume_status::fresh:
    case resume_status::resumed:
      return {};
    case resume_status::expired:
      return error::resume_expired;
    case resume_status::ended:
      return error::resume_ended;
    case resume_status::unknown:
      return error::resume_unknown;
    case resume_status::overflowed:
      return error::resume_overflowed;
    case resume_status::invalid:
      return error::resume_invalid;
  }
  return error::resume_invalid;
}

std::optional<resume_status> status_of(std::error_code ec) noexcept {
  if (ec == error::resume_expired) return resume_status::expired;
  if (ec == error::resume_ended) return resume_status::ended;
  if (ec == error::resume_unknown) return resume_status::unknown;
  if (ec == error::resume_overflowed) return resume_status::overflowed;
  if (ec == error::resume_invalid) return resume_status::invalid;
  return std::nullopt;
}

std::string format_offer(const offer& o) {
  std::string s{extension_name};
  if (o.resume) {
    append_param(s, "session", o.resume->id.to_string());
    append_param(s, "received", o.resume->received);
    append_param(s, "sent", o.resume->sent);
    append_param(s, "replay_from", o.resume->replay_from);
    if (o.resume->attempt != 0) append_param(s, "attempt", o.resume->attempt);
  }
  return s;
}

std::optional<offer> find_offer(std::string_view extensions_header) {
  std::optional<offer> found;
  detail::for_each_element(extensions_header, [&](std::string_view element) {
    detail::extension e;
    if (!detail::parse_extension(element, e) || !detail::iequals(e.name, extension_name))
      return true;
    // The first closewise-resume element decides; a malformed one is declined.
    params p;
    if (!read_params(e, side::offer, p)) return false;
    const bool any = p.session || p.received || p.sent || p.replay_from || p.attempt;
    const bool all = p.session && p.received && p.sent && p.replay_from;
    if (!any) {
      found = offer{};
    } else if (all && *p.replay_from >= 1 && *p.replay_from <= *p.sent + 1 &&
               p.attempt.value_or(1) >= 1) {
      found = offer{
          resume_point{*p.session, *p.received, *p.sent, *p.replay_from, p.attempt.value_or(0)}};
    }
    return false;
  });
  return found;
}

std::string format_answer(const answer& a) {
  std::string s{extension_name};
  append_param(s, "session", a.id.to_string());
  append_param(s, "status", to_string(a.status));
  if (a.received) append_param(s, "received", *a.received);
  if (a.sent) append_param(s, "sent", *a.sent);
  return s;
}

std::error_code find_answer(const std::vector<std::string>& extensions,
                            std::optional<answer>& out) {
  out.reset();
  for (const auto& element : extensions) {
    detail::extension e;
    if (!detail::parse_extension(element, e)) return error::bad_extension;
    if (!detail::iequals(e.name, extension_name)) continue;
    // RFC 6455 §9.1: the server answers an offer at most once.
    if (out) return error::bad_extension;
    params p;
    if (!read_params(e, side::answer, p) || !p.session || !p.status) return error::bad_extension;
    // The counts belong to exactly the statuses that describe the old session.
    const bool counted = *p.status == resume_status::resumed ||
                         *p.status == resume_status::overflowed ||
                         *p.status == resume_status::invalid;
    if (counted != (p.received && p.sent) || (!counted && (p.received || p.sent)))
      return error::bad_extension;
    out = answer{*p.session, *p.status, p.received, p.sent};
  }
  return {};
}

}  // namespace closewise::resume

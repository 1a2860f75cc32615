#include "path_script.hpp"

#include <fmt/format.h>

#include <charconv>
#include <cstdint>

namespace closewise::cli {
namespace {

// Largest after_ms: a day, like serve's --close-after-ms.
constexpr std::uint32_t max_after_ms = 86'400'000;

path_script_parse problem(std::string text) {
  path_script_parse p;
  p.problem = std::move(text);
  return p;
}

int hex_value(char c) {
  if (c >= '0' && c <= '9') return c - '0';
  if (c >= 'a' && c <= 'f') return c - 'a' + 10;
  if (c >= 'A' && c <= 'F') return c - 'A' + 10;
  return -1;
}

// application/x-www-form-urlencoded decoding (WHATWG URL §5.1), what a
// browser's URLSearchParams produces: '+' is a space, %XX a byte.
std::optional<std::string> form_decode(std::string_view in) {
  std::string out;
  out.reserve(in.size());
  for (std::size_t i = 0; i < in.size(); ++i) {
    if (in[i] == '+') {
      out += ' ';
    } else if (in[i] == '%') {
      if (i + 2 >= in.size()) return std::nullopt;
      const int hi = hex_value(in[i + 1]), lo = hex_value(in[i + 2]);
      if (hi < 0 || lo < 0) return std::nullopt;
      out += static_cast<char>(hi * 16 + lo);
      i += 2;
    } else {
      out += in[i];
    }
  }
  return out;
}

std::optional<std::uint32_t> parse_number(std::string_view s) {
  std::uint32_t v = 0;
  const auto [end, ec] = std::from_chars(s.data(), s.data() + s.size(), v);
  if (s.empty() || ec != std::errc{} || end != s.data() + s.size()) return std::nullopt;
  return v;
}

// "/close" followed by nothing, "/" or "?" is the command; "/closet" is not.
bool starts_command(std::string_view path, std::string_view cmd) {
  return path.substr(0, cmd.size()) == cmd &&
         (path.size() == cmd.size() || path[cmd.size()] == '/');
}

}  // namespace

path_script_parse parse_path_script(std::string_view target) {
  const auto qmark = target.find('?');
  const std::string_view path = target.substr(0, qmark);
  std::string_view query =
      qmark == std::string_view::npos ? std::string_view{} : target.substr(qmark + 1);

  path_script s;
  if (starts_command(path, "/close")) {
    std::string_view rest = path.substr(std::string_view("/close").size());
    if (rest.size() < 2)
      return problem(std::string("expected /close/CODE, e.g. /close/4000?reason=bye"));
    rest.remove_prefix(1);
    const std::string_view code_text = rest.substr(0, rest.find('/'));
    const auto code = parse_number(code_text);
    if (!code) return problem(fmt::format("'{}' is not a close code", code_text));
    if (*code == to_int(close_code::abnormal)) {
      // 1006 is what a client reports for a connection that ended without a
      // close frame: the way to make a client see it is to drop TCP.
      s.what = path_script::action::drop;
    } else if (auto p = close_code_problem(*code, close_sender::server); !p.empty()) {
      // A tester who asks for 1005 or 1015 wants the client to see it; say what can be done.
      if (*code <= close_range::invalid_last && is_local_only(static_cast<close_code>(*code)))
        p += "; /close/1006 or /drop drops TCP instead";
      return problem(std::move(p));
    }
    s.close.code = static_cast<close_code>(*code);
  } else if (starts_command(path, "/drop")) {
    s.what = path_script::action::drop;
  } else {
    return {};
  }

  bool seen_reason = false, seen_after = false;
  while (!query.empty()) {
    const auto amp = query.find('&');
    const std::string_view pair = query.substr(0, amp);
    query = amp == std::string_view::npos ? std::string_view{} : query.substr(amp + 1);
    if (pair.empty()) continue;
    const auto eq = pair.find('=');
    const std::string_view key = pair.substr(0, eq);
    const std::string_view value =
        eq == std::string_view::npos ? std::string_view{} : pair.substr(eq + 1);
    if (key == "reason") {
      if (seen_reason) return problem("reason= is given twice");
      seen_reason = true;
      if (s.what == path_script::action::drop)
        return problem(std::string("a dropped connection sends no close frame, so no reason="));
      auto r = form_decode(value);
      if (!r)
        return problem(fmt::format("reason={}: a '%' is not followed by two hex digits", value));
      if (auto p = close_reason_problem(*r); !p.empty())
        return problem(fmt::format("reason=: {}", p));
      s.close.reason = std::move(*r);
    } else if (key == "after_ms") {
      if (seen_after) return problem("after_ms= is given twice");
      seen_after = true;
      const auto ms = parse_number(value);
      if (!ms || *ms > max_after_ms)
        return problem(
            fmt::format("after_ms={}: expected milliseconds, 0-{}", value, max_after_ms));
      s.after = std::chrono::milliseconds{*ms};
    } else {
      return problem(fmt::format("unknown query parameter '{}' (known: reason, after_ms)", key));
    }
  }
  path_script_parse out;
  out.script = std::move(s);
  return out;
}

}  // namespace closewise::cli

#include "http_syntax.hpp"

namespace closewise::proto::detail {
namespace {

char lower(char c) noexcept { return (c >= 'A' && c <= 'Z') ? static_cast<char>(c + 32) : c; }
bool is_ows(char c) noexcept { return c == ' ' || c == '\t'; }

}  // namespace

bool iequals(std::string_view a, std::string_view b) noexcept {
  if (a.size() != b.size()) return false;
  for (std::size_t i = 0; i < a.size(); ++i)
    if (lower(a[i]) != lower(b[i])) return false;
  return true;
}

std::string_view trim(std::string_view s) noexcept {
  while (!s.empty() && is_ows(s.front())) s.remove_prefix(1);
  while (!s.empty() && is_ows(s.back())) s.remove_suffix(1);
  return s;
}

bool is_tchar(char c) noexcept {
  if ((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9')) return true;
  switch (c) {
    case '!':
    case '#':
    case '$':
    case '%':
    case '&':
    case '\'':
    case '*':
    case '+':
    case '-':
    case '.':
    case '^':
    case '_':
    case '`':
    case '|':
    case '~':
      return true;
    default:
      return false;
  }
}

bool is_token(std::string_view s) noexcept {
  if (s.empty()) return false;
  for (char c : s)
    if (!is_tchar(c)) return false;
  return true;
}

bool is_safe_value(std::string_view s) noexcept {
  for (char c : s) {
    const auto u = static_cast<unsigned char>(c);
    // RFC 7230 §3.2: field-vchar / SP / HTAB; a CR or LF would inject a header.
    if ((u < 0x20 && c != '\t') || u == 0x7F) return false;
  }
  return true;
}

bool list_has_token(std::string_view list, std::string_view token) {
  bool found = false;
  for_each_element(list, [&](std::string_view e) {
    found = iequals(e, token);
    return !found;
  });
  return found;
}

bool parse_extension(std::string_view element, extension& out) {
  out = {};
  std::size_t i = 0;
  const std::size_t n = element.size();
  auto skip_ows = [&] {
    while (i < n && is_ows(element[i])) ++i;
  };
  auto read_token = [&]() -> std::string_view {
    const std::size_t s = i;
    while (i < n && is_tchar(element[i])) ++i;
    return element.substr(s, i - s);
  };
  skip_ows();
  out.name = read_token();
  if (out.name.empty()) return false;
  skip_ows();
  while (i < n) {
    if (element[i] != ';') return false;
    ++i;
    skip_ows();
    extension_param p;
    p.name = read_token();
    if (p.name.empty()) return false;
    skip_ows();
    if (i < n && element[i] == '=') {
      ++i;
      skip_ows();
      if (i < n && element[i] == '"') {
        ++i;
        std::string v;
        bool closed = false;
        while (i < n) {
          char c = element[i++];
          if (c == '"') {
            closed = true;
            break;
          }
          if (c == '\\') {
            if (i >= n) return false;
            c = element[i++];
          }
          v.push_back(c);
        }
        // RFC 6455 §9.1: "the value MUST conform to the token ABNF" when quoted.
        if (!closed || !is_token(v)) return false;
        p.value = std::move(v);
      } else {
        const auto v = read_token();
        if (v.empty()) return false;
        p.value = std::string(v);
      }
      skip_ows();
    }
    out.params.push_back(std::move(p));
  }
  return true;
}

std::optional<std::uint8_t> parse_window_bits(std::string_view v) noexcept {
  if (v.size() == 1 && (v[0] == '8' || v[0] == '9')) return static_cast<std::uint8_t>(v[0] - '0');
  if (v.size() == 2 && v[0] == '1' && v[1] >= '0' && v[1] <= '5')
    return static_cast<std::uint8_t>(10 + (v[1] - '0'));
  return std::nullopt;
}

}  // namespace closewise::proto::detail

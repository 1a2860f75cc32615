#include "closewise/policy/retry_after.hpp"

#include <array>
#include <cstdint>

namespace closewise::policy {
namespace {

using std::chrono::milliseconds;

// Seconds beyond this saturate; 9e12 s in milliseconds still fits an int64.
constexpr std::int64_t max_seconds = 9'000'000'000'000;

constexpr std::array<std::string_view, 7> day_names = {"Mon", "Tue", "Wed", "Thu",
                                                       "Fri", "Sat", "Sun"};
constexpr std::array<std::string_view, 7> long_day_names = {
    "Monday", "Tuesday", "Wednesday", "Thursday", "Friday", "Saturday", "Sunday"};
constexpr std::array<std::string_view, 12> month_names = {"Jan", "Feb", "Mar", "Apr", "May", "Jun",
                                                          "Jul", "Aug", "Sep", "Oct", "Nov", "Dec"};

bool is_digit(char c) noexcept { return c >= '0' && c <= '9'; }

std::string_view trim(std::string_view s) noexcept {
  while (!s.empty() && (s.front() == ' ' || s.front() == '\t')) s.remove_prefix(1);
  while (!s.empty() && (s.back() == ' ' || s.back() == '\t')) s.remove_suffix(1);
  return s;
}

// `1*DIGIT` as seconds, saturating instead of overflowing.
std::optional<std::int64_t> parse_seconds(std::string_view s) noexcept {
  if (s.empty()) return std::nullopt;
  std::int64_t v = 0;
  for (char c : s) {
    if (!is_digit(c)) return std::nullopt;
    if (v < max_seconds) v = v * 10 + (c - '0');
  }
  return v < max_seconds ? v : max_seconds;
}

// A left-to-right reader for the fixed-layout HTTP-date formats.
class cursor {
 public:
  explicit cursor(std::string_view s) noexcept : s_(s) {}
  bool literal(std::string_view lit) noexcept {
    if (s_.substr(0, lit.size()) != lit) return false;
    s_.remove_prefix(lit.size());
    return true;
  }
  // Exactly `n` digits.
  std::optional<int> digits(std::size_t n) noexcept {
    if (s_.size() < n) return std::nullopt;
    int v = 0;
    for (std::size_t i = 0; i < n; ++i) {
      if (!is_digit(s_[i])) return std::nullopt;
      v = v * 10 + (s_[i] - '0');
    }
    s_.remove_prefix(n);
    return v;
  }
  template <std::size_t N>
  std::optional<int> one_of(const std::array<std::string_view, N>& names) noexcept {
    for (std::size_t i = 0; i < N; ++i) {
      if (literal(names[i])) return static_cast<int>(i);
    }
    return std::nullopt;
  }
  bool done() const noexcept { return s_.empty(); }

 private:
  std::string_view s_;
};

struct civil_time {
  int year = 0, month = 0, day = 0, hour = 0, minute = 0, second = 0;
};

// `time-of-day = hour ":" minute ":" second`.
bool read_time(cursor& c, civil_time& t) {
  const auto h = c.digits(2);
  if (!h || !c.literal(":")) return false;
  const auto m = c.digits(2);
  if (!m || !c.literal(":")) return false;
  const auto s = c.digits(2);
  if (!s) return false;
  t.hour = *h, t.minute = *m, t.second = *s;
  return true;
}

// RFC 9110 §5.6.7: "Sun, 06 Nov 1994 08:49:37 GMT".
std::optional<civil_time> imf_fixdate(std::string_view s) {
  cursor c(s);
  civil_time t;
  if (!c.one_of(day_names) || !c.literal(", ")) return std::nullopt;
  const auto d = c.digits(2);
  if (!d || !c.literal(" ")) return std::nullopt;
  const auto m = c.one_of(month_names);
  if (!m || !c.literal(" ")) return std::nullopt;
  const auto y = c.digits(4);
  if (!y || !c.literal(" ") || !read_time(c, t) || !c.literal(" GMT") || !c.done()) {
    return std::nullopt;
  }
  t.year = *y, t.month = *m + 1, t.day = *d;
  return t;
}

// RFC 9110 §5.6.7 (obsolete RFC 850): "Sunday, 06-Nov-94 08:49:37 GMT".
std::optional<civil_time> rfc850_date(std::string_view s, int current_year) {
  cursor c(s);
  civil_time t;
  if (!c.one_of(long_day_names) || !c.literal(", ")) return std::nullopt;
  const auto d = c.digits(2);
  if (!d || !c.literal("-")) return std::nullopt;
  const auto m = c.one_of(month_names);
  if (!m || !c.literal("-")) return std::nullopt;
  const auto yy = c.digits(2);
  if (!yy || !c.literal(" ") || !read_time(c, t) || !c.literal(" GMT") || !c.done()) {
    return std::nullopt;
  }
  // A two-digit year more than 50 years ahead means the last century.
  int year = current_year / 100 * 100 + *yy;
  if (year > current_year + 50) year -= 100;
  t.year = year, t.month = *m + 1, t.day = *d;
  return t;
}

// RFC 9110 §5.6.7 (obsolete asctime): "Sun Nov  6 08:49:37 1994".
std::optional<civil_time> asctime_date(std::string_view s) {
  cursor c(s);
  civil_time t;
  if (!c.one_of(day_names) || !c.literal(" ")) return std::nullopt;
  const auto m = c.one_of(month_names);
  if (!m || !c.literal(" ")) return std::nullopt;
  std::optional<int> d;
  if (c.literal(" ")) {
    d = c.digits(1);
  } else {
    d = c.digits(2);
  }
  if (!d || !c.literal(" ") || !read_time(c, t) || !c.literal(" ")) return std::nullopt;
  const auto y = c.digits(4);
  if (!y || !c.done()) return std::nullopt;
  t.year = *y, t.month = *m + 1, t.day = *d;
  return t;
}

std::optional<std::chrono::system_clock::time_point> to_time_point(const civil_time& t) {
  using namespace std::chrono;
  const year_month_day ymd{year{t.year}, month{static_cast<unsigned>(t.month)},
                           day{static_cast<unsigned>(t.day)}};
  // A leap second (60) is accepted and counted as the last second of the minute.
  if (!ymd.ok() || t.hour > 23 || t.minute > 59 || t.second > 60) return std::nullopt;
  return sys_days{ymd} + hours{t.hour} + minutes{t.minute} + seconds{std::min(t.second, 59)};
}

char lower(char c) noexcept {
  return (c >= 'A' && c <= 'Z') ? static_cast<char>(c - 'A' + 'a') : c;
}

bool starts_with_icase(std::string_view s, std::string_view prefix) noexcept {
  if (s.size() < prefix.size()) return false;
  for (std::size_t i = 0; i < prefix.size(); ++i) {
    if (lower(s[i]) != prefix[i]) return false;
  }
  return true;
}

bool is_separator(char c) noexcept { return c == ' ' || c == ';' || c == ','; }

}  // namespace

std::optional<milliseconds> parse_retry_after(std::string_view value,
                                              std::chrono::system_clock::time_point now) {
  value = trim(value);
  if (value.empty()) return std::nullopt;
  if (is_digit(value.front())) {
    const auto secs = parse_seconds(value);
    if (!secs) return std::nullopt;
    return milliseconds{*secs * 1000};
  }
  const auto current_year = static_cast<int>(
      std::chrono::year_month_day{std::chrono::floor<std::chrono::days>(now)}.year());
  std::optional<civil_time> civil = imf_fixdate(value);
  if (!civil) civil = rfc850_date(value, current_year);
  if (!civil) civil = asctime_date(value);
  if (!civil) return std::nullopt;
  const auto when = to_time_point(*civil);
  if (!when) return std::nullopt;
  if (*when <= now) return milliseconds{0};
  // Round up: "not before" must never become a little before.
  return std::chrono::ceil<milliseconds>(*when - now);
}

std::optional<milliseconds> parse_close_retry_after(std::string_view reason) {
  constexpr std::string_view key = "retry-after=";
  for (std::size_t i = 0; i + key.size() <= reason.size(); ++i) {
    if (i > 0 && !is_separator(reason[i - 1])) continue;
    if (!starts_with_icase(reason.substr(i), key)) continue;
    std::string_view rest = reason.substr(i + key.size());
    std::size_t end = 0;
    while (end < rest.size() && !is_separator(rest[end])) ++end;
    if (const auto secs = parse_seconds(rest.substr(0, end))) return milliseconds{*secs * 1000};
  }
  return std::nullopt;
}

}  // namespace closewise::policy

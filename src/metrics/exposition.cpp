#include "closewise/metrics/exposition.hpp"

#include <array>
#include <charconv>
#include <cmath>

namespace closewise::metrics {

std::string escape_label_value(std::string_view v) {
  std::string out;
  out.reserve(v.size());
  for (char c : v) {
    switch (c) {
      case '\\':
        out += "\\\\";
        break;
      case '"':
        out += "\\\"";
        break;
      case '\n':
        out += "\\n";
        break;
      default:
        out += c;
        break;
    }
  }
  return out;
}

std::string escape_help(std::string_view v) {
  std::string out;
  out.reserve(v.size());
  for (char c : v) {
    switch (c) {
      case '\\':
        out += "\\\\";
        break;
      case '\n':
        out += "\\n";
        break;
      default:
        out += c;
        break;
    }
  }
  return out;
}

std::string format_value(double v) {
  // The format takes Go's float syntax, with +Inf, -Inf and NaN spelled so.
  if (std::isnan(v)) return "NaN";
  if (std::isinf(v)) return v > 0 ? "+Inf" : "-Inf";
  std::array<char, 32> buf{};
  auto [end, ec] = std::to_chars(buf.data(), buf.data() + buf.size(), v);
  (void)ec;  // 32 bytes hold any shortest double
  return std::string(buf.data(), end);
}

void text_writer::family(std::string_view name, std::string_view type, std::string_view help) {
  out_ += "# HELP ";
  out_ += name;
  out_ += ' ';
  out_ += escape_help(help);
  out_ += "\n# TYPE ";
  out_ += name;
  out_ += ' ';
  out_ += type;
  out_ += '\n';
}

void text_writer::sample(std::string_view name, const label* labels, std::size_t count,
                         std::string_view value) {
  out_ += name;
  if (count != 0) {
    out_ += '{';
    for (std::size_t i = 0; i < count; ++i) {
      if (i != 0) out_ += ',';
      out_ += labels[i].name;
      out_ += "=\"";
      out_ += escape_label_value(labels[i].value);
      out_ += '"';
    }
    out_ += '}';
  }
  out_ += ' ';
  out_ += value;
  out_ += '\n';
}

void text_writer::sample(std::string_view name, std::initializer_list<label> labels,
                         std::int64_t value) {
  sample(name, labels.begin(), labels.size(), std::to_string(value));
}

void text_writer::sample(std::string_view name, std::initializer_list<label> labels, double value) {
  sample(name, labels.begin(), labels.size(), format_value(value));
}

}  // namespace closewise::metrics

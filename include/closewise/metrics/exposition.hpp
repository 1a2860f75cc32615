// closewise::metrics: the Prometheus text exposition format, version 0.0.4.
//
// https://prometheus.io/docs/instrumenting/exposition_formats/ ("Text-based
// format"): one `# HELP` and one `# TYPE` line per metric family, then one
// line per sample, `name{label="value",...} value`, each ending in '\n'.
#pragma once

#include <cstdint>
#include <initializer_list>
#include <string>
#include <string_view>

namespace closewise::metrics {

/// The Content-Type of a scrape answer in this format.
inline constexpr std::string_view text_content_type = "text/plain; version=0.0.4; charset=utf-8";

/// A label value escaped for the format: backslash, double quote and line
/// feed become `\\`, `\"` and `\n`; everything else is kept as is (UTF-8).
std::string escape_label_value(std::string_view v);
/// A HELP text escaped for the format: backslash and line feed become `\\`
/// and `\n` (a double quote stays as is there).
std::string escape_help(std::string_view v);
/// A sample value: the shortest text that reads back as the same double
/// ("0.5", "1", "1e+20"), or "+Inf", "-Inf", "NaN".
std::string format_value(double v);

/// One label of a sample.
struct label {
  std::string_view name;
  std::string_view value;
};

/// Appends families and samples to a text in the format.
class text_writer {
 public:
  /// Starts a family: `# HELP name help` and `# TYPE name type` (type is
  /// counter, gauge, histogram, summary or untyped).
  void family(std::string_view name, std::string_view type, std::string_view help);
  /// One sample, with labels in the order given (values escaped here).
  void sample(std::string_view name, std::initializer_list<label> labels, std::int64_t value);
  void sample(std::string_view name, std::initializer_list<label> labels, double value);
  /// Same, for labels held elsewhere (`count` of them at `labels`).
  void sample(std::string_view name, const label* labels, std::size_t count,
              std::string_view value);

  const std::string& text() const noexcept { return out_; }
  std::string take() noexcept { return std::move(out_); }

 private:
  std::string out_;
};

}  // namespace closewise::metrics

// Event output shared by the CLI commands: human lines or JSON lines.
#pragma once

#include <nlohmann/json.hpp>

#include <chrono>
#include <cstdio>
#include <string>
#include <string_view>

#include <closewise/close_event.hpp>

namespace closewise::cli {

/// Prints events as one readable line each, or as one JSON object per line
/// (flushed per line; only JSON goes to stdout in JSON mode).
class event_printer {
 public:
  explicit event_printer(bool json) : json_(json) {}
  bool json() const noexcept { return json_; }

  /// A JSON event, or a human line (`text`) when not in JSON mode.
  void emit(const nlohmann::json& j, std::string_view text) const;
  /// A diagnostic line on stderr (never mixed into JSON stdout).
  void diag(std::string_view text) const;

  static std::string describe_close(const close_event& ev);
  static nlohmann::json close_json(const close_event& ev);
  static std::string seconds(std::chrono::milliseconds d);

 private:
  bool json_;
};

}  // namespace closewise::cli

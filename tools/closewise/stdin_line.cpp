#include "stdin_line.hpp"

#include <fmt/format.h>

#include <charconv>

namespace closewise::cli {
namespace {

stdin_line invalid(std::string problem) {
  stdin_line l;
  l.what = stdin_line::kind::invalid;
  l.problem = std::move(problem);
  return l;
}

constexpr std::string_view close_usage = "usage: /close [CODE [REASON]]";

stdin_line parse_close(std::string_view args) {
  stdin_line l;
  l.what = stdin_line::kind::close;
  // "/close" and "/close   " both mean 1000 with no reason.
  if (args.find_first_not_of(' ') == std::string_view::npos) return l;
  if (args.front() != ' ') return invalid(std::string(close_usage));
  args.remove_prefix(1);
  const auto space = args.find(' ');
  const std::string_view code_text = args.substr(0, space);
  std::uint32_t code = 0;
  const auto [end, ec] =
      std::from_chars(code_text.data(), code_text.data() + code_text.size(), code);
  if (code_text.empty() || ec != std::errc{} || end != code_text.data() + code_text.size())
    return invalid(fmt::format("'{}' is not a close code; {}", code_text, close_usage));
  if (auto p = close_code_problem(code, close_sender::client); !p.empty())
    return invalid(std::move(p));
  l.close.code = static_cast<close_code>(code);
  if (space != std::string_view::npos) l.close.reason = std::string(args.substr(space + 1));
  if (auto p = close_reason_problem(l.close.reason); !p.empty()) return invalid(std::move(p));
  return l;
}

}  // namespace

stdin_line parse_stdin_line(std::string_view line, bool slash_commands) {
  stdin_line l;
  if (!slash_commands || line.empty() || line.front() != '/') {
    l.text = std::string(line);
    return l;
  }
  if (line.size() >= 2 && line[1] == '/') {
    l.text = std::string(line.substr(1));
    return l;
  }
  // A command typed on a terminal that sends CRLF still parses.
  if (line.back() == '\r') line.remove_suffix(1);
  constexpr std::string_view close_cmd = "/close";
  if (line.substr(0, close_cmd.size()) == close_cmd &&
      (line.size() == close_cmd.size() || line[close_cmd.size()] == ' '))
    return parse_close(line.substr(close_cmd.size()));
  const auto word = line.substr(0, line.find(' '));
  return invalid(fmt::format(
      "unknown command '{}' (commands: /close [CODE [REASON]]; start a line with // to send it "
      "as text)",
      word));
}

}  // namespace closewise::cli

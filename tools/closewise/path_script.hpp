// `closewise serve --scripted-paths`: the request path chooses what the server
// does to that one connection, so one server process can test every code.
//
//   /close/CODE[/ANY]?reason=R&after_ms=MS   close with CODE and reason R, MS after the open
//   /drop[/ANY]?after_ms=MS                  drop TCP without a close frame (the client sees 1006)
//
// CODE is any code an endpoint may send (1000-1003, 1007-1014, 3000-4999);
// 1006 means "drop TCP", like /drop. R is percent-decoded as in an HTML form
// ('+' is a space, %2B a plus) and must be at most 123 bytes of UTF-8. MS
// defaults to 0. "/ANY" is ignored, so a test can make each path unique.
// Anything that does not start with /close or /drop is not a script.
#pragma once

#include <chrono>
#include <optional>
#include <string>
#include <string_view>

#include "close_request.hpp"

namespace closewise::cli {

/// What a scripted path asks the server to do with its connection.
struct path_script {
  enum class action { close, drop };
  action what = action::close;
  close_request close;  ///< action::close only
  std::chrono::milliseconds after{0};
};

/// The parse of a request target: no script, a script, or a problem to refuse
/// the upgrade with (HTTP 400, the problem as the body).
struct path_script_parse {
  std::optional<path_script> script;
  std::string problem;  ///< non-empty: the target is a broken script (the text names the part)
};

/// Parses an HTTP request target (path and query) as a script.
path_script_parse parse_path_script(std::string_view target);

}  // namespace closewise::cli

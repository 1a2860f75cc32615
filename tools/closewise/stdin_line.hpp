// `closewise connect`: what one line read from stdin asks for.
#pragma once

#include <string>
#include <string_view>

#include "close_request.hpp"

namespace closewise::cli {

/// One stdin line, parsed.
struct stdin_line {
  enum class kind {
    text,     ///< send `text` as a text message
    close,    ///< close with `close`
    invalid,  ///< a command that cannot be carried out: `problem` says why
  };
  kind what = kind::text;
  std::string text;
  close_request close;
  std::string problem;
};

/// Without slash commands every line is text, unchanged (ARCHITECTURE §5).
/// With them (`--slash`), "/close [CODE [REASON]]" closes (1000 and no reason
/// by default; REASON is the rest of the line, spaces included), a line that
/// starts with "//" is sent as text without its first '/', and any other line
/// that starts with '/' is an unknown command. Lines without a leading '/'
/// are text either way.
stdin_line parse_stdin_line(std::string_view line, bool slash_commands);

}  // namespace closewise::cli

#include "output.hpp"

#include <fmt/format.h>

#include <cstdio>

#include <closewise/close_code.hpp>

namespace closewise::cli {

namespace {

// One whole line per call, even when `serve --threads N` prints from several threads:
// stdio locks each call, not the pair of calls that make a line.
void write_line(std::FILE* f, std::string_view text) {
  flockfile(f);
  std::fwrite(text.data(), 1, text.size(), f);
  std::fputc('\n', f);
  std::fflush(f);
  funlockfile(f);
}

}  // namespace

void event_printer::emit(const nlohmann::json& j, std::string_view text) const {
  if (json_) {
    write_line(stdout, j.dump(-1, ' ', false, nlohmann::json::error_handler_t::replace));
  } else {
    write_line(stdout, text);
  }
}

void event_printer::diag(std::string_view text) const { write_line(stderr, text); }

std::string event_printer::describe_close(const close_event& ev) {
  std::string s = fmt::format("close {} {}", to_int(ev.code), name(ev.code));
  if (!ev.reason.empty()) s += fmt::format(" \"{}\"", ev.reason);
  s += ev.was_clean ? ", clean" : ", not clean";
  switch (ev.initiator) {
    case initiator::local:
      s += ", initiated locally";
      break;
    case initiator::remote:
      s += ", initiated by the peer";
      break;
    case initiator::none:
      s += ", no close handshake";
      break;
  }
  if (ev.error) s += fmt::format(" ({})", ev.error.message());
  return s;
}

nlohmann::json event_printer::close_json(const close_event& ev) {
  nlohmann::json j{{"event", "close"},
                   {"code", to_int(ev.code)},
                   {"reason", ev.reason},
                   {"was_clean", ev.was_clean},
                   {"initiator", to_string(ev.initiator)}};
  if (ev.error) j["error"] = ev.error.message();
  return j;
}

std::string event_printer::seconds(std::chrono::milliseconds d) {
  return d.count() < 1000 ? fmt::format("{} ms", d.count())
                          : fmt::format("{:.1f} s", static_cast<double>(d.count()) / 1000.0);
}

}  // namespace closewise::cli

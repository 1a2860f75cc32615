#include "output.hpp"

#include <fmt/format.h>

#include <closewise/close_code.hpp>

namespace closewise::cli {

void event_printer::emit(const nlohmann::json& j, std::string_view text) const {
  if (json_) {
    const std::string line = j.dump(-1, ' ', false, nlohmann::json::error_handler_t::replace);
    std::fwrite(line.data(), 1, line.size(), stdout);
    std::fputc('\n', stdout);
  } else {
    std::fwrite(text.data(), 1, text.size(), stdout);
    std::fputc('\n', stdout);
  }
  std::fflush(stdout);
}

void event_printer::diag(std::string_view text) const {
  std::fwrite(text.data(), 1, text.size(), stderr);
  std::fputc('\n', stderr);
  std::fflush(stderr);
}

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

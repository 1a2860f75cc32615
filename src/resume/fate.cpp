#include "closewise/resume/fate.hpp"

namespace closewise::resume {

std::string_view to_string(close_fate f) noexcept { return f == close_fate::keep ? "keep" : "end"; }

close_fate fate_of_code(close_code code) noexcept {
  // One source of truth: the registry's default reconnect decision (ARCHITECTURE §3).
  switch (info(code).reconnect.action) {
    case reconnect_action::retry:
    case reconnect_action::retry_raised_floor:
      return close_fate::keep;
    case reconnect_action::stop:
    case reconnect_action::retry_with_strikes:
      return close_fate::end;
  }
  return close_fate::end;
}

close_fate server_fate(const close_event& ev, std::optional<close_code> sent) noexcept {
  switch (ev.initiator) {
    case initiator::remote:
      return close_fate::end;
    case initiator::local:
      return fate_of_code(sent.value_or(ev.code));
    case initiator::none:
      break;
  }
  return close_fate::keep;
}

close_fate client_fate(const close_event& ev, bool policy_retries) noexcept {
  if (ev.initiator == initiator::local || !policy_retries) return close_fate::end;
  // A close frame from the server carries its own verdict on the session.
  if (ev.initiator == initiator::remote) return fate_of_code(ev.code);
  return close_fate::keep;
}

}  // namespace closewise::resume

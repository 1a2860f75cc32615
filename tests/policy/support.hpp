// Helpers shared by the policy tests: outcomes and fixed random sources.
#pragma once

#include <chrono>
#include <string>

#include "closewise/close_event.hpp"
#include "closewise/policy/backoff.hpp"
#include "closewise/policy/outcome.hpp"

namespace closewise::policy::test {

using namespace std::chrono_literals;
using ms = std::chrono::milliseconds;

/// A close frame received from the peer.
inline outcome remote_close(std::uint16_t code, std::string reason = {}) {
  close_event ev;
  ev.code = static_cast<close_code>(code);
  ev.reason = std::move(reason);
  ev.was_clean = true;
  ev.initiator = initiator::remote;
  return ev;
}

/// A connection that ended without a close frame, with `why` as its error.
inline outcome dropped(std::uint16_t code, std::error_code why) {
  close_event ev;
  ev.code = static_cast<close_code>(code);
  ev.initiator = initiator::none;
  ev.error = why;
  return ev;
}

/// The application called close().
inline outcome app_close(std::uint16_t code = 1000) {
  close_event ev;
  ev.code = static_cast<close_code>(code);
  ev.was_clean = true;
  ev.initiator = initiator::local;
  return ev;
}

/// A refused upgrade without a Retry-After header.
inline outcome refused(unsigned status) {
  http_refusal r;
  r.status = status;
  return r;
}

/// A refused upgrade with a raw Retry-After header value.
inline outcome refused(unsigned status, std::string retry_after) {
  http_refusal r;
  r.status = status;
  r.retry_after.emplace(std::move(retry_after));
  return r;
}

/// A source that always returns `u`: its extremes pin the bounds of a formula.
inline uniform_source constant(double u) {
  return [u] { return u; };
}

/// The largest double below 1: the top of U(0, w).
inline constexpr double almost_one = 0.99999999999999989;

}  // namespace closewise::policy::test

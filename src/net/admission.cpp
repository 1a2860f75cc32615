#include "admission.hpp"

#include <algorithm>

#include <boost/beast/core/string.hpp>

namespace closewise::net::detail {
namespace {

/// Retry-After as RFC 9110 §10.2.3 delay-seconds.
proto::http_headers retry_after(std::chrono::seconds s) {
  proto::http_headers h;
  h.fields.emplace_back("Retry-After", std::to_string(s.count()));
  return h;
}

/// RFC 6455 §10.2: the Origin check protects browsers' users from other sites.
bool origin_allowed(const server_shared& sh, const proto::upgrade_request& req) {
  const auto& allowed = sh.cfg.allowed_origins;
  if (allowed.empty()) return true;
  const auto origin = req.headers.get("Origin");
  if (!origin) return !sh.cfg.require_origin;
  return std::any_of(allowed.begin(), allowed.end(),
                     [&](const std::string& a) { return boost::beast::iequals(a, *origin); });
}

admission refused(std::string response) {
  admission a;
  a.what = admission::verdict::refuse;
  a.response = std::move(response);
  return a;
}

admission shed(server_shared& sh) {
  const auto wait = sh.cfg.overload_retry_after;
  sh.shed.fetch_add(1, std::memory_order_relaxed);
  const bool http = sh.cfg.on_overload == overload_action::http_503;
  if (sh.cfg.observer)
    sh.cfg.observer->shed(http ? metrics::shed_action::http_503 : metrics::shed_action::close_1013);
  if (http) {
    // RFC 9110 §15.6.4: 503 "indicates that the server is currently unable to
    // handle the request due to a temporary overload"; Retry-After says when.
    return refused(proto::server_handshake::refuse(503, retry_after(wait), "over capacity"));
  }
  // RFC 6455 §7.4.1 (IANA registry): 1013 "Try Again Later".
  admission a;
  a.what = admission::verdict::close_1013;
  a.reason = "retry-after=" + std::to_string(wait.count());
  return a;
}

}  // namespace

bool take_slot(server_shared& sh) noexcept {
  const std::size_t limit = sh.cfg.max_connections;
  if (limit != 0 && sh.admitted.fetch_add(1, std::memory_order_relaxed) >= limit) {
    sh.admitted.fetch_sub(1, std::memory_order_relaxed);
    return false;
  }
  if (limit == 0) sh.admitted.fetch_add(1, std::memory_order_relaxed);
  return true;
}

void give_back_slot(server_shared& sh) noexcept {
  sh.admitted.fetch_sub(1, std::memory_order_relaxed);
}

admission admit(server_shared& sh, const proto::server_handshake& hs, bool over_limit) {
  if (over_limit) return shed(sh);
  const auto& req = hs.request();
  if (!origin_allowed(sh, req))
    return refused(proto::server_handshake::refuse(403, {}, "origin not allowed"));
  std::string selected;
  callback_gate::scope g(sh.gate);
  if (sh.select_subprotocol && g.open()) selected = sh.select_subprotocol(req.subprotocols);
  accept_decision d = accept_decision::accepted(std::move(selected));
  if (sh.on_connect && g.open()) {
    accept_decision app = sh.on_connect(req);
    // An accepting decision with no subprotocol keeps the selected one.
    if (app.accept && app.subprotocol.empty()) app.subprotocol = std::move(d.subprotocol);
    d = std::move(app);
  }
  if (!d.accept) return refused(proto::server_handshake::refuse(d.status, d.headers, d.body));
  admission a;
  a.subprotocol = std::move(d.subprotocol);
  return a;
}

}  // namespace closewise::net::detail

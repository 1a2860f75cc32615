#include "health.hpp"

#include <string_view>

namespace closewise::net::detail {

std::optional<std::string> health_answer(const server_shared& sh,
                                         const proto::upgrade_request& req) {
  const std::string& path = sh.cfg.health_path;
  if (path.empty() || req.method != "GET") return std::nullopt;
  std::string_view target = req.target;
  target = target.substr(0, target.find('?'));
  if (target != path) return std::nullopt;
  proto::http_headers h;
  h.fields.emplace_back("Cache-Control", "no-store");
  if (sh.draining.load(std::memory_order_acquire))
    return proto::server_handshake::refuse(503, h, "draining\n");
  return proto::server_handshake::refuse(200, h, "ok\n");
}

}  // namespace closewise::net::detail

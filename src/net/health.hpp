// closewise::net (private): the answer to a load balancer's health check
// (server_config::health_path).
#pragma once

#include <optional>
#include <string>

#include "closewise/proto/handshake.hpp"
#include "server_shared.hpp"

namespace closewise::net::detail {

/// For a request that is not a valid upgrade: if it is a GET of the health
/// path (query ignored, any HTTP version: HAProxy checks with HTTP/1.0 by
/// default), the whole HTTP answer, `200 ok` or `503 draining`
/// (RFC 9110 §15.6.4: the server "is currently unable to handle the request").
/// Otherwise nothing: the request gets its usual error.
[[nodiscard]] std::optional<std::string> health_answer(const server_shared& sh,
                                                       const proto::upgrade_request& req);

}  // namespace closewise::net::detail

// closewise::net (private): the TLS contexts of clients and servers (OpenSSL via Asio).
#pragma once

#include <memory>
#include <system_error>

#include "closewise/net/tls.hpp"
#include "io_types.hpp"

namespace closewise::net::detail {

/// Builds the TLS context of a client or a server, one way for both roles:
/// TLS 1.2 and later only (RFC 8996 deprecates 1.0 and 1.1), then the
/// client's trust store (`ca_file`, or the system's, when it verifies) or the
/// server's certificate chain and key. A context the options already carry is
/// used as is. error::invalid_argument for a file that cannot be loaded.
[[nodiscard]] std::error_code make_tls_context(const tls_client_options& client,
                                               std::shared_ptr<ssl::context>& out);
[[nodiscard]] std::error_code make_tls_context(const tls_server_options& server,
                                               std::shared_ptr<ssl::context>& out);

}  // namespace closewise::net::detail

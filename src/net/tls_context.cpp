#include "tls_context.hpp"

#include "closewise/error.hpp"

namespace closewise::net::detail {
namespace {

/// The one place a context is made: the method of the role, TLS 1.2 and
/// later, then the role's own material loaded by `load`.
template <class Load>
std::error_code build(ssl::context::method method, Load&& load,
                      std::shared_ptr<ssl::context>& out) {
  auto ctx = std::make_shared<ssl::context>(method);
  boost::system::error_code ec;
  ctx->set_options(ssl::context::default_workarounds | ssl::context::no_sslv2 |
                       ssl::context::no_sslv3 | ssl::context::no_tlsv1 | ssl::context::no_tlsv1_1,
                   ec);
  if (!ec) load(*ctx, ec);
  // An unreadable CA file, certificate or key is a configuration error.
  if (ec) return error::invalid_argument;
  out = std::move(ctx);
  return {};
}

}  // namespace

std::error_code make_tls_context(const tls_client_options& client,
                                 std::shared_ptr<ssl::context>& out) {
  if (client.context) {
    out = client.context;
    return {};
  }
  return build(
      ssl::context::tls_client,
      [&](ssl::context& ctx, boost::system::error_code& ec) {
        if (!client.verify) return;
        if (!client.ca_file.empty()) {
          ctx.load_verify_file(client.ca_file, ec);
        } else {
          ctx.set_default_verify_paths(ec);
        }
      },
      out);
}

std::error_code make_tls_context(const tls_server_options& server,
                                 std::shared_ptr<ssl::context>& out) {
  if (server.context) {
    out = server.context;
    return {};
  }
  return build(
      ssl::context::tls_server,
      [&](ssl::context& ctx, boost::system::error_code& ec) {
        ctx.use_certificate_chain_file(server.cert_file, ec);
        if (!ec) ctx.use_private_key_file(server.key_file, ssl::context::pem, ec);
      },
      out);
}

}  // namespace closewise::net::detail

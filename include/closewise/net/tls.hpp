// closewise::net: TLS settings for wss:// clients and servers (OpenSSL via Boost.Asio).
#pragma once

#include <memory>
#include <string>

namespace boost::asio::ssl {
class context;
}

namespace closewise::net {

/// How a client verifies the server (RFC 6125 host name checks, RFC 6066 SNI).
///
/// The default trusts the system's CA store and checks the chain and the host
/// name; a failure ends the attempt with close_event{1015, was_clean=false,
/// initiator none, error::tls_verify_failed}. Every other TLS failure is
/// error::tls_error, also reported as 1015.
struct tls_client_options {
  /// Verify the chain and the host name. Turn off only for tests against
  /// self-signed servers; the connection is then open to interception.
  bool verify = true;
  /// A PEM file of trusted CA certificates, used instead of the system store.
  std::string ca_file;
  /// The name to send as SNI and to verify; empty: the URL's host.
  std::string server_name;
  /// A ready context shared by many clients (ca_file is then ignored).
  std::shared_ptr<boost::asio::ssl::context> context;
};

/// The server's certificate and key.
struct tls_server_options {
  std::string cert_file;  ///< PEM certificate chain, leaf first
  std::string key_file;   ///< PEM private key
  /// A ready context instead of the files above.
  std::shared_ptr<boost::asio::ssl::context> context;
};

}  // namespace closewise::net

// closewise::net (private): Asio and OpenSSL errors as closewise::error.
#pragma once

#include <system_error>

#include <boost/system/error_code.hpp>

namespace closewise::net::detail {

/// Maps an Asio or OpenSSL error to the closewise::error that names it.
[[nodiscard]] std::error_code map_transport_error(const boost::system::error_code& ec) noexcept;

/// The stream ended: a TCP FIN, a TLS close_notify, or a FIN without one.
[[nodiscard]] bool is_eof(const boost::system::error_code& ec) noexcept;

}  // namespace closewise::net::detail

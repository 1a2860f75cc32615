#include "transport_error.hpp"

#include <boost/asio/error.hpp>
#include <boost/asio/ssl/error.hpp>

#include "closewise/error.hpp"

namespace closewise::net::detail {

namespace asio = boost::asio;
namespace ssl = boost::asio::ssl;

bool is_eof(const boost::system::error_code& ec) noexcept {
  return ec == asio::error::eof || ec == ssl::error::stream_truncated;
}

std::error_code map_transport_error(const boost::system::error_code& ec) noexcept {
  if (!ec) return {};
  if (is_eof(ec)) return error::eof_without_close;
  if (ec == asio::error::connection_reset || ec == asio::error::broken_pipe ||
      ec == asio::error::connection_aborted)
    return error::connection_reset;
  if (ec == asio::error::connection_refused) return error::connection_refused;
  if (ec == asio::error::host_not_found || ec == asio::error::host_not_found_try_again ||
      ec == asio::error::no_data || ec == asio::error::no_recovery ||
      ec == asio::error::service_not_found)
    return error::dns_failure;
  if (ec == asio::error::timed_out) return error::connect_timeout;
  if (ec == asio::error::operation_aborted) return error::aborted;
  if (ec.category() == asio::error::get_ssl_category() ||
      ec.category() == ssl::error::get_stream_category())
    return error::tls_error;
  return error::transport_error;
}

}  // namespace closewise::net::detail

// closewise::net (private): a server's listening socket and accept loop.
#pragma once

#include <atomic>
#include <cstdint>
#include <memory>
#include <string_view>
#include <system_error>

#include <boost/asio/any_io_executor.hpp>
#include <boost/asio/steady_timer.hpp>

#include "server_shared.hpp"

namespace closewise::net::detail {

/// Binds, accepts, takes a max_connections slot for each connection and
/// launches its session.
class listener : public std::enable_shared_from_this<listener> {
 public:
  explicit listener(std::shared_ptr<server_shared> shared);

  /// Binds `address:port` (port 0: a free one) and starts accepting. A second
  /// call is error::invalid_argument; a bind failure is the system's error.
  [[nodiscard]] std::error_code listen(std::string_view address, std::uint16_t port);
  /// Accepts the connections already queued on the listening socket, then
  /// closes it (server::stop_accepting).
  void stop();
  std::uint16_t port() const noexcept { return port_.load(std::memory_order_acquire); }
  const asio::any_io_executor& executor() const noexcept { return ex_; }

 private:
  void accept_next();
  void on_accept(const boost::system::error_code& ec, asio::io_context& ctx, socket_type sock);
  /// Accepts, without waiting, what the kernel already queued on the socket.
  void accept_queued();

  std::shared_ptr<server_shared> shared_;
  asio::any_io_executor ex_;
  tcp::acceptor acceptor_;
  tcp::endpoint peer_;  ///< filled by the accept in flight (one at a time)
  asio::steady_timer retry_;
  std::atomic<std::uint16_t> port_{0};
};

}  // namespace closewise::net::detail

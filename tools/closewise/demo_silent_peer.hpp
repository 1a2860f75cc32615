// `closewise demo`: a peer that completes the WebSocket handshake and then goes
// silent, to show the client's heartbeat finding a dead peer.
//
// closewise's own server always answers pings, as it must (RFC 6455 §5.5.2),
// so the demo builds this misbehaving peer from the sans-I/O handshake of the
// public API and a bare Asio socket: after the 101 answer it never reads or
// writes again, yet keeps TCP open, like a host that froze or a NAT that
// silently dropped the flow.
#pragma once

#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/tcp.hpp>

#include <chrono>
#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <system_error>
#include <vector>

namespace closewise::cli::demo {

class silent_peer : public std::enable_shared_from_this<silent_peer> {
 public:
  /// Called on the io_context's thread when the 101 answer of connection
  /// number `n` (1-based, in accept order) has been written, with the request target.
  using handshake_handler = std::function<void(int n, const std::string& target)>;

  static std::shared_ptr<silent_peer> create(boost::asio::io_context& ioc);

  /// Binds 127.0.0.1 on a free port and starts accepting.
  std::error_code listen(handshake_handler on_handshake);
  std::uint16_t port() const noexcept { return port_; }
  /// Closes the listener and every connection, waiting (at most `limit`) for
  /// the io_context's thread to do it. Call it from another thread.
  void stop(std::chrono::milliseconds limit = std::chrono::seconds(2));

  explicit silent_peer(boost::asio::io_context& ioc) : ioc_(ioc), acceptor_(ioc) {}

 private:
  struct connection;
  void accept_next();
  void read_request(const std::shared_ptr<connection>& c);

  boost::asio::io_context& ioc_;
  boost::asio::ip::tcp::acceptor acceptor_;
  std::uint16_t port_ = 0;
  handshake_handler on_handshake_;
  int accepted_ = 0;
  std::vector<std::shared_ptr<connection>> connections_;  // touched on the io thread only
};

}  // namespace closewise::cli::demo

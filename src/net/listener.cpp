#include "listener.hpp"

#include <boost/asio/ip/address.hpp>
#include <boost/asio/post.hpp>

#include "admission.hpp"
#include "closewise/error.hpp"
#include "session_impl.hpp"

namespace closewise::net::detail {
namespace {

asio::any_io_executor make_executor(asio::io_context& ioc, bool use_strand) {
  if (use_strand) return asio::make_strand(ioc);
  return ioc.get_executor();
}

}  // namespace

listener::listener(std::shared_ptr<server_shared> shared)
    : shared_(std::move(shared)),
      ex_(make_executor(shared_->ioc, shared_->cfg.use_strand)),
      acceptor_(ex_),
      retry_(ex_) {}

std::error_code listener::listen(std::string_view address, std::uint16_t port) {
  if (acceptor_.is_open()) return error::invalid_argument;
  boost::system::error_code ec;
  const auto addr = asio::ip::make_address(std::string(address), ec);
  if (ec) return error::invalid_argument;
  const tcp::endpoint ep(addr, port);
  acceptor_.open(ep.protocol(), ec);
  // The server holds TIME_WAIT after every clean close (RFC 6455 §7.1.1),
  // so a restarted server must be able to bind its port again at once.
  if (!ec) acceptor_.set_option(tcp::acceptor::reuse_address(true), ec);
  // A new version of the server binds the port while this one still serves
  // (zero-downtime restart); the kernel spreads connections over both.
  if (!ec && shared_->cfg.reuse_port)
    acceptor_.set_option(asio::detail::socket_option::boolean<SOL_SOCKET, SO_REUSEPORT>(true), ec);
  if (!ec) acceptor_.bind(ep, ec);
  if (!ec) acceptor_.listen(shared_->cfg.backlog, ec);
  if (ec) {
    boost::system::error_code ignored;
    acceptor_.close(ignored);
    return std::error_code(ec.value(), std::system_category());
  }
  port_.store(acceptor_.local_endpoint(ec).port(), std::memory_order_release);
  if (shared_->pool) shared_->pool->start();
  asio::post(ex_, [self = shared_from_this()] { self->accept_next(); });
  return {};
}

void listener::stop() {
  asio::post(ex_, [self = shared_from_this()] {
    self->accept_queued();
    boost::system::error_code ignored;
    self->acceptor_.close(ignored);
    self->retry_.cancel();
  });
}

void listener::accept_queued() {
  if (!acceptor_.is_open() || !shared_->live()) return;
  // Closing a listening socket resets the connections in its accept queue
  // (their handshake finished in the kernel); with SO_REUSEPORT the kernel put
  // some there although another process listens too. Take them, so they are
  // served (or told to come back) like any other.
  boost::system::error_code ec;
  acceptor_.non_blocking(true, ec);
  // Its own endpoint: the pending async accept owns peer_.
  tcp::endpoint peer;
  while (!ec) {
    asio::io_context& ctx = shared_->next_context();
    socket_type sock(ctx);
    acceptor_.accept(sock, peer, ec);
    if (ec) break;
    const bool counted = take_slot(*shared_);
    std::make_shared<session_impl>(shared_, ctx, std::move(sock), peer, counted)->launch();
  }
}

void listener::accept_next() {
  if (!acceptor_.is_open()) return;
  // Accepting with the peer's address saves a getpeername() per connection.
  asio::io_context& ctx = shared_->next_context();
  acceptor_.async_accept(
      ctx, peer_,
      [self = shared_from_this(), &ctx](const boost::system::error_code& ec, socket_type sock) {
        self->on_accept(ec, ctx, std::move(sock));
      });
}

void listener::on_accept(const boost::system::error_code& ec, asio::io_context& ctx,
                         socket_type sock) {
  if (ec == asio::error::operation_aborted || !acceptor_.is_open()) return;
  if (ec) {
    // Out of descriptors or memory: pause briefly instead of spinning.
    retry_.expires_after(std::chrono::milliseconds(50));
    retry_.async_wait([self = shared_from_this()](const boost::system::error_code& wec) {
      if (!wec) self->accept_next();
    });
    return;
  }
  // A server being destroyed may have joined its threads: nothing would run the session.
  if (!shared_->live()) return;
  const bool counted = take_slot(*shared_);
  std::make_shared<session_impl>(shared_, ctx, std::move(sock), peer_, counted)->launch();
  accept_next();
}

}  // namespace closewise::net::detail

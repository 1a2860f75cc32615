#include "demo_silent_peer.hpp"

#include <boost/asio/post.hpp>
#include <boost/asio/write.hpp>

#include <array>
#include <future>
#include <string_view>

#include <closewise/proto/handshake.hpp>

namespace closewise::cli::demo {

namespace asio = boost::asio;
using tcp = asio::ip::tcp;

struct silent_peer::connection {
  explicit connection(asio::io_context& ioc) : socket(ioc) {}
  tcp::socket socket;
  proto::server_handshake handshake;
  std::array<char, 2048> buf{};
  std::string answer;
  int number = 0;
};

std::shared_ptr<silent_peer> silent_peer::create(asio::io_context& ioc) {
  return std::make_shared<silent_peer>(ioc);
}

std::error_code silent_peer::listen(handshake_handler on_handshake) {
  on_handshake_ = std::move(on_handshake);
  boost::system::error_code ec;
  const tcp::endpoint ep(asio::ip::make_address("127.0.0.1"), 0);
  acceptor_.open(ep.protocol(), ec);
  if (!ec) acceptor_.bind(ep, ec);
  if (!ec) acceptor_.listen(asio::socket_base::max_listen_connections, ec);
  if (ec) return ec;
  port_ = acceptor_.local_endpoint().port();
  asio::post(ioc_, [self = shared_from_this()] { self->accept_next(); });
  return {};
}

void silent_peer::accept_next() {
  auto c = std::make_shared<connection>(ioc_);
  acceptor_.async_accept(c->socket,
                         [self = shared_from_this(), c](const boost::system::error_code& ec) {
                           if (ec) return;  // the listener was closed by stop()
                           c->number = ++self->accepted_;
                           self->connections_.push_back(c);
                           self->read_request(c);
                           self->accept_next();
                         });
}

void silent_peer::read_request(const std::shared_ptr<connection>& c) {
  c->socket.async_read_some(
      asio::buffer(c->buf),
      [self = shared_from_this(), c](const boost::system::error_code& ec, std::size_t n) {
        if (ec) return;
        std::size_t consumed = 0;
        switch (c->handshake.receive(std::string_view(c->buf.data(), n), consumed)) {
          case proto::server_handshake::result::need_more:
            self->read_request(c);
            return;
          case proto::server_handshake::result::invalid:
            c->answer = c->handshake.error_response();
            asio::async_write(c->socket, asio::buffer(c->answer),
                              [c](const boost::system::error_code&, std::size_t) {
                                boost::system::error_code ignored;
                                c->socket.close(ignored);
                              });
            return;
          case proto::server_handshake::result::valid:
            break;
        }
        c->answer = c->handshake.accept();
        asio::async_write(c->socket, asio::buffer(c->answer),
                          [self, c](const boost::system::error_code& wec, std::size_t) {
                            // From here on: no read, no write, no close. The client's
                            // pings pile up unanswered in the socket buffer.
                            if (!wec && self->on_handshake_)
                              self->on_handshake_(c->number, c->handshake.request().target);
                          });
      });
}

void silent_peer::stop(std::chrono::milliseconds limit) {
  auto done = std::make_shared<std::promise<void>>();
  auto fut = done->get_future();
  asio::post(ioc_, [self = shared_from_this(), done] {
    boost::system::error_code ignored;
    self->acceptor_.close(ignored);
    for (auto& c : self->connections_) c->socket.close(ignored);
    self->connections_.clear();
    self->on_handshake_ = nullptr;
    done->set_value();
  });
  (void)fut.wait_for(limit);
}

}  // namespace closewise::cli::demo

#include "closewise/metrics/http_endpoint.hpp"

#include <atomic>
#include <chrono>
#include <mutex>
#include <optional>
#include <vector>

#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/post.hpp>
#include <boost/asio/strand.hpp>
#include <boost/beast/core/flat_buffer.hpp>
#include <boost/beast/core/tcp_stream.hpp>
#include <boost/beast/http/empty_body.hpp>
#include <boost/beast/http/parser.hpp>
#include <boost/beast/http/read.hpp>
#include <boost/beast/http/string_body.hpp>
#include <boost/beast/http/write.hpp>

#include "closewise/metrics/exposition.hpp"

namespace closewise::metrics::detail {

namespace asio = boost::asio;
namespace http = boost::beast::http;
using tcp = asio::ip::tcp;

namespace {
/// A scraper that sends nothing for this long is dropped (every wait is bounded).
constexpr std::chrono::seconds idle_limit{10};
constexpr std::uint32_t header_limit = 8192;
}  // namespace

class http_connection : public std::enable_shared_from_this<http_connection> {
 public:
  http_connection(tcp::socket s, std::function<std::string()> render)
      : stream_(std::move(s)), render_(std::move(render)) {}

  void start() { read(); }
  void close() {
    boost::system::error_code ignored;
    stream_.socket().shutdown(tcp::socket::shutdown_both, ignored);
    stream_.close();
  }

 private:
  void read() {
    parser_.emplace();
    parser_->header_limit(header_limit);
    parser_->body_limit(0);  // a scrape carries no body
    stream_.expires_after(idle_limit);
    http::async_read(stream_, buffer_, *parser_,
                     [self = shared_from_this()](boost::system::error_code ec, std::size_t) {
                       self->on_read(ec);
                     });
  }

  void on_read(boost::system::error_code ec) {
    if (ec) {
      // A malformed request gets 400; EOF, timeout and cancel just close.
      if (ec.category() == boost::system::error_code(http::error::bad_method).category() &&
          ec != http::error::end_of_stream) {
        respond(http::status::bad_request, "bad request\n", false);
      } else {
        close();
      }
      return;
    }
    const auto& req = parser_->get();
    const bool keep = req.keep_alive();
    if (req.method() != http::verb::get && req.method() != http::verb::head) {
      respond(http::status::method_not_allowed, "only GET\n", keep);
      return;
    }
    const std::string_view target(req.target().data(), req.target().size());
    const std::string_view path = target.substr(0, target.find('?'));
    if (path != "/metrics") {
      respond(http::status::not_found, "try /metrics\n", keep);
      return;
    }
    respond(http::status::ok, render_(), keep, req.method() == http::verb::head);
  }

  void respond(http::status st, std::string body, bool keep, bool head = false) {
    auto res = std::make_shared<http::response<http::string_body>>(st, 11);
    res->set(http::field::server, "closewise");
    res->set(http::field::content_type,
             st == http::status::ok ? text_content_type : std::string_view("text/plain"));
    if (st == http::status::method_not_allowed) res->set(http::field::allow, "GET, HEAD");
    res->keep_alive(keep);
    res->body() = std::move(body);
    res->prepare_payload();
    if (head) res->body().clear();  // HEAD: the headers of GET, no body (RFC 9110 §9.3.2)
    stream_.expires_after(idle_limit);
    http::async_write(
        stream_, *res,
        [self = shared_from_this(), res, keep](boost::system::error_code ec, std::size_t) {
          if (ec || !keep) {
            self->close();
            return;
          }
          self->read();
        });
  }

  boost::beast::tcp_stream stream_;
  boost::beast::flat_buffer buffer_;
  std::optional<http::request_parser<http::empty_body>> parser_;
  std::function<std::string()> render_;
};

class http_endpoint_impl : public std::enable_shared_from_this<http_endpoint_impl> {
 public:
  http_endpoint_impl(asio::io_context& ioc, std::function<std::string()> render)
      : strand_(asio::make_strand(ioc)), acceptor_(strand_), render_(std::move(render)) {}

  std::error_code listen(std::string_view address, std::uint16_t port) {
    boost::system::error_code ec;
    const auto addr = asio::ip::make_address(std::string(address), ec);
    if (ec) return std::make_error_code(std::errc::invalid_argument);
    const tcp::endpoint ep(addr, port);
    if (acceptor_.open(ep.protocol(), ec); ec) return ec;
    if (acceptor_.set_option(tcp::acceptor::reuse_address(true), ec); ec) return ec;
    if (acceptor_.bind(ep, ec); ec) return ec;
    if (acceptor_.listen(asio::socket_base::max_listen_connections, ec); ec) return ec;
    port_.store(acceptor_.local_endpoint().port(), std::memory_order_release);
    accept();
    return {};
  }

  std::uint16_t port() const noexcept { return port_.load(std::memory_order_acquire); }

  void stop() {
    asio::post(strand_, [self = shared_from_this()] {
      boost::system::error_code ignored;
      self->acceptor_.close(ignored);
      for (auto& w : self->conns_)
        if (auto c = w.lock()) c->close();
      self->conns_.clear();
    });
  }

 private:
  void accept() {
    acceptor_.async_accept(
        [self = shared_from_this()](boost::system::error_code ec, tcp::socket s) {
          if (ec == asio::error::operation_aborted || !self->acceptor_.is_open()) return;
          if (!ec) {
            auto c = std::make_shared<http_connection>(std::move(s), self->render_);
            // Forget connections that are gone, so the list stays as long as the live ones.
            std::erase_if(self->conns_, [](const auto& w) { return w.expired(); });
            self->conns_.push_back(c);
            c->start();
          }
          self->accept();
        });
  }

  /// The acceptor and the list of connections are touched on this strand only,
  /// so any number of threads may run the io_context.
  asio::strand<asio::io_context::executor_type> strand_;
  tcp::acceptor acceptor_;
  std::function<std::string()> render_;
  std::atomic<std::uint16_t> port_{0};
  std::vector<std::weak_ptr<http_connection>> conns_;
};

}  // namespace closewise::metrics::detail

namespace closewise::metrics {

http_endpoint::http_endpoint(boost::asio::io_context& ioc, std::function<std::string()> render)
    : impl_(std::make_shared<detail::http_endpoint_impl>(ioc, std::move(render))) {}

http_endpoint::~http_endpoint() { impl_->stop(); }

std::error_code http_endpoint::listen(std::string_view address, std::uint16_t port) {
  return impl_->listen(address, port);
}

std::uint16_t http_endpoint::port() const noexcept { return impl_->port(); }

void http_endpoint::stop() { impl_->stop(); }

}  // namespace closewise::metrics

#include "closewise/net/server.hpp"

#include <future>
#include <utility>

#include "closewise/error.hpp"
#include "closewise/utf8.hpp"
#include "listener.hpp"
#include "session_impl.hpp"
#include "shutdown.hpp"
#include "tls_context.hpp"

namespace closewise::net {
namespace detail {

/// The server: its shared state, its listener, and what acts on every session.
class server_impl {
 public:
  server_impl(asio::io_context& ioc, server_config cfg)
      : shared_(std::make_shared<server_shared>(ioc, std::move(cfg))),
        listener_(std::make_shared<listener>(shared_)) {}

  std::error_code listen(std::string_view address, std::uint16_t port) {
    if (const auto& t = shared_->cfg.tls) {
      if (auto ec = make_tls_context(*t, shared_->tls_ctx)) return ec;
    }
    return listener_->listen(address, port);
  }

  void stop_accepting() { listener_->stop(); }

  void detach_and_abort() {
    shared_->gate.close();  // returns once no callback runs on another thread
    stop_accepting();
    for (auto& s : shared_->open_sessions()) static_cast<session&>(*s).abort();
    // The aborts run on the pool's threads; they end once nothing is left.
    if (shared_->pool) shared_->pool->join();
  }

  void shutdown(shutdown_options opts, std::function<void(const shutdown_summary&)> done) {
    shared_->draining.store(true, std::memory_order_release);
    start_shutdown(shared_, listener_->executor(), std::move(opts), std::move(done),
                   [this] { stop_accepting(); });
  }

  broadcast_result broadcast(proto::message_kind kind, std::string_view payload,
                             const std::function<bool(const session&)>* filter) {
    broadcast_result r;
    // The peer would fail us with 1007; check once, not per session.
    if (kind == proto::message_kind::text && shared_->cfg.protocol.check_outgoing_utf8 &&
        !is_valid_utf8(payload)) {
      r.error = error::invalid_utf8;
      return r;
    }
    const auto frame = make_shared_frame(kind, payload);
    for (auto& s : shared_->open_sessions()) {
      if (filter && !(*filter)(*s)) continue;
      if (s->drv().send_shared(frame)) {
        ++r.refused;
      } else {
        ++r.queued;
      }
    }
    return r;
  }

  std::shared_ptr<server_shared> shared_;
  std::shared_ptr<listener> listener_;
};

}  // namespace detail

server::server(boost::asio::io_context& ioc, server_config cfg)
    : impl_(std::make_shared<detail::server_impl>(ioc, std::move(cfg))) {}

server::~server() { impl_->detach_and_abort(); }

void server::on_connect(std::function<accept_decision(const proto::upgrade_request&)> f) {
  impl_->shared_->on_connect = std::move(f);
}
void server::on_select_subprotocol(
    std::function<std::string(const std::vector<std::string>& offered)> f) {
  impl_->shared_->select_subprotocol = std::move(f);
}
void server::on_open(std::function<void(session&)> f) { impl_->shared_->on_open = std::move(f); }
void server::on_message(std::function<void(session&, proto::message_kind, std::string_view)> f) {
  impl_->shared_->on_message = std::move(f);
}
void server::on_close(std::function<void(session&, const close_event&)> f) {
  impl_->shared_->on_close = std::move(f);
}
void server::on_drain(std::function<void(session&)> f) { impl_->shared_->on_drain = std::move(f); }
std::error_code server::listen(std::string_view address, std::uint16_t port) {
  return impl_->listen(address, port);
}
std::uint16_t server::port() const noexcept { return impl_->listener_->port(); }
void server::stop_accepting() { impl_->stop_accepting(); }
void server::mark_draining() noexcept {
  impl_->shared_->draining.store(true, std::memory_order_release);
}
bool server::draining() const noexcept {
  return impl_->shared_->draining.load(std::memory_order_acquire);
}

std::vector<std::shared_ptr<session>> server::sessions() const {
  auto open = impl_->shared_->open_sessions();
  return {open.begin(), open.end()};
}

std::size_t server::session_count() const noexcept {
  std::lock_guard lock(impl_->shared_->mu);
  return impl_->shared_->count;
}

void server::shutdown(shutdown_options opts, std::function<void(const shutdown_summary&)> done) {
  impl_->shutdown(std::move(opts), std::move(done));
}

shutdown_summary server::shutdown_and_wait(shutdown_options opts) {
  const auto& sh = *impl_->shared_;
  if (sh.ioc.get_executor().running_in_this_thread() ||
      (sh.pool && sh.pool->running_in_this_thread())) {
    shutdown_summary s;
    s.error = error::invalid_argument;
    return s;
  }
  auto p = std::make_shared<std::promise<shutdown_summary>>();
  auto f = p->get_future();
  impl_->shutdown(std::move(opts), [p](const shutdown_summary& s) { p->set_value(s); });
  try {
    return f.get();
  } catch (const std::future_error&) {
    // The server was destroyed during the shutdown: `done` was dropped unrun.
    shutdown_summary s;
    s.error = error::aborted;
    return s;
  }
}

broadcast_result server::broadcast(proto::message_kind kind, std::string_view payload) {
  return impl_->broadcast(kind, payload, nullptr);
}

broadcast_result server::broadcast(proto::message_kind kind, std::string_view payload,
                                   const std::function<bool(const session&)>& filter) {
  return impl_->broadcast(kind, payload, &filter);
}

std::uint64_t server::shed_count() const noexcept {
  return impl_->shared_->shed.load(std::memory_order_relaxed);
}

}  // namespace closewise::net

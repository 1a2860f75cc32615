#include "server_shared.hpp"

#include "session_impl.hpp"

namespace closewise::net::detail {
namespace {

transport_limits limits_of(const server_config& c) {
  transport_limits l;
  l.handshake_timeout = c.handshake_timeout;
  l.close_timeout = c.close_timeout;
  l.close_linger = std::chrono::milliseconds(0);  // the server closes TCP first
  l.max_buffered = c.max_buffered;
  return l;
}

}  // namespace

bool request_info::same_as(const request_info& o) const {
  const auto& a = request;
  const auto& b = o.request;
  return subprotocol == o.subprotocol && a.method == b.method && a.target == b.target &&
         a.version == b.version && a.subprotocols == b.subprotocols &&
         a.extensions == b.extensions && a.headers.fields == b.headers.fields;
}

server_shared::server_shared(asio::io_context& io, server_config c)
    : ioc(io),
      cfg(std::move(c)),
      pool(cfg.threads > 0 ? std::make_shared<io_pool>(cfg.threads) : nullptr),
      limits(limits_of(cfg)) {}

std::shared_ptr<const request_info> server_shared::intern(request_info info) {
  std::lock_guard lock(mu);
  if (!last_info || !last_info->same_as(info))
    last_info = std::make_shared<const request_info>(std::move(info));
  return last_info;
}

bool server_shared::link(session_impl* s) {
  std::lock_guard lock(mu);
  if (shutdown) return false;
  s->prev_ = tail;
  s->next_ = nullptr;
  (tail ? tail->next_ : head) = s;
  tail = s;
  s->linked_ = true;
  ++count;
  return true;
}

std::shared_ptr<shutdown_state> server_shared::unlink(session_impl* s) {
  std::lock_guard lock(mu);
  if (!s->linked_) return nullptr;
  (s->prev_ ? s->prev_->next_ : head) = s->next_;
  (s->next_ ? s->next_->prev_ : tail) = s->prev_;
  s->prev_ = s->next_ = nullptr;
  s->linked_ = false;
  --count;
  return s->in_shutdown_ ? shutdown : nullptr;
}

std::shared_ptr<shutdown_state> server_shared::current_shutdown() const {
  std::lock_guard lock(mu);
  return shutdown;
}

std::vector<std::shared_ptr<session_impl>> server_shared::open_sessions() const {
  std::vector<std::shared_ptr<session_impl>> out;
  std::lock_guard lock(mu);
  out.reserve(count);
  for (session_impl* s = head; s; s = s->next_) {
    // A session being destroyed has no owner left; skip it.
    if (auto sp = s->weak_from_this().lock())
      out.push_back(std::static_pointer_cast<session_impl>(std::move(sp)));
  }
  return out;
}

}  // namespace closewise::net::detail

#include "closewise/net/relay.hpp"

#include <vector>

#include <boost/asio/post.hpp>

#include "closewise/net/url.hpp"
#include "relay_impl.hpp"

namespace closewise::net {
namespace detail {
namespace {

/// The upstream connection's settings for one client: its subprotocol offer
/// and the request headers an upstream needs to decide on it.
client_config upstream_config_for(const client_config& base, const session& s) {
  client_config c = base;
  const auto& req = s.request();
  c.subprotocols = req.subprotocols;
  if (auto o = req.headers.get("Origin")) c.origin = std::string(*o);
  for (const char* name : {"Authorization", "Cookie", "User-Agent"})
    if (auto v = req.headers.get(name)) c.extra_headers.fields.emplace_back(name, std::string(*v));
  // The de-facto proxy header: the upstream sees the address the client came from.
  std::string xff = s.remote_endpoint().address().to_string();
  if (auto prior = req.headers.get("X-Forwarded-For")) xff = std::string(*prior) + ", " + xff;
  c.extra_headers.fields.emplace_back("X-Forwarded-For", std::move(xff));
  return c;
}

}  // namespace

relay_impl::relay_impl(boost::asio::io_context& ioc, relay_config c)
    : cfg(std::move(c)), ioc_(ioc) {
  std::string probe;
  config_error = upstream_url(cfg.upstream, "/", probe);
}

void relay_impl::attach(server& srv) {
  auto self = shared_from_this();
  // The client is answered before the upstream: with its first offer (relay.hpp).
  srv.on_select_subprotocol([](const std::vector<std::string>& offered) {
    return offered.empty() ? std::string{} : offered.front();
  });
  srv.on_open([self](session& s) { self->opened(s); });
  srv.on_message([self](session& s, proto::message_kind k, std::string_view m) {
    if (auto p = self->find(s.id())) p->from_client(k, m);
  });
  srv.on_drain([self](session& s) {
    if (auto p = self->find(s.id())) p->client_drained();
  });
  srv.on_close([self](session& s, const close_event& ev) {
    if (auto p = self->find(s.id())) p->client_ended(ev);
  });
}

void relay_impl::opened(session& s) {
  pairs.fetch_add(1, std::memory_order_relaxed);
  std::string url;
  if (config_error || upstream_url(cfg.upstream, s.request().target, url)) {
    upstream_failed.fetch_add(1, std::memory_order_relaxed);
    (void)s.close_relay(close_code::bad_gateway, "upstream URL invalid");
    return;
  }
  auto p = std::make_shared<relay_pair>(shared_from_this(), s.shared(),
                                        upstream_config_for(cfg.upstream_client, s));
  // Nothing is read from the client until its upstream answered.
  s.pause_reading();
  std::string bye;
  {
    std::lock_guard lock(mu_);
    pairs_.emplace(s.id(), p);
    if (shutting_down_) bye = shutdown_reason_;
  }
  p->start(url);
  if (!bye.empty()) p->go_away(bye);
}

std::shared_ptr<relay_pair> relay_impl::find(std::uint64_t id) {
  std::lock_guard lock(mu_);
  auto it = pairs_.find(id);
  return it == pairs_.end() ? nullptr : it->second;
}

void relay_impl::finished(std::uint64_t id) {
  std::shared_ptr<relay_pair> gone;
  std::function<void()> done;
  {
    std::lock_guard lock(mu_);
    auto it = pairs_.find(id);
    if (it == pairs_.end()) return;
    gone = std::move(it->second);
    pairs_.erase(it);
    if (shutting_down_ && pairs_.empty()) done = std::move(shutdown_done_);
  }
  // Called from inside the pair's own callbacks: its upstream client is
  // destroyed later, outside them.
  boost::asio::post(ioc_, [gone = std::move(gone), done = std::move(done)] {
    if (done) done();
  });
}

void relay_impl::shutdown(std::string reason, std::function<void()> done) {
  std::vector<std::shared_ptr<relay_pair>> all;
  {
    std::lock_guard lock(mu_);
    shutting_down_ = true;
    shutdown_reason_ = reason.empty() ? "proxy shutting down" : std::move(reason);
    for (auto& [id, p] : pairs_) all.push_back(p);
    if (all.empty()) {
      boost::asio::post(ioc_, std::move(done));
      return;
    }
    shutdown_done_ = std::move(done);
  }
  for (auto& p : all) p->go_away(shutdown_reason_);
}

void relay_impl::detach() {
  std::unordered_map<std::uint64_t, std::shared_ptr<relay_pair>> all;
  {
    std::lock_guard lock(mu_);
    all.swap(pairs_);
    shutdown_done_ = nullptr;
  }
  // Destroying the pairs destroys their upstream clients: 1001 to each.
}

relay_stats relay_impl::stats() const noexcept {
  relay_stats s;
  s.pairs = pairs.load(std::memory_order_relaxed);
  {
    std::lock_guard lock(mu_);
    s.active = pairs_.size();
  }
  s.upstream_failed = upstream_failed.load(std::memory_order_relaxed);
  s.to_upstream = to_upstream.load(std::memory_order_relaxed);
  s.to_client = to_client.load(std::memory_order_relaxed);
  s.dropped = dropped.load(std::memory_order_relaxed);
  s.client_pauses = client_pauses.load(std::memory_order_relaxed);
  s.upstream_pauses = upstream_pauses.load(std::memory_order_relaxed);
  return s;
}

}  // namespace detail

relay::relay(boost::asio::io_context& ioc, server& srv, relay_config cfg)
    : impl_(std::make_shared<detail::relay_impl>(ioc, std::move(cfg))) {
  impl_->attach(srv);
}

relay::~relay() { impl_->detach(); }

std::error_code relay::validate() const { return impl_->config_error; }

void relay::shutdown(std::string reason, std::function<void()> done) {
  impl_->shutdown(std::move(reason), std::move(done));
}

relay_stats relay::stats() const noexcept { return impl_->stats(); }

}  // namespace closewise::net

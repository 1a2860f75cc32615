// closewise::net (private): what a server and its sessions share.
#pragma once

#include <atomic>
#include <cstddef>
#include <cstdint>
#include <functional>
#include <memory>
#include <mutex>
#include <string>
#include <string_view>
#include <vector>

#include "callback_gate.hpp"
#include "closewise/net/server.hpp"
#include "io_pool.hpp"
#include "io_types.hpp"
#include "transport_lifecycle.hpp"

namespace closewise::net::detail {

class session_impl;
struct shutdown_state;

/// What a session keeps of its upgrade: session::request() and subprotocol().
struct request_info {
  proto::upgrade_request request;
  std::string subprotocol;  ///< the one accepted (empty: none)
  bool same_as(const request_info& o) const;
};

/// The server's settings, callbacks and open sessions. Sessions keep it
/// alive, so the server handle can go away while connections finish.
struct server_shared {
  server_shared(asio::io_context& io, server_config c);

  asio::io_context& ioc;
  server_config cfg;
  /// The server's own threads (server_config::threads > 0), else null.
  std::shared_ptr<io_pool> pool;
  /// The health path answers 503 (server::mark_draining, shutdown).
  std::atomic<bool> draining{false};
  /// The durations and bounds every session's driver runs by.
  transport_limits limits;
  std::shared_ptr<ssl::context> tls_ctx;
  std::function<accept_decision(const proto::upgrade_request&)> on_connect;
  std::function<std::string(const std::vector<std::string>&)> select_subprotocol;
  std::function<void(session&)> on_open;
  std::function<void(session&, proto::message_kind, std::string_view)> on_message;
  std::function<void(session&, const close_event&)> on_close;
  std::function<void(session&)> on_drain;
  /// Held by every callback while it runs; ~server closes it (callback_gate.hpp).
  callback_gate gate;
  std::atomic<std::uint64_t> next_id{1};
  /// Connections holding a max_connections slot (in handshake or open).
  std::atomic<std::size_t> admitted{0};
  std::atomic<std::uint64_t> shed{0};

  bool live() const noexcept { return !gate.closed(); }
  /// The context the next accepted connection runs on.
  asio::io_context& next_context() noexcept { return pool ? pool->next() : ioc; }
  /// Whether connections take a strand: not on the pool, one thread per context.
  bool session_strand() const noexcept { return !pool && cfg.use_strand; }

  /// The request details of the last session opened: the next session with
  /// the same ones shares them (guarded by mu). A fleet that connects to one
  /// path then stores them once, not per connection (ARCHITECTURE §6).
  std::shared_ptr<const request_info> last_info;
  std::shared_ptr<const request_info> intern(request_info info);

  // Open sessions, an intrusive list so a session costs two pointers here.
  mutable std::mutex mu;
  session_impl* head = nullptr;
  session_impl* tail = nullptr;
  std::size_t count = 0;
  /// Set once shutdown() started (guarded by mu): no session links any more.
  std::shared_ptr<shutdown_state> shutdown;

  /// Links an accepted session, unless a shutdown started: false then.
  bool link(session_impl* s);
  /// Unlinks; returns the shutdown the session was part of, if any.
  std::shared_ptr<shutdown_state> unlink(session_impl* s);
  /// The shutdown in progress, if any.
  std::shared_ptr<shutdown_state> current_shutdown() const;
  /// Owning handles to the open sessions, in accept order.
  std::vector<std::shared_ptr<session_impl>> open_sessions() const;
};

}  // namespace closewise::net::detail

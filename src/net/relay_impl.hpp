// closewise::net (private): the relay's shared state (net/relay.hpp).
#pragma once

#include <atomic>
#include <cstdint>
#include <functional>
#include <memory>
#include <mutex>
#include <string>
#include <unordered_map>

#include <boost/asio/io_context.hpp>

#include "closewise/net/relay.hpp"
#include "relay_pair.hpp"

namespace closewise::net::detail {

/// Owns the pairs (by session id) and the counters; the server's callbacks
/// and every pair hold it.
class relay_impl : public std::enable_shared_from_this<relay_impl> {
 public:
  relay_impl(boost::asio::io_context& ioc, relay_config cfg);

  /// Installs the server's callbacks.
  void attach(server& srv);
  /// Drops every pair (the relay object is gone): their upstreams get 1001.
  void detach();
  void shutdown(std::string reason, std::function<void()> done);
  /// A pair ended on both sides.
  void finished(std::uint64_t id);
  relay_stats stats() const noexcept;
  boost::asio::io_context& ioc() noexcept { return ioc_; }

  const relay_config cfg;
  std::error_code config_error;
  std::atomic<std::uint64_t> pairs{0}, upstream_failed{0}, to_upstream{0}, to_client{0}, dropped{0},
      client_pauses{0}, upstream_pauses{0};

 private:
  void opened(session& s);
  std::shared_ptr<relay_pair> find(std::uint64_t id);

  boost::asio::io_context& ioc_;
  mutable std::mutex mu_;
  std::unordered_map<std::uint64_t, std::shared_ptr<relay_pair>> pairs_;  // guarded by mu_
  bool shutting_down_ = false;                                            // guarded by mu_
  std::string shutdown_reason_;                                           // guarded by mu_
  std::function<void()> shutdown_done_;                                   // guarded by mu_
};

}  // namespace closewise::net::detail

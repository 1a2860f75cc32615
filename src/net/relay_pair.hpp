// closewise::net (private): one client of a relay and its upstream connection.
#pragma once

#include <atomic>
#include <cstdint>
#include <memory>
#include <mutex>
#include <string>
#include <utility>
#include <vector>

#include "closewise/net/client.hpp"
#include "closewise/net/relay.hpp"
#include "closewise/net/session.hpp"

namespace closewise::net::detail {

class relay_impl;

/// A client (a server session, "down") and its upstream connection ("up").
///
/// Session callbacks run on the session's executor, upstream callbacks on the
/// client's; the two may be different threads. Each side only calls the
/// other's thread-safe API, and no lock is held across such a call, so a
/// callback that one of them runs inline (one thread, no strands) cannot
/// deadlock. The first side to end (or the relay's shutdown) becomes the
/// `closer`; its close is passed on and nothing is passed back.
class relay_pair : public std::enable_shared_from_this<relay_pair> {
 public:
  relay_pair(std::shared_ptr<relay_impl> owner, std::shared_ptr<session> down, client_config cfg);

  /// Sets the upstream's callbacks and connects it to `url`.
  void start(const std::string& url);

  // The session's side, on its executor.
  void from_client(proto::message_kind kind, std::string_view payload);
  void client_drained();
  void client_ended(const close_event& ev);

  /// The relay shuts down: the upstream gets 1001 with `reason`.
  void go_away(const std::string& reason);
  std::uint64_t id() const noexcept { return id_; }

 private:
  enum class up_phase : std::uint8_t { connecting, open, ended };
  enum class closer : std::uint8_t { none, client, upstream, relay };

  void upstream_opened(const open_info& info);
  void from_upstream(proto::message_kind kind, std::string_view payload);
  void upstream_ended(const close_event& ev);
  /// Stops reading a side whose peer's write buffer went over the bound.
  void hold_client_if_full();
  void hold_upstream_if_full();
  /// The close the client gets for an upstream that ended (`opened`: it did open).
  std::pair<close_code, std::string> close_for_client(const close_event& ev, bool opened) const;
  bool take_closer(closer who) noexcept;
  void side_ended();

  std::shared_ptr<relay_impl> owner_;
  std::shared_ptr<session> down_;
  client up_;
  const std::uint64_t id_;
  std::mutex mu_;
  up_phase phase_ = up_phase::connecting;                           // guarded by mu_
  std::vector<std::pair<proto::message_kind, std::string>> early_;  // guarded by mu_
  std::atomic<closer> closer_{closer::none};
  std::atomic<int> ended_sides_{0};
  // The upstream's executor only: why its attempt failed.
  std::error_code up_error_;
  unsigned up_status_ = 0;
};

}  // namespace closewise::net::detail

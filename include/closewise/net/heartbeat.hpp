// closewise::net: dead-peer detection by inbound silence (ARCHITECTURE §4).
//
// A pure timer state machine: the caller passes the time in, so tests drive
// it with a fake clock and the network layer with a steady_clock timer.
#pragma once

#include <chrono>
#include <cstdint>

namespace closewise::net {

/// Heartbeat settings. Zero interval disables the heartbeat.
struct heartbeat_config {
  std::chrono::milliseconds interval{15000};  ///< ping after this much inbound silence
  std::chrono::milliseconds grace{10000};     ///< give up after interval + grace of silence
  double first_jitter = 0.5;  ///< the first ping comes after interval * (1 - first_jitter * u)
  bool enabled() const noexcept { return interval.count() > 0; }
};

/// Decides when to ping and when a silent peer is dead.
///
/// Any inbound frame (data, ping, pong, close) counts as life. After
/// `interval` of silence it asks for a ping, then one more every `interval`;
/// after `interval + grace` of silence it reports a timeout, and the client
/// aborts with 1006 / error::heartbeat_timeout, with no close handshake,
/// because a dead peer cannot answer one.
class heartbeat {
 public:
  using clock = std::chrono::steady_clock;
  enum class action : std::uint8_t { none, send_ping, timeout };

  explicit heartbeat(heartbeat_config cfg = {}) : cfg_(cfg) {}

  /// The connection opened at `now`; `u` in [0, 1) jitters the first ping so
  /// many clients opened together do not ping in lockstep.
  void start(clock::time_point now, double u) noexcept;
  /// A frame arrived.
  void on_inbound(clock::time_point now) noexcept;
  /// The caller has reason to doubt the peer (the network changed) and sent a
  /// ping at `now`: the peer must now answer within `grace`, however recent
  /// its last frame was. Any inbound frame ends the probe.
  void probe(clock::time_point now) noexcept;
  /// Reading from the peer is paused (pause_reading()): the silence that
  /// follows is ours, not the peer's, so no timeout is reported until
  /// release(). Pings still go out every `interval` (a NAT or proxy on the way
  /// keeps seeing traffic), and a probe waits for the release too.
  void hold() noexcept { held_ = true; }
  /// Reading resumed at `now`: silence counts from here, as if a frame arrived.
  void release(clock::time_point now) noexcept;
  bool held() const noexcept { return held_; }
  /// What to do at `now`; call at `next_wakeup()` (or later).
  action poll(clock::time_point now) noexcept;
  /// When `poll` next has something to do.
  clock::time_point next_wakeup() const noexcept;
  clock::time_point last_inbound() const noexcept { return last_inbound_; }
  const heartbeat_config& config() const noexcept { return cfg_; }

 private:
  heartbeat_config cfg_;
  clock::time_point last_inbound_{};
  clock::time_point next_ping_{};
  clock::time_point probe_deadline_ = clock::time_point::max();  ///< max: no probe
  bool timed_out_ = false;
  bool held_ = false;
};

}  // namespace closewise::net

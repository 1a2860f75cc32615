// Test support: a fault-injecting TCP relay (the role toxiproxy plays elsewhere).
//
// The kernel here has no netem, so latency, jitter, stalls, tiny segments, a
// blackhole and a reset at an exact byte offset come from this relay instead.
// It listens on 127.0.0.1 and a free port, and for every connection it accepts
// it opens one to the target, then moves bytes both ways, applying the faults
// of each direction. Faults can be switched while connections run; each call
// returns once the change is in force on every live connection.
#pragma once

#include <chrono>
#include <cstddef>
#include <cstdint>
#include <memory>
#include <string>

namespace closewise::net::test {

namespace detail {
class fault_relay_impl;
}

/// Which way bytes flow through the relay.
enum class direction : std::uint8_t {
  upstream,    ///< from the connecting side (the client) to the target (the server)
  downstream,  ///< from the target back to the connecting side
};

/// Standing faults of one direction; they apply to bytes read from then on.
struct direction_faults {
  /// Every chunk read is written this much later.
  std::chrono::milliseconds latency{0};
  /// Plus a uniform extra delay in [0, jitter). Byte order is kept: a chunk is
  /// never written before the one read ahead of it (TCP cannot reorder).
  std::chrono::milliseconds jitter{0};
  /// Write at most this many bytes per send, with Nagle off, so the peer sees
  /// that many bytes per TCP segment (1: one byte per segment). 0: as read.
  std::size_t segment = 0;
};

/// A TCP relay from 127.0.0.1:port() to a target, with faults per direction.
///
/// Runs on a thread of its own, so it keeps moving bytes while the code under
/// test blocks its own threads. Every connection is bounded: a direction holds
/// at most 1 MiB read but not yet written, and stops reading past that.
class fault_relay {
 public:
  /// Relays to `target_host` (an IP literal) and `target_port`.
  fault_relay(const std::string& target_host, std::uint16_t target_port);
  /// Closes the listener and every connection (with a FIN, not a reset).
  ~fault_relay();
  fault_relay(const fault_relay&) = delete;
  fault_relay& operator=(const fault_relay&) = delete;

  /// The relay's own port on 127.0.0.1.
  std::uint16_t port() const noexcept;
  /// "ws://127.0.0.1:PORT" + target.
  std::string url(const std::string& target = "/") const;

  /// Replaces the standing faults of `d` (latency, jitter, segment size).
  void set_faults(direction d, direction_faults f);

  /// Stops moving `d` on every connection, new ones included: nothing more is
  /// read from the sender (its buffers fill) and nothing is written to the
  /// receiver. No FIN, no reset: to both peers the path simply went silent.
  void stall(direction d);
  /// Moves `d` again; what was read before the stall is written first.
  void resume(direction d);

  /// Stalls both directions now and resumes them after `length` (heal() ends
  /// it sooner). A real blackhole: packets vanish, no RST, no FIN.
  void blackhole(std::chrono::milliseconds length);
  /// Ends a blackhole or stalls at once.
  void heal();

  /// Arms a reset at a byte offset: on the live connections (or, if there is
  /// none, on the next one accepted), once exactly `bytes` more bytes of `d`
  /// than the relay has read so far were written to the receiver and
  /// acknowledged by its TCP, the next byte
  /// (or FIN) of `d` is not written: both sockets are reset instead (RST,
  /// SO_LINGER 0). So the receiver reads exactly those bytes, then ECONNRESET,
  /// and the sender's next read or write fails too. `bytes` = 0 resets as soon
  /// as `d` has anything more to carry.
  void reset_after(direction d, std::size_t bytes);

  /// Connections accepted so far.
  std::size_t accepted() const noexcept;
  /// Resets done so far (by reset_after).
  std::size_t resets() const noexcept;
  /// Sends (write calls) made for `d` so far, over all connections.
  std::uint64_t sends(direction d) const noexcept;
  /// Bytes of `d` written to receivers so far, over all connections.
  std::uint64_t forwarded(direction d) const noexcept;

 private:
  std::shared_ptr<detail::fault_relay_impl> impl_;
};

}  // namespace closewise::net::test

// closewise::metrics: counters for every observer event, rendered for Prometheus.
#pragma once

#include <memory>
#include <string>

#include "closewise/metrics/observer.hpp"

namespace closewise::metrics {

/// An observer that counts every event and renders the counts in the
/// Prometheus text format 0.0.4 (docs/metrics.md lists every series, its
/// labels and the event that changes it).
///
/// Share one registry between any number of servers and clients (pass the
/// same `std::shared_ptr`): each series sums over them. Counting is
/// thread-safe and lock-free once a label combination has been seen (an
/// atomic add); the first event of a new combination takes a lock to create
/// its cell. `render()` may run on any thread at any time.
class registry final : public observer {
 public:
  registry();
  ~registry() override;
  registry(const registry&) = delete;
  registry& operator=(const registry&) = delete;

  /// The whole exposition: every family with its HELP and TYPE lines, even
  /// when it has no samples yet; samples sorted by label values.
  std::string render() const;

  void connection_opened(role r) override;
  void connection_closed(role r, const close_event& ev) override;
  void connect_failed(role r, std::error_code why) override;
  void handshake_refused(role r, unsigned status) override;
  void shed(shed_action a) override;
  void shutdown_completed(const shutdown_report& s) override;
  void reconnect_attempt() override;
  void reconnect_scheduled(std::chrono::milliseconds delay, std::string_view cause) override;
  void gave_up(std::string_view cause) override;
  void queue_depth_changed(std::ptrdiff_t delta) override;
  void undelivered(std::error_code why, std::size_t count) override;
  void resumed(role r) override;
  void resume_failed(role r, std::string_view cause) override;
  void replayed(role r, std::size_t messages) override;

 private:
  struct impl;
  std::unique_ptr<impl> impl_;
};

}  // namespace closewise::metrics

#include "closewise/metrics/registry.hpp"

#include <string>

#include "closewise/error.hpp"
#include "family.hpp"

namespace closewise::metrics {
namespace {

std::string n(role r, std::string_view rest) {
  return "closewise_" + std::string(to_string(r)) + "_" + std::string(rest);
}

std::string the(role r) { return std::string(to_string(r)); }

/// The families both sides have, named closewise_<role>_...
struct per_role {
  explicit per_role(role r)
      : opened(n(r, "connections_opened_total"), "counter",
               "Connections of this " + the(r) + " that completed the opening handshake.", {}),
        open(n(r, "open_connections"), "gauge",
             "Connections of this " + the(r) + " open now (opened and not yet closed).", {}),
        closes(n(r, "closes_total"), "counter",
               "Ends of open connections by close code, initiator (local, remote, none) and "
               "whether the close was clean.",
               {"code", "initiator", "clean"}),
        heartbeat_deaths(n(r, "heartbeat_deaths_total"), "counter",
                         "Connections dropped because the peer fell silent (1006, heartbeat "
                         "timeout).",
                         {}),
        refusals(n(r, "handshake_refusals_total"), "counter",
                 r == role::server ? "Upgrade requests this server refused, by HTTP status."
                                   : "Upgrade answers other than 101 this client received, by "
                                     "HTTP status.",
                 {"status"}),
        connect_failures(n(r, "connect_failures_total"), "counter",
                         "Connect attempts that ended before open, by error.", {"error"}),
        resumes(n(r, "resumes_total"), "counter", "Sessions resumed after a reconnect.", {}),
        resume_failures(n(r, "resume_failures_total"), "counter",
                        "Resumes refused or failed, by cause.", {"cause"}),
        replayed(n(r, "resume_replayed_messages_total"), "counter",
                 "Messages replayed after resumes.", {}) {}

  detail::family opened, open, closes, heartbeat_deaths, refusals, connect_failures, resumes,
      resume_failures, replayed;
};

}  // namespace

struct registry::impl {
  per_role client{role::client}, server{role::server};
  detail::family sheds{"closewise_server_sheds_total",
                       "counter",
                       "Connections turned away at max_connections, by how (http_503: 503 with "
                       "Retry-After; close_1013: 101 then 1013).",
                       {"action"}};
  detail::family shutdowns{
      "closewise_server_shutdowns_total", "counter", "Graceful shutdowns completed.", {}};
  detail::family shutdown_connections{
      "closewise_server_shutdown_connections_total",
      "counter",
      "Connections ended by graceful shutdowns, by outcome (clean, aborted at the deadline, "
      "failed before it, refused while shutting down).",
      {"outcome"}};
  detail::histogram shutdown_duration{"closewise_server_shutdown_duration_seconds",
                                      "Time from shutdown() to the end of the last connection.",
                                      {0.1, 0.5, 1, 2.5, 5, 10, 30}};
  detail::family attempts{"closewise_reconnect_attempts_total",
                          "counter",
                          "Connect attempts by reconnecting clients, the first one included.",
                          {}};
  detail::family scheduled{"closewise_reconnect_scheduled_total",
                           "counter",
                           "Retries the reconnect policy scheduled, by cause.",
                           {"cause"}};
  detail::histogram delay{"closewise_reconnect_delay_seconds",
                          "Delays the reconnect policy chose before a retry.",
                          {0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60}};
  detail::family give_ups{"closewise_reconnect_give_ups_total",
                          "counter",
                          "Reconnecting clients that stopped because the policy said so, by "
                          "cause.",
                          {"cause"}};
  detail::family queue_depth{"closewise_reconnect_queue_depth",
                             "gauge",
                             "Messages waiting in reconnecting clients' queues.",
                             {}};
  detail::family undelivered{"closewise_undelivered_messages_total",
                             "counter",
                             "Messages handed back to the application unsent, by error.",
                             {"error"}};

  per_role& of(role r) { return r == role::client ? client : server; }
};

registry::registry() : impl_(std::make_unique<impl>()) {}
registry::~registry() = default;

void registry::connection_opened(role r) {
  auto& f = impl_->of(r);
  f.opened.add({});
  f.open.add({});
}

void registry::connection_closed(role r, const close_event& ev) {
  auto& f = impl_->of(r);
  f.open.add({}, -1);
  f.closes.add({std::to_string(static_cast<unsigned>(ev.code)), to_string(ev.initiator),
                ev.was_clean ? "true" : "false"});
  if (ev.error == error::heartbeat_timeout) f.heartbeat_deaths.add({});
}

void registry::connect_failed(role r, std::error_code why) {
  impl_->of(r).connect_failures.add({why.message()});
}

void registry::handshake_refused(role r, unsigned status) {
  impl_->of(r).refusals.add({std::to_string(status)});
}

void registry::shed(shed_action a) { impl_->sheds.add({to_string(a)}); }

void registry::shutdown_completed(const shutdown_report& s) {
  impl_->shutdowns.add({});
  auto& c = impl_->shutdown_connections;
  c.add({"clean"}, static_cast<std::int64_t>(s.clean));
  c.add({"aborted"}, static_cast<std::int64_t>(s.aborted));
  c.add({"failed"}, static_cast<std::int64_t>(s.failed));
  c.add({"refused"}, static_cast<std::int64_t>(s.refused));
  impl_->shutdown_duration.observe(std::chrono::duration<double>(s.elapsed).count());
}

void registry::reconnect_attempt() { impl_->attempts.add({}); }

void registry::reconnect_scheduled(std::chrono::milliseconds delay, std::string_view cause) {
  impl_->scheduled.add({cause});
  impl_->delay.observe(std::chrono::duration<double>(delay).count());
}

void registry::gave_up(std::string_view cause) { impl_->give_ups.add({cause}); }

void registry::queue_depth_changed(std::ptrdiff_t delta) {
  impl_->queue_depth.add({}, static_cast<std::int64_t>(delta));
}

void registry::undelivered(std::error_code why, std::size_t count) {
  impl_->undelivered.add({why.message()}, static_cast<std::int64_t>(count));
}

void registry::resumed(role r) { impl_->of(r).resumes.add({}); }

void registry::resume_failed(role r, std::string_view cause) {
  impl_->of(r).resume_failures.add({cause});
}

void registry::replayed(role r, std::size_t messages) {
  impl_->of(r).replayed.add({}, static_cast<std::int64_t>(messages));
}

std::string registry::render() const {
  text_writer w;
  for (const per_role* f : {&impl_->client, &impl_->server}) {
    f->opened.render(w);
    f->open.render(w);
    f->closes.render(w);
    f->heartbeat_deaths.render(w);
    f->refusals.render(w);
    if (f == &impl_->client) f->connect_failures.render(w);
    f->resumes.render(w);
    f->resume_failures.render(w);
    f->replayed.render(w);
  }
  impl_->sheds.render(w);
  impl_->shutdowns.render(w);
  impl_->shutdown_connections.render(w);
  impl_->shutdown_duration.render(w);
  impl_->attempts.render(w);
  impl_->scheduled.render(w);
  impl_->delay.render(w);
  impl_->give_ups.render(w);
  impl_->queue_depth.render(w);
  impl_->undelivered.render(w);
  return w.take();
}

}  // namespace closewise::metrics

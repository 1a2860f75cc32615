#include "closewise/metrics/registry.hpp"

#include <gtest/gtest.h>

#include <thread>
#include <vector>

#include "closewise/error.hpp"

namespace closewise::metrics {
namespace {

using namespace std::chrono_literals;

/// The lines of one family, from its HELP line up to the next family's.
std::string family(const std::string& text, const std::string& name) {
  const auto start = text.find("# HELP " + name + " ");
  if (start == std::string::npos) return "(no family " + name + ")";
  const auto end = text.find("# HELP ", start + 1);
  return text.substr(start, end == std::string::npos ? std::string::npos : end - start);
}

/// The sample lines of one family, without HELP and TYPE.
std::string samples(const std::string& text, const std::string& name) {
  std::string f = family(text, name);
  for (int i = 0; i < 2; ++i) f.erase(0, f.find('\n') + 1);
  return f;
}

TEST(registry, a_fresh_registry_renders_every_family_with_zeros_for_unlabelled_ones) {
  registry r;
  const std::string t = r.render();
  EXPECT_EQ(family(t, "closewise_server_connections_opened_total"),
            "# HELP closewise_server_connections_opened_total Connections of this server that "
            "completed the opening handshake.\n"
            "# TYPE closewise_server_connections_opened_total counter\n"
            "closewise_server_connections_opened_total 0\n");
  EXPECT_EQ(family(t, "closewise_server_closes_total"),
            "# HELP closewise_server_closes_total Ends of open connections by close code, "
            "initiator (local, remote, none) and whether the close was clean.\n"
            "# TYPE closewise_server_closes_total counter\n");
  // Every family, once, in this order (docs/metrics.md), each TYPE right after its HELP.
  std::vector<std::string> names;
  for (std::size_t p = 0; (p = t.find("# TYPE ", p)) != std::string::npos; ++p) {
    const auto sp = t.find(' ', p + 7);
    names.push_back(t.substr(p + 7, sp - p - 7) + ":" +
                    t.substr(sp + 1, t.find('\n', sp) - sp - 1));
    EXPECT_NE(t.rfind("# HELP " + t.substr(p + 7, sp - p - 7) + " ", p), std::string::npos);
  }
  const std::vector<std::string> want{
      "closewise_client_connections_opened_total:counter",
      "closewise_client_open_connections:gauge",
      "closewise_client_closes_total:counter",
      "closewise_client_heartbeat_deaths_total:counter",
      "closewise_client_handshake_refusals_total:counter",
      "closewise_client_connect_failures_total:counter",
      "closewise_client_resumes_total:counter",
      "closewise_client_resume_failures_total:counter",
      "closewise_client_resume_replayed_messages_total:counter",
      "closewise_server_connections_opened_total:counter",
      "closewise_server_open_connections:gauge",
      "closewise_server_closes_total:counter",
      "closewise_server_heartbeat_deaths_total:counter",
      "closewise_server_handshake_refusals_total:counter",
      "closewise_server_resumes_total:counter",
      "closewise_server_resume_failures_total:counter",
      "closewise_server_resume_replayed_messages_total:counter",
      "closewise_server_sheds_total:counter",
      "closewise_server_shutdowns_total:counter",
      "closewise_server_shutdown_connections_total:counter",
      "closewise_server_shutdown_duration_seconds:histogram",
      "closewise_reconnect_attempts_total:counter",
      "closewise_reconnect_scheduled_total:counter",
      "closewise_reconnect_delay_seconds:histogram",
      "closewise_reconnect_give_ups_total:counter",
      "closewise_reconnect_queue_depth:gauge",
      "closewise_undelivered_messages_total:counter",
  };
  EXPECT_EQ(names, want);
  EXPECT_EQ(t.back(), '\n');
}

TEST(registry, closes_are_counted_by_code_initiator_and_clean) {
  registry r;
  for (int i = 0; i < 3; ++i) r.connection_opened(role::server);
  r.connection_opened(role::client);
  r.connection_closed(role::server, {close_code::service_restart, "", true, initiator::local, {}});
  r.connection_closed(role::server, {close_code::service_restart, "", true, initiator::local, {}});
  r.connection_closed(role::server,
                      {close_code::abnormal, "", false, initiator::none, error::heartbeat_timeout});
  const std::string t = r.render();
  EXPECT_EQ(samples(t, "closewise_server_closes_total"),
            "closewise_server_closes_total{code=\"1006\",initiator=\"none\",clean=\"false\"} 1\n"
            "closewise_server_closes_total{code=\"1012\",initiator=\"local\",clean=\"true\"} 2\n");
  EXPECT_EQ(samples(t, "closewise_server_connections_opened_total"),
            "closewise_server_connections_opened_total 3\n");
  EXPECT_EQ(samples(t, "closewise_server_open_connections"),
            "closewise_server_open_connections 0\n");
  EXPECT_EQ(samples(t, "closewise_client_open_connections"),
            "closewise_client_open_connections 1\n");
  EXPECT_EQ(samples(t, "closewise_server_heartbeat_deaths_total"),
            "closewise_server_heartbeat_deaths_total 1\n");
  EXPECT_EQ(samples(t, "closewise_client_heartbeat_deaths_total"),
            "closewise_client_heartbeat_deaths_total 0\n");
}

TEST(registry, histogram_buckets_are_cumulative_with_inf_sum_and_count) {
  registry r;
  r.reconnect_scheduled(100ms, "1012 Service Restart");  // on the 0.1 bound: le="0.1"
  r.reconnect_scheduled(700ms, "1012 Service Restart");
  r.reconnect_scheduled(120s, "HTTP 503");  // over every bound: +Inf only
  const std::string t = r.render();
  EXPECT_EQ(family(t, "closewise_reconnect_delay_seconds"),
            "# HELP closewise_reconnect_delay_seconds Delays the reconnect policy chose before a "
            "retry.\n"
            "# TYPE closewise_reconnect_delay_seconds histogram\n"
            "closewise_reconnect_delay_seconds_bucket{le=\"0.05\"} 0\n"
            "closewise_reconnect_delay_seconds_bucket{le=\"0.1\"} 1\n"
            "closewise_reconnect_delay_seconds_bucket{le=\"0.25\"} 1\n"
            "closewise_reconnect_delay_seconds_bucket{le=\"0.5\"} 1\n"
            "closewise_reconnect_delay_seconds_bucket{le=\"1\"} 2\n"
            "closewise_reconnect_delay_seconds_bucket{le=\"2.5\"} 2\n"
            "closewise_reconnect_delay_seconds_bucket{le=\"5\"} 2\n"
            "closewise_reconnect_delay_seconds_bucket{le=\"10\"} 2\n"
            "closewise_reconnect_delay_seconds_bucket{le=\"30\"} 2\n"
            "closewise_reconnect_delay_seconds_bucket{le=\"60\"} 2\n"
            "closewise_reconnect_delay_seconds_bucket{le=\"+Inf\"} 3\n"
            "closewise_reconnect_delay_seconds_sum 120.8\n"
            "closewise_reconnect_delay_seconds_count 3\n");
  EXPECT_EQ(samples(t, "closewise_reconnect_scheduled_total"),
            "closewise_reconnect_scheduled_total{cause=\"1012 Service Restart\"} 2\n"
            "closewise_reconnect_scheduled_total{cause=\"HTTP 503\"} 1\n");
}

TEST(registry, label_values_from_the_library_are_escaped) {
  registry r;
  r.resume_failed(role::client, "a\\b\"c\nd");
  r.gave_up("4500 Private use");
  EXPECT_EQ(samples(r.render(), "closewise_client_resume_failures_total"),
            "closewise_client_resume_failures_total{cause=\"a\\\\b\\\"c\\nd\"} 1\n");
  EXPECT_EQ(samples(r.render(), "closewise_reconnect_give_ups_total"),
            "closewise_reconnect_give_ups_total{cause=\"4500 Private use\"} 1\n");
}

TEST(registry, refusals_sheds_shutdowns_queue_and_undelivered) {
  registry r;
  r.handshake_refused(role::server, 403);
  r.handshake_refused(role::server, 503);
  r.handshake_refused(role::server, 503);
  r.handshake_refused(role::client, 429);
  r.connect_failed(role::client, error::connection_refused);
  r.shed(shed_action::http_503);
  r.shed(shed_action::close_1013);
  r.shutdown_completed({5, 3, 1, 1, 2, 1500ms});
  r.reconnect_attempt();
  r.reconnect_attempt();
  r.queue_depth_changed(5);
  r.queue_depth_changed(-2);
  r.undelivered(error::not_sent, 3);
  r.undelivered(error::message_dropped, 1);
  r.resumed(role::server);
  r.replayed(role::server, 7);
  const std::string t = r.render();
  EXPECT_EQ(samples(t, "closewise_server_handshake_refusals_total"),
            "closewise_server_handshake_refusals_total{status=\"403\"} 1\n"
            "closewise_server_handshake_refusals_total{status=\"503\"} 2\n");
  EXPECT_EQ(samples(t, "closewise_client_handshake_refusals_total"),
            "closewise_client_handshake_refusals_total{status=\"429\"} 1\n");
  const std::string refused = std::error_code(error::connection_refused).message();
  EXPECT_EQ(samples(t, "closewise_client_connect_failures_total"),
            "closewise_client_connect_failures_total{error=\"" + refused + "\"} 1\n");
  EXPECT_EQ(samples(t, "closewise_server_sheds_total"),
            "closewise_server_sheds_total{action=\"close_1013\"} 1\n"
            "closewise_server_sheds_total{action=\"http_503\"} 1\n");
  EXPECT_EQ(samples(t, "closewise_server_shutdowns_total"), "closewise_server_shutdowns_total 1\n");
  EXPECT_EQ(samples(t, "closewise_server_shutdown_connections_total"),
            "closewise_server_shutdown_connections_total{outcome=\"aborted\"} 1\n"
            "closewise_server_shutdown_connections_total{outcome=\"clean\"} 3\n"
            "closewise_server_shutdown_connections_total{outcome=\"failed\"} 1\n"
            "closewise_server_shutdown_connections_total{outcome=\"refused\"} 2\n");
  EXPECT_NE(t.find("closewise_server_shutdown_duration_seconds_sum 1.5\n"), std::string::npos);
  EXPECT_EQ(samples(t, "closewise_reconnect_attempts_total"),
            "closewise_reconnect_attempts_total 2\n");
  EXPECT_EQ(samples(t, "closewise_reconnect_queue_depth"), "closewise_reconnect_queue_depth 3\n");
  const std::string not_sent = std::error_code(error::not_sent).message();
  const std::string dropped = std::error_code(error::message_dropped).message();
  const auto u = samples(t, "closewise_undelivered_messages_total");
  EXPECT_NE(u.find("{error=\"" + not_sent + "\"} 3\n"), std::string::npos) << u;
  EXPECT_NE(u.find("{error=\"" + dropped + "\"} 1\n"), std::string::npos) << u;
  EXPECT_EQ(samples(t, "closewise_server_resumes_total"), "closewise_server_resumes_total 1\n");
  EXPECT_EQ(samples(t, "closewise_server_resume_replayed_messages_total"),
            "closewise_server_resume_replayed_messages_total 7\n");
}

TEST(registry, counts_from_many_threads_add_up_exactly) {
  registry r;
  constexpr int threads = 4, each = 5000;
  std::vector<std::thread> ts;
  for (int i = 0; i < threads; ++i) {
    ts.emplace_back([&r, i] {
      const auto code = i % 2 ? close_code::going_away : close_code::normal;
      for (int k = 0; k < each; ++k) {
        r.connection_opened(role::server);
        r.connection_closed(role::server, {code, "", true, initiator::remote, {}});
        r.reconnect_scheduled(std::chrono::milliseconds(k % 700), "1006 Abnormal Closure");
        if (k % 100 == 0) (void)r.render();  // rendering races counting
      }
    });
  }
  for (auto& t : ts) t.join();
  const std::string t = r.render();
  EXPECT_EQ(samples(t, "closewise_server_closes_total"),
            "closewise_server_closes_total{code=\"1000\",initiator=\"remote\",clean=\"true\"} "
            "10000\n"
            "closewise_server_closes_total{code=\"1001\",initiator=\"remote\",clean=\"true\"} "
            "10000\n");
  EXPECT_NE(t.find("closewise_server_connections_opened_total 20000\n"), std::string::npos);
  EXPECT_NE(t.find("closewise_server_open_connections 0\n"), std::string::npos);
  EXPECT_NE(t.find("closewise_reconnect_delay_seconds_count 20000\n"), std::string::npos);
  EXPECT_NE(t.find("closewise_reconnect_delay_seconds_bucket{le=\"+Inf\"} 20000\n"),
            std::string::npos);
}

}  // namespace
}  // namespace closewise::metrics

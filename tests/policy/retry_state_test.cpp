#include "closewise/policy/policy.hpp"

#include <gtest/gtest.h>

#include "policy/support.hpp"

namespace cw = closewise::policy;
using namespace closewise::policy::test;

namespace {

// Drives retry_state the way the reconnecting client must: record, decide, resolve, commit.
class client_model {
 public:
  explicit client_model(cw::config cfg = {}) : cfg_(std::move(cfg)) {}

  cw::decision end_attempt(cw::outcome o, std::optional<ms> uptime, bool new_credentials = false,
                           bool offending_known = false) {
    clock_.steady += uptime.value_or(100ms) + last_delay_;
    clock_.wall += uptime.value_or(100ms) + last_delay_;
    state_.record({o, uptime, offending_known, clock_}, cfg_);
    auto d = cw::decide(o, state_.context(), cfg_, uniform_);
    if (d.kind == cw::decision_kind::refresh_credentials) {
      d = cw::resolve_credential_refresh(d, new_credentials);
    }
    state_.commit(d);
    last_delay_ = d.retries() ? d.delay : 0ms;
    return d;
  }
  const cw::retry_context& context() const { return state_.context(); }
  cw::retry_state& state() { return state_; }

 private:
  cw::config cfg_;
  cw::retry_state state_;
  cw::clock_reading clock_{};
  cw::uniform_source uniform_ = cw::seeded_uniform(1);
  ms last_delay_{0};
};

}  // namespace

TEST(strikes, three_identical_short_lived_closes_stop) {
  for (std::uint16_t code : {1002, 1003, 1007}) {
    client_model client;
    EXPECT_TRUE(client.end_attempt(remote_close(code), 1s).retries());
    EXPECT_EQ(client.context().strikes, 1u);
    EXPECT_TRUE(client.end_attempt(remote_close(code), 1s).retries());
    const auto d = client.end_attempt(remote_close(code), 1s);
    EXPECT_TRUE(d.stops()) << code;
    EXPECT_EQ(client.context().strikes, 3u);
  }
}

TEST(strikes, a_different_close_or_a_handshake_failure_breaks_the_run) {
  client_model client;
  EXPECT_TRUE(client.end_attempt(remote_close(1002), 1s).retries());
  EXPECT_TRUE(client.end_attempt(remote_close(1002), 1s).retries());
  EXPECT_TRUE(client.end_attempt(remote_close(1003), 1s).retries());  // a new run of 1003
  EXPECT_EQ(client.context().strikes, 1u);
  EXPECT_TRUE(client.end_attempt(refused(502), std::nullopt).retries());
  EXPECT_EQ(client.context().strikes, 0u);
  EXPECT_TRUE(client.end_attempt(remote_close(1003), 1s).retries());
  EXPECT_TRUE(client.end_attempt(remote_close(1003), 1s).retries());
  EXPECT_TRUE(client.end_attempt(remote_close(1003), 1s).stops());
}

TEST(strikes, identical_means_the_same_code_whatever_the_reason) {
  client_model client;
  EXPECT_TRUE(client.end_attempt(remote_close(1007, "bad utf-8 in message 1"), 1s).retries());
  EXPECT_TRUE(client.end_attempt(remote_close(1007, "bad utf-8 in message 2"), 1s).retries());
  EXPECT_TRUE(client.end_attempt(remote_close(1007, "bad utf-8 in message 3"), 1s).stops());
}

TEST(strikes, only_an_attempt_that_reached_min_uptime_resets_them) {
  client_model client;
  EXPECT_TRUE(client.end_attempt(remote_close(1002), 1s).retries());
  EXPECT_TRUE(client.end_attempt(remote_close(1002), 4999ms).retries());  // opened, not long
  EXPECT_EQ(client.context().strikes, 2u);
  // Stayed up exactly min_uptime: a new streak, and this close is no strike.
  EXPECT_TRUE(client.end_attempt(remote_close(1002), 5000ms).retries());
  EXPECT_EQ(client.context().strikes, 0u);
  EXPECT_EQ(client.context().attempt, 1u);
  EXPECT_TRUE(client.end_attempt(remote_close(1002), 1s).retries());
  EXPECT_TRUE(client.end_attempt(remote_close(1002), 1s).retries());
  EXPECT_TRUE(client.end_attempt(remote_close(1002), 1s).stops());
}

TEST(retry_state, opening_alone_does_not_reset_the_attempt_counter) {
  client_model client;
  for (std::uint32_t i = 0; i < 6; ++i) {
    const auto d = client.end_attempt(remote_close(1006), 2s);  // opened, dropped after 2 s
    ASSERT_TRUE(d.retries());
    EXPECT_EQ(client.context().attempt, i + 1);
  }
  EXPECT_GT(client.context().elapsed, 10s);
  EXPECT_GT(client.context().previous_delay, 500ms);
  client.end_attempt(remote_close(1006), 60s);  // a long, healthy connection
  EXPECT_EQ(client.context().attempt, 1u);
  EXPECT_EQ(client.context().elapsed, 0ms);
  EXPECT_LT(client.context().previous_delay, 1000ms);
}

TEST(retry_state, min_uptime_is_configurable) {
  cw::config cfg;
  cfg.min_uptime = 30s;
  client_model client(cfg);
  client.end_attempt(remote_close(1006), 10s);
  client.end_attempt(remote_close(1006), 10s);
  EXPECT_EQ(client.context().attempt, 2u);
  client.end_attempt(remote_close(1006), 30s);
  EXPECT_EQ(client.context().attempt, 1u);
}

TEST(retry_state, elapsed_counts_from_the_start_of_the_streak) {
  cw::retry_state state;
  const cw::config cfg;
  cw::clock_reading t0{};
  state.record({remote_close(1006), 60s, false, t0}, cfg);
  EXPECT_EQ(state.context().elapsed, 0ms);
  cw::clock_reading t1 = t0;
  t1.steady += 2500ms;
  t1.wall += 2500ms;
  state.record({cw::transport_failure::refused, std::nullopt, false, t1}, cfg);
  EXPECT_EQ(state.context().elapsed, 2500ms);
  EXPECT_EQ(state.context().now, t1.wall);
  EXPECT_FALSE(state.context().last_uptime.has_value());
}

TEST(retry_state, the_credential_refresh_is_spent_once_per_streak) {
  client_model client;
  const auto first = client.end_attempt(remote_close(1008), 1s, /*new_credentials=*/true);
  EXPECT_TRUE(first.retries());
  EXPECT_TRUE(client.context().credentials_refreshed);
  const auto second = client.end_attempt(remote_close(1008), 1s, true);
  EXPECT_TRUE(second.stops());
  EXPECT_NE(second.reason.find("already refreshed once"), std::string::npos);

  client.state().reset();
  EXPECT_TRUE(client.end_attempt(refused(401), std::nullopt, true).retries());
  client.end_attempt(remote_close(1006), 60s);  // a healthy connection ends the streak
  EXPECT_FALSE(client.context().credentials_refreshed);
  EXPECT_TRUE(client.end_attempt(refused(403), std::nullopt, true).retries());
}

TEST(retry_state, no_new_credentials_stops_at_once) {
  client_model client;
  const auto d = client.end_attempt(refused(401), std::nullopt, /*new_credentials=*/false);
  EXPECT_TRUE(d.stops());
  EXPECT_EQ(client.context().attempt, 0u);
}

TEST(retry_state, the_client_tells_the_policy_about_a_known_oversized_message) {
  client_model client;
  const auto d = client.end_attempt(remote_close(1009), 1s, false, /*offending_known=*/true);
  EXPECT_TRUE(d.retries());
  EXPECT_TRUE(d.dead_letter);
  EXPECT_TRUE(client.end_attempt(remote_close(1009), 1s).stops());
}

TEST(retry_state, max_attempts_counts_retries_in_a_streak) {
  cw::config cfg;
  cfg.max_attempts = 2;
  client_model client(cfg);
  EXPECT_TRUE(client.end_attempt(cw::transport_failure::refused, std::nullopt).retries());
  EXPECT_TRUE(client.end_attempt(cw::transport_failure::refused, std::nullopt).retries());
  const auto d = client.end_attempt(cw::transport_failure::refused, std::nullopt);
  EXPECT_TRUE(d.stops());
  EXPECT_EQ(d.reason, "connection refused: giving up after 2 retries (max_attempts 2)");
  client.state().reset();  // reconnect() leaves the given-up state
  EXPECT_TRUE(client.end_attempt(cw::transport_failure::refused, std::nullopt).retries());
}

TEST(retry_state, an_application_close_is_no_strike) {
  client_model client;
  client.end_attempt(remote_close(1002), 1s);
  client.end_attempt(remote_close(1002), 1s);
  EXPECT_TRUE(client.end_attempt(app_close(1000), 1s).stops());
  EXPECT_EQ(client.context().strikes, 0u);
}

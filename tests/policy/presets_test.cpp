#include "closewise/policy/presets.hpp"

#include <gtest/gtest.h>

#include "closewise/error.hpp"
#include "policy/support.hpp"

namespace cw = closewise::policy;
using namespace closewise::policy::test;

namespace {

cw::config must(std::string_view name) {
  auto p = cw::preset(name);
  EXPECT_TRUE(p.has_value()) << name;
  return p.value_or(cw::config{});
}

cw::decision first(const cw::outcome& o, const cw::config& cfg) {
  return cw::decide(o, {}, cfg, constant(0.5));
}

}  // namespace

TEST(presets, every_name_resolves_and_unknown_names_do_not) {
  for (auto name : cw::preset_names) EXPECT_EQ(must(name).name, name);
  EXPECT_FALSE(cw::preset("sometimes").has_value());
  EXPECT_FALSE(cw::preset("").has_value());
}

TEST(presets, default_is_the_plain_config) { EXPECT_EQ(must("default"), cw::config{}); }

TEST(presets, never_stops_on_every_outcome) {
  const auto cfg = must("never");
  for (std::uint32_t v = 0; v <= 65535; ++v) {
    ASSERT_TRUE(first(remote_close(static_cast<std::uint16_t>(v)), cfg).stops()) << v;
  }
  for (unsigned s = 100; s <= 599; ++s) ASSERT_TRUE(first(refused(s), cfg).stops()) << s;
  for (auto f : cw::all_transport_failures) EXPECT_TRUE(first(f, cfg).stops());
  EXPECT_NE(first(refused(401), cfg).reason.find("exactly one attempt"), std::string::npos);
}

TEST(presets, always_retries_every_outcome_but_a_local_close) {
  const auto cfg = must("always");
  for (std::uint32_t v = 0; v <= 65535; ++v) {
    ASSERT_TRUE(first(remote_close(static_cast<std::uint16_t>(v)), cfg).retries()) << v;
  }
  for (unsigned s = 100; s <= 599; ++s) ASSERT_TRUE(first(refused(s), cfg).retries()) << s;
  for (auto f : cw::all_transport_failures) EXPECT_TRUE(first(f, cfg).retries());
  EXPECT_TRUE(first(dropped(1015, closewise::error::tls_verify_failed), cfg).retries());
  EXPECT_TRUE(first(app_close(), cfg).stops());
  // Still no storm: restarts and overload keep their spread and floor.
  EXPECT_GE(cw::decide(remote_close(1013), {}, cfg, constant(0.0)).delay, 5000ms);
  EXPECT_EQ(cw::decide(remote_close(1012), {}, cfg, constant(almost_one)).delay, 5499ms);
  EXPECT_GE(cw::decide(refused(503), {}, cfg, constant(0.0)).delay, 5000ms);
}

TEST(presets, centrifugo_follows_its_terminal_and_non_terminal_ranges) {
  const auto cfg = must("centrifugo");
  for (std::uint16_t v : {3000, 3005, 3499, 4000, 4499}) {
    EXPECT_TRUE(first(remote_close(v), cfg).retries()) << v;
  }
  for (std::uint16_t v : {3501, 3503, 3999, 4500, 4999}) {
    EXPECT_TRUE(first(remote_close(v), cfg).stops()) << v;
  }
  EXPECT_EQ(first(remote_close(3500), cfg).kind, cw::decision_kind::refresh_credentials);
  EXPECT_EQ(cw::decide(remote_close(3001), {}, cfg, constant(almost_one)).delay, 5499ms);
  EXPECT_GE(cw::decide(remote_close(3013), {}, cfg, constant(0.0)).delay, 5000ms);
  EXPECT_NE(first(remote_close(3503), cfg).reason.find("Centrifugo"), std::string::npos);
}

TEST(presets, discord_stops_on_configuration_errors_and_refreshes_a_bad_token_once) {
  const auto cfg = must("discord");
  for (std::uint16_t v : {4000, 4001, 4002, 4003, 4005, 4006, 4007, 4008, 4009}) {
    EXPECT_TRUE(first(remote_close(v), cfg).retries()) << v;
  }
  for (std::uint16_t v = 4010; v <= 4014; ++v) {
    const auto d = first(remote_close(v), cfg);
    EXPECT_TRUE(d.stops()) << v;
    EXPECT_NE(d.reason.find("Discord"), std::string::npos);
  }
  EXPECT_EQ(first(remote_close(4004), cfg).kind, cw::decision_kind::refresh_credentials);
  EXPECT_GE(cw::decide(remote_close(4008), {}, cfg, constant(0.0)).delay, 5000ms);
  cw::retry_context ctx;
  ctx.strikes = 3;
  EXPECT_TRUE(cw::decide(remote_close(4002), ctx, cfg, constant(0.5)).stops());
  // Standard codes keep their registry defaults.
  EXPECT_TRUE(first(remote_close(1006), cfg).retries());
  EXPECT_TRUE(first(remote_close(1010), cfg).stops());
}

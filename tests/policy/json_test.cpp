#include "closewise/policy/json.hpp"

#include <gtest/gtest.h>

#include <filesystem>
#include <fstream>
#include <optional>
#include <string>

#include "closewise/policy/presets.hpp"
#include "policy/support.hpp"

namespace cw = closewise::policy;
using closewise::reconnect_action;
using closewise::reconnect_qualifier;
using namespace closewise::policy::test;

namespace {

std::string error_of(std::string_view text) {
  const auto r = cw::parse_policy(text);
  EXPECT_FALSE(r) << text;
  return r.message;
}

cw::config loaded(std::string_view text) {
  auto r = cw::parse_policy(text);
  EXPECT_TRUE(r) << r.message;
  return r.policy.value_or(cw::config{});
}

}  // namespace

TEST(policy_json, every_preset_round_trips) {
  for (auto name : cw::preset_names) {
    const auto p = *cw::preset(name);
    const auto text = cw::to_json(p);
    EXPECT_EQ(loaded(text), p) << text;
    EXPECT_EQ(loaded(cw::to_json(p, -1)), p);
  }
}

TEST(policy_json, a_custom_policy_round_trips_with_every_strategy) {
  cw::config p;
  p.name = "mine";
  p.reconnect_on_normal_close = true;
  p.min_uptime = 12s;
  p.strike_limit = 5;
  p.max_attempts = 7;
  p.max_elapsed = 90s;
  p.max_retry_after = 120s;
  p.hint_jitter = 0.15;
  p.codes.push_back({4000, 4099, {.action = reconnect_action::stop, .why = "app says no"}});
  p.codes.push_back(
      {4004,
       4004,
       {.action = reconnect_action::retry_raised_floor, .floor = 2s, .first_spread = 3s}});
  p.codes.push_back({1008,
                     1008,
                     {.action = reconnect_action::stop,
                      .qualifier = reconnect_qualifier::credential_refresh,
                      .why = "token"}});
  p.statuses.push_back({500, 599, {.action = reconnect_action::stop}});
  p.transports.push_back({cw::transport_failure::dns, {.action = reconnect_action::stop}});
  const cw::backoff strategies[] = {cw::full_jitter{ms{250}, ms{100}, ms{10'000}},
                                    cw::decorrelated_jitter{ms{300}, ms{20'000}},
                                    cw::fixed_delays{{1s, 3s, 9s}, 0.35}};
  for (const auto& b : strategies) {
    p.backoff = b;
    EXPECT_EQ(loaded(cw::to_json(p)), p) << cw::to_json(p);
  }
}

TEST(policy_json, loaded_reasons_live_as_long_as_a_copy_of_the_config) {
  std::optional<cw::config> copy;
  {
    std::string text = R"({"codes": {"4000": {"action": "stop", "why": "the loaded reason"}},
                           "statuses": {"503": {"action": "stop", "why": "a status reason"}},
                           "transport": {"dns": {"action": "stop", "why": "a dns reason"}}})";
    auto original = loaded(text);
    text.assign(text.size(), 'x');  // the reasons must not point into the JSON text
    copy = original;
  }  // the loaded config is gone; its copy shares the texts
  EXPECT_EQ(cw::rule_for_code(closewise::close_code{4000}, *copy).why, "the loaded reason");
  EXPECT_EQ(cw::rule_for_status(503, *copy).why, "a status reason");
  EXPECT_EQ(cw::rule_for_transport(cw::transport_failure::dns, *copy).why, "a dns reason");
  EXPECT_EQ(copy->texts.size(), 3u);
}

TEST(policy_json, kept_texts_are_not_part_of_the_value) {
  cw::config a = loaded(R"({"codes": {"4000": {"action": "stop", "why": "w"}}})");
  cw::config b;
  b.codes.push_back({4000, 4000, {.action = reconnect_action::stop, .why = "w"}});
  EXPECT_EQ(a, b);  // b's text is a literal and its store is empty; the rules are equal
  b.codes[0].rule.why = "v";
  EXPECT_NE(a, b);
}

TEST(policy_json, an_empty_object_is_the_default_policy) { EXPECT_EQ(loaded("{}"), cw::config{}); }

TEST(policy_json, extends_starts_from_a_preset_and_the_file_wins) {
  const auto p = loaded(R"({"name": "bot", "extends": "discord",
                            "codes": {"4004": "retry", "4100-4199": {"action": "stop"}},
                            "max_attempts": 10})");
  EXPECT_EQ(p.name, "bot");
  EXPECT_EQ(p.max_attempts, 10u);
  EXPECT_TRUE(cw::decide(remote_close(4004), {}, p, constant(0.5)).retries());
  EXPECT_TRUE(cw::decide(remote_close(4014), {}, p, constant(0.5)).stops());  // from discord
  EXPECT_TRUE(cw::decide(remote_close(4150), {}, p, constant(0.5)).stops());
  EXPECT_EQ(loaded(R"({"extends": "never"})").name, "never");
}

TEST(policy_json, the_schema_example_in_the_docs_loads) {
  const auto p = loaded(R"({
    "name": "chat",
    "extends": "default",
    "backoff": {"strategy": "full_jitter", "base_ms": 500, "floor_ms": 500, "cap_ms": 30000},
    "reconnect_on_normal_close": true,
    "min_uptime_ms": 5000,
    "strike_limit": 3,
    "max_attempts": null,
    "max_elapsed_ms": 600000,
    "max_retry_after_ms": 600000,
    "hint_jitter": 0.2,
    "codes": {
      "4000-4099": {"action": "stop", "why": "the chat server refused us"},
      "4001": {"action": "retry_raised_floor", "floor_ms": 10000, "first_spread_ms": 5000},
      "4401": {"action": "stop", "qualifier": "credential_refresh"}
    },
    "statuses": {"404": "retry", "520-599": "stop"},
    "transport": {"dns": "stop"}
  })");
  EXPECT_EQ(p.codes.size(), 3u);
  EXPECT_EQ(p.codes[1].rule.floor, 10s);
  EXPECT_EQ(p.statuses[1].first, 520u);
  EXPECT_EQ(p.max_elapsed, 600s);
  EXPECT_FALSE(p.max_attempts.has_value());
}

TEST(policy_json, errors_name_the_field) {
  EXPECT_EQ(error_of(R"({"codes": {"4000-4099": {"action": "sometimes"}}})"),
            "policy.codes[\"4000-4099\"].action: expected one of "
            "stop|retry|retry_raised_floor|retry_with_strikes");
  EXPECT_EQ(error_of(R"({"codes": {"4000": "maybe"}})"),
            "policy.codes[\"4000\"]: expected one of "
            "stop|retry|retry_raised_floor|retry_with_strikes");
  EXPECT_EQ(error_of(R"({"codes": {"4000": {"why": "x"}}})"),
            "policy.codes[\"4000\"].action: missing; expected one of "
            "stop|retry|retry_raised_floor|retry_with_strikes");
  EXPECT_EQ(error_of(R"({"codes": {"4000": {"action": "stop", "qualifier": "please"}}})"),
            "policy.codes[\"4000\"].qualifier: expected one of "
            "none|credential_refresh|dead_letter|tls_verify_stops");
  EXPECT_EQ(error_of(R"({"codes": {"70000": "stop"}})"),
            "policy.codes[\"70000\"]: expected a number or a range FIRST-LAST within 0-65535");
  EXPECT_EQ(error_of(R"({"codes": {"4099-4000": "stop"}})"),
            "policy.codes[\"4099-4000\"]: the range is reversed; write FIRST-LAST with FIRST <= "
            "LAST");
  EXPECT_EQ(error_of(R"({"statuses": {"42": "stop"}})"),
            "policy.statuses[\"42\"]: expected a number or a range FIRST-LAST within 100-999");
  EXPECT_EQ(error_of(R"({"transport": {"carrier_pigeon": "stop"}})"),
            "policy.transport[\"carrier_pigeon\"]: expected one of "
            "dns|refused|reset|timeout|tls_verify|tls_other|other");
  EXPECT_EQ(error_of(R"({"backoff": {"strategy": "linear"}})"),
            "policy.backoff.strategy: expected one of full_jitter|decorrelated_jitter|fixed");
  EXPECT_EQ(error_of(R"({"backoff": {"strategy": "decorrelated_jitter", "floor_ms": 5}})"),
            "policy.backoff.floor_ms: unknown field (expected one of strategy|base_ms|cap_ms)");
  EXPECT_EQ(error_of(R"({"backoff": {"strategy": "fixed", "delays_ms": []}})"),
            "policy.backoff.delays_ms: expected a non-empty array of milliseconds");
  EXPECT_EQ(error_of(R"({"backoff": {"strategy": "fixed", "delays_ms": [100, -1]}})"),
            "policy.backoff.delays_ms[1]: expected a whole number from 0 to 1000000000000");
  EXPECT_EQ(error_of(R"({"min_uptime_ms": -1})"),
            "policy.min_uptime_ms: expected a whole number from 0 to 1000000000000");
  EXPECT_EQ(error_of(R"({"min_uptime_ms": 1.5})"),
            "policy.min_uptime_ms: expected a whole number from 0 to 1000000000000");
  EXPECT_EQ(error_of(R"({"strike_limit": 0})"),
            "policy.strike_limit: expected a whole number from 1 to 4294967295");
  EXPECT_EQ(error_of(R"({"hint_jitter": 2})"), "policy.hint_jitter: expected a number from 0 to 1");
  EXPECT_EQ(error_of(R"({"reconnect_on_normal_close": "yes"})"),
            "policy.reconnect_on_normal_close: expected true or false");
  EXPECT_EQ(error_of(R"({"extends": "sometimes"})"),
            "policy.extends: expected one of default|never|always|centrifugo|discord");
  EXPECT_EQ(error_of(R"([1, 2])"), "policy: expected an object");
  EXPECT_EQ(error_of(R"({"codes": []})"), "policy.codes: expected an object");
  EXPECT_EQ(error_of(R"({"max_attempts": 99999999999999999999})"),
            "policy.max_attempts: expected a whole number from 0 to 4294967295");
  const auto unknown = error_of(R"({"bakoff": {}})");
  EXPECT_EQ(unknown.rfind("policy.bakoff: unknown field (expected one of name|extends|backoff", 0),
            0u)
      << unknown;
}

TEST(policy_json, error_codes_tell_syntax_from_schema) {
  const auto syntax = cw::parse_policy(R"({"codes": )");
  EXPECT_EQ(syntax.error, cw::json_error::syntax);
  EXPECT_EQ(syntax.message.rfind("policy: not valid JSON", 0), 0u) << syntax.message;
  // Found by fuzz/policy_json_fuzz.cpp: nlohmann reports a number too large to
  // store as out_of_range, not parse_error; it escaped and terminated the process.
  for (const auto* overflow : {R"({"hint_jitter": 1e999999})", "13e01000000000000"}) {
    const auto r = cw::parse_policy(overflow);
    EXPECT_EQ(r.error, cw::json_error::syntax) << overflow;
    EXPECT_EQ(r.message.rfind("policy: not valid JSON", 0), 0u) << r.message;
  }
  const auto schema = cw::parse_policy(R"({"strike_limit": "three"})");
  EXPECT_EQ(schema.error, cw::json_error::schema);
  EXPECT_FALSE(schema.policy.has_value());
  EXPECT_STREQ(schema.error.category().name(), "closewise.policy.json");
  EXPECT_FALSE(schema.error.message().empty());
}

TEST(policy_json, load_policy_file_reads_a_file_and_names_it_in_errors) {
  const auto dir = std::filesystem::path(testing::TempDir()) / "closewise_policy_json_test";
  std::filesystem::create_directories(dir);
  const auto good = dir / "good.json";
  std::ofstream(good) << cw::to_json(*cw::preset("centrifugo"));
  const auto r = cw::load_policy_file(good);
  ASSERT_TRUE(r) << r.message;
  EXPECT_EQ(*r.policy, *cw::preset("centrifugo"));

  const auto bad = dir / "bad.json";
  std::ofstream(bad) << R"({"codes": {"4000-4099": {"action": "sometimes"}}})";
  const auto e = cw::load_policy_file(bad);
  EXPECT_EQ(e.error, cw::json_error::schema);
  EXPECT_EQ(e.message, bad.string() +
                           ": policy.codes[\"4000-4099\"].action: expected one of "
                           "stop|retry|retry_raised_floor|retry_with_strikes");

  const auto missing = cw::load_policy_file(dir / "missing.json");
  EXPECT_EQ(missing.error, cw::json_error::unreadable);
  EXPECT_NE(missing.message.find("missing.json"), std::string::npos);
  std::filesystem::remove_all(dir);
}

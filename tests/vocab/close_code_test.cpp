#include "closewise/close_code.hpp"

#include <gtest/gtest.h>

#include <set>

namespace cw = closewise;
using namespace std::chrono_literals;

namespace {

// ARCHITECTURE §2 and §3 restated independently of the table, as plain rules.
// The table must agree with them for every one of the 65,536 values.
bool rule_on_wire(unsigned v) {
  return (v >= 1000 && v <= 1003) || (v >= 1007 && v <= 1014) || (v >= 3000 && v <= 4999);
}
bool rule_app_sendable(unsigned v) { return v == 1000 || (v >= 3000 && v <= 4999); }
bool rule_endpoint_only(unsigned v) { return (v >= 1001 && v <= 1003) || (v >= 1007 && v <= 1014); }
bool rule_local_only(unsigned v) { return v == 1005 || v == 1006 || v == 1015; }
cw::reconnect_action rule_action(unsigned v) {
  using A = cw::reconnect_action;
  // clang-format off
  switch (v) {
    case 1000: return A::stop;
    case 1001: case 1011: case 1012: case 1013: return A::retry_raised_floor;
    case 1002: case 1003: case 1004: case 1007: return A::retry_with_strikes;
    case 1005: case 1006: case 1014: return A::retry;
    case 1008: case 1009: case 1010: return A::stop;
    case 1015: return A::retry;  // qualified: stops on verification failure
    default: break;
  }
  // clang-format on
  if (v >= 1016 && v <= 2999) return A::retry;
  if ((v >= 3000 && v <= 3499) || (v >= 4000 && v <= 4499)) return A::retry;
  return A::stop;  // 3500-3999, 4500-4999, and values that are not close codes
}
cw::reconnect_qualifier rule_qualifier(unsigned v) {
  using Q = cw::reconnect_qualifier;
  if (v == 1008) return Q::credential_refresh;
  if (v == 1009) return Q::dead_letter;
  if (v == 1015) return Q::tls_verify_stops;
  return Q::none;
}

}  // namespace

// The registry is usable at compile time, rule and all.
static_assert(cw::info(cw::close_code::try_again_later).reconnect.floor == 5s);
static_assert(cw::info(cw::close_code{4600}).reconnect.action == cw::reconnect_action::stop);
static_assert(!cw::info(cw::close_code::tls_handshake).reconnect.why.empty());

TEST(close_code_table, rows_are_sorted_contiguous_and_cover_every_value) {
  std::uint32_t next = 0;
  for (const auto& row : cw::close_code_table) {
    EXPECT_EQ(row.first, next) << row.name;
    EXPECT_LE(row.first, row.last) << row.name;
    EXPECT_FALSE(row.name.empty());
    EXPECT_FALSE(row.meaning.empty());
    EXPECT_FALSE(row.reconnect.why.empty()) << row.name;
    next = std::uint32_t{row.last} + 1;
  }
  EXPECT_EQ(next, 65536u);
}

TEST(close_code_table, every_value_matches_the_architecture_rules) {
  for (std::uint32_t v = 0; v <= 65535; ++v) {
    const auto code = static_cast<cw::close_code>(v);
    const auto& row = cw::info(code);
    SCOPED_TRACE(v);
    ASSERT_LE(row.first, v);
    ASSERT_GE(row.last, v);
    ASSERT_EQ(cw::to_int(code), v) << "the wire value must pass through";
    ASSERT_EQ(cw::is_valid_on_wire(code), rule_on_wire(v));
    ASSERT_EQ(cw::is_app_sendable(code), rule_app_sendable(v));
    ASSERT_EQ(row.endpoint_only(), rule_endpoint_only(v));
    ASSERT_EQ(cw::is_endpoint_sendable(code), rule_app_sendable(v) || rule_endpoint_only(v));
    ASSERT_EQ(cw::is_local_only(code), rule_local_only(v));
    // Anything sendable is valid on the wire, and nothing local-only is.
    ASSERT_TRUE(!row.sendable() || row.on_wire);
    ASSERT_TRUE(!row.local_only || !row.on_wire);
    ASSERT_EQ(row.reconnect.action, rule_action(v));
    ASSERT_EQ(row.reconnect.qualifier, rule_qualifier(v));
    const bool spread = v == 1001 || v == 1011 || v == 1012 || v == 1013;
    ASSERT_EQ(row.reconnect.first_spread, spread ? 5000ms : 0ms);
    ASSERT_EQ(row.reconnect.floor, v == 1013 ? 5000ms : 0ms);
  }
}

TEST(close_code_table, every_iana_code_has_its_own_row_and_name) {
  // clang-format off
  const std::pair<unsigned, std::string_view> iana[] = {
      {1000, "Normal Closure"},   {1001, "Going Away"},          {1002, "Protocol error"},
      {1003, "Unsupported Data"}, {1004, "Reserved"},            {1005, "No Status Rcvd"},
      {1006, "Abnormal Closure"}, {1007, "Invalid frame payload data"},
      {1008, "Policy Violation"}, {1009, "Message Too Big"},     {1010, "Mandatory Ext."},
      {1011, "Internal Error"},   {1012, "Service Restart"},     {1013, "Try Again Later"},
      {1014, "Bad Gateway"},      {1015, "TLS handshake"}};
  // clang-format on
  for (auto [v, expected] : iana) {
    const auto& row = cw::info(static_cast<cw::close_code>(v));
    EXPECT_FALSE(row.is_range()) << v;
    EXPECT_EQ(row.name, expected) << v;
  }
}

TEST(close_code_table, peer_notes_record_known_divergence) {
  EXPECT_NE(cw::info(cw::close_code::bad_gateway).peer_notes.find("Beast"), std::string_view::npos);
  EXPECT_NE(cw::info(cw::close_code::bad_gateway).peer_notes.find("wslay"), std::string_view::npos);
  for (unsigned v : {1012u, 1013u, 1014u, 3000u, 3999u})
    EXPECT_NE(cw::info(static_cast<cw::close_code>(v)).peer_notes.find("uWebSockets"),
              std::string_view::npos)
        << v;
}

TEST(close_code_table, is_usable_at_compile_time) {
  static_assert(cw::is_valid_on_wire(cw::close_code::bad_gateway));
  static_assert(!cw::is_valid_on_wire(cw::close_code::no_status));
  static_assert(cw::is_app_sendable(static_cast<cw::close_code>(4999)));
  static_assert(!cw::is_app_sendable(cw::close_code::going_away));
  static_assert(cw::info(static_cast<cw::close_code>(65535)).first ==
                cw::close_range::invalid_first);
  SUCCEED();
}

TEST(parse_close_code, accepts_decimal_in_range_only) {
  EXPECT_EQ(cw::parse_close_code("1014"), cw::close_code::bad_gateway);
  EXPECT_EQ(cw::parse_close_code("0"), static_cast<cw::close_code>(0));
  EXPECT_EQ(cw::parse_close_code("65535"), static_cast<cw::close_code>(65535));
  for (auto bad : {"", "abc", "70000", "65536", "-1", "10 14", "100000", "1e3", "+1000"})
    EXPECT_FALSE(cw::parse_close_code(bad).has_value()) << bad;
}

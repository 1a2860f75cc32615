#include "closewise/metrics/exposition.hpp"

#include <gtest/gtest.h>

#include <limits>

namespace closewise::metrics {
namespace {

TEST(exposition, label_values_escape_backslash_quote_and_newline) {
  EXPECT_EQ(escape_label_value("plain 1012"), "plain 1012");
  EXPECT_EQ(escape_label_value("a\\b"), "a\\\\b");
  EXPECT_EQ(escape_label_value("say \"hi\""), "say \\\"hi\\\"");
  EXPECT_EQ(escape_label_value("two\nlines"), "two\\nlines");
  EXPECT_EQ(escape_label_value("\\\"\n"), "\\\\\\\"\\n");
  // Other bytes, UTF-8 and tabs included, pass unchanged.
  EXPECT_EQ(escape_label_value("caf\xc3\xa9\t"), "caf\xc3\xa9\t");
}

TEST(exposition, help_escapes_backslash_and_newline_but_not_quotes) {
  EXPECT_EQ(escape_help("a \"quoted\" \\ word\nnext"), "a \"quoted\" \\\\ word\\nnext");
}

TEST(exposition, values_are_shortest_round_trip_text_and_infinities_are_spelled) {
  EXPECT_EQ(format_value(0.0), "0");
  EXPECT_EQ(format_value(1.0), "1");
  EXPECT_EQ(format_value(0.1), "0.1");
  EXPECT_EQ(format_value(0.25), "0.25");
  EXPECT_EQ(format_value(2.5), "2.5");
  EXPECT_EQ(format_value(-3.5), "-3.5");
  EXPECT_EQ(format_value(1e20), "1e+20");
  EXPECT_EQ(format_value(std::numeric_limits<double>::infinity()), "+Inf");
  EXPECT_EQ(format_value(-std::numeric_limits<double>::infinity()), "-Inf");
  EXPECT_EQ(format_value(std::numeric_limits<double>::quiet_NaN()), "NaN");
}

TEST(exposition, a_family_is_help_type_then_one_line_per_sample) {
  text_writer w;
  w.family("closewise_server_closes_total", "counter", "Ends of open connections.\nBy code.");
  w.sample("closewise_server_closes_total",
           {{"code", "1012"}, {"initiator", "local"}, {"clean", "true"}}, std::int64_t{3});
  w.sample("closewise_server_closes_total",
           {{"code", "4000"}, {"initiator", "remote"}, {"clean", "false"}}, std::int64_t{0});
  w.family("closewise_x", "gauge", "X");
  w.sample("closewise_x", {}, -2.5);
  w.sample("closewise_y", {{"cause", "a\\b\"c\nd"}}, std::int64_t{1});
  EXPECT_EQ(w.text(),
            "# HELP closewise_server_closes_total Ends of open connections.\\nBy code.\n"
            "# TYPE closewise_server_closes_total counter\n"
            "closewise_server_closes_total{code=\"1012\",initiator=\"local\",clean=\"true\"} 3\n"
            "closewise_server_closes_total{code=\"4000\",initiator=\"remote\",clean=\"false\"} 0\n"
            "# HELP closewise_x X\n"
            "# TYPE closewise_x gauge\n"
            "closewise_x -2.5\n"
            "closewise_y{cause=\"a\\\\b\\\"c\\nd\"} 1\n");
}

}  // namespace
}  // namespace closewise::metrics

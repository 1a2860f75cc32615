#include "closewise/utf8.hpp"

#include <gtest/gtest.h>

#include <string>

namespace cw = closewise;

TEST(utf8, accepts_valid_text_of_every_length) {
  EXPECT_TRUE(cw::is_valid_utf8(""));
  EXPECT_TRUE(cw::is_valid_utf8("plain ascii that is longer than sixteen bytes"));
  EXPECT_TRUE(cw::is_valid_utf8("\xC2\x80\xDF\xBF"));                      // U+0080, U+07FF
  EXPECT_TRUE(cw::is_valid_utf8("\xE0\xA0\x80\xED\x9F\xBF\xEF\xBF\xBF"));  // U+0800, U+D7FF, U+FFFF
  EXPECT_TRUE(cw::is_valid_utf8("\xF0\x90\x80\x80\xF4\x8F\xBF\xBF"));      // U+10000, U+10FFFF
}

TEST(utf8, rejects_overlongs_surrogates_and_out_of_range) {
  for (const char* bad :
       {"\xC0\x80", "\xC1\xBF", "\xE0\x9F\xBF", "\xED\xA0\x80", "\xED\xBF\xBF", "\xF0\x8F\xBF\xBF",
        "\xF4\x90\x80\x80", "\xF5\x80\x80\x80", "\xFF", "\x80", "a\xBF"})
    EXPECT_FALSE(cw::is_valid_utf8(bad)) << bad;
}

TEST(utf8, fails_early_not_only_at_the_end) {
  cw::utf8_validator v;
  EXPECT_TRUE(v.feed("abc\xE2\x82"));
  EXPECT_FALSE(v.finish()) << "a sequence is still open";
  EXPECT_TRUE(v.ok());
  EXPECT_FALSE(v.feed("\x41")) << "the open sequence can no longer complete";
  EXPECT_FALSE(v.ok());
}

TEST(utf8, sequences_split_across_pieces_are_validated) {
  const std::string s = "x\xF0\x9F\x98\x80y\xE2\x82\xAC";
  for (std::size_t cut = 0; cut <= s.size(); ++cut) {
    cw::utf8_validator v;
    EXPECT_TRUE(v.feed(std::string_view(s).substr(0, cut)));
    EXPECT_TRUE(v.feed(std::string_view(s).substr(cut)));
    EXPECT_TRUE(v.finish()) << cut;
  }
}

TEST(utf8, truncated_input_is_not_finished) {
  cw::utf8_validator v;
  EXPECT_TRUE(v.feed("\xF0\x9F\x98"));
  EXPECT_FALSE(v.finish());
}

TEST(utf8, fast_path_sees_a_bad_byte_after_ascii_blocks) {
  std::string s(64, 'a');
  s[40] = '\xFF';
  EXPECT_FALSE(cw::is_valid_utf8(s));
  s[40] = 'a';
  s[63] = '\xC3';
  EXPECT_FALSE(cw::is_valid_utf8(s));
}

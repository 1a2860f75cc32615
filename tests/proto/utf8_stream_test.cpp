// The UTF-8 validator the protocol core runs on every text message: the
// vector path and the scalar path against a plain RFC 3629 decoder, whole and
// fed in pieces, including block boundaries and early failure.
#include "closewise/utf8.hpp"

#include <gtest/gtest.h>

#include <cstdint>
#include <random>
#include <string>
#include <vector>

namespace closewise::detail {
bool utf8_valid_scalar(const std::uint8_t* p, std::size_t n) noexcept;
bool utf8_valid_simd(const std::uint8_t* p, std::size_t n) noexcept;
bool utf8_simd_available() noexcept;
}  // namespace closewise::detail

namespace cw = closewise;

namespace {

// RFC 3629 §3-§4, decoded the slow, obvious way.
bool reference_valid(const std::string& s) {
  std::size_t i = 0;
  while (i < s.size()) {
    const auto b = static_cast<unsigned char>(s[i]);
    std::size_t len;
    std::uint32_t cp, min;
    // clang-format off
    if (b < 0x80) { ++i; continue; }
    if (b >= 0xC2 && b <= 0xDF) { len = 2; cp = b & 0x1F; min = 0x80; }
    else if (b >= 0xE0 && b <= 0xEF) { len = 3; cp = b & 0x0F; min = 0x800; }
    else if (b >= 0xF0 && b <= 0xF4) { len = 4; cp = b & 0x07; min = 0x10000; }
    else return false;
    // clang-format on
    if (i + len > s.size()) return false;
    for (std::size_t k = 1; k < len; ++k) {
      const auto c = static_cast<unsigned char>(s[i + k]);
      if ((c & 0xC0) != 0x80) return false;
      cp = (cp << 6) | (c & 0x3F);
    }
    if (cp < min || cp > 0x10FFFF || (cp >= 0xD800 && cp <= 0xDFFF)) return false;
    i += len;
  }
  return true;
}

// A prefix can still become valid when some 0..3 continuation bytes complete it.
bool reference_completable(const std::string& s) {
  if (reference_valid(s)) return true;
  static const char reps[] = {'\x80', '\x8F', '\x90', '\x9F', '\xA0', '\xBF'};
  for (char a : reps) {
    if (reference_valid(s + a)) return true;
    for (char b : reps) {
      if (reference_valid(s + a + b)) return true;
      for (char c : reps)
        if (reference_valid(s + a + b + c)) return true;
    }
  }
  return false;
}

bool scalar(const std::string& s) {
  return cw::detail::utf8_valid_scalar(reinterpret_cast<const std::uint8_t*>(s.data()), s.size());
}
bool simd(const std::string& s) {
  return cw::detail::utf8_valid_simd(reinterpret_cast<const std::uint8_t*>(s.data()), s.size());
}

std::string random_text(std::mt19937& rng, std::size_t n) {
  std::string s;
  std::uniform_int_distribution<int> kind(0, 9);
  while (s.size() < n) {
    std::uint32_t cp;
    // clang-format off
    switch (kind(rng)) {
      case 0: cp = std::uniform_int_distribution<std::uint32_t>(0x80, 0x7FF)(rng); break;
      case 1: cp = std::uniform_int_distribution<std::uint32_t>(0x800, 0xD7FF)(rng); break;
      case 2: cp = std::uniform_int_distribution<std::uint32_t>(0xE000, 0xFFFF)(rng); break;
      case 3: cp = std::uniform_int_distribution<std::uint32_t>(0x10000, 0x10FFFF)(rng); break;
      default: cp = std::uniform_int_distribution<std::uint32_t>(0x20, 0x7E)(rng); break;
    }
    // clang-format on
    if (cp < 0x80) {
      s.push_back(static_cast<char>(cp));
    } else if (cp < 0x800) {
      s.push_back(static_cast<char>(0xC0 | (cp >> 6)));
      s.push_back(static_cast<char>(0x80 | (cp & 0x3F)));
    } else if (cp < 0x10000) {
      s.push_back(static_cast<char>(0xE0 | (cp >> 12)));
      s.push_back(static_cast<char>(0x80 | ((cp >> 6) & 0x3F)));
      s.push_back(static_cast<char>(0x80 | (cp & 0x3F)));
    } else {
      s.push_back(static_cast<char>(0xF0 | (cp >> 18)));
      s.push_back(static_cast<char>(0x80 | ((cp >> 12) & 0x3F)));
      s.push_back(static_cast<char>(0x80 | ((cp >> 6) & 0x3F)));
      s.push_back(static_cast<char>(0x80 | (cp & 0x3F)));
    }
  }
  return s;
}

}  // namespace

TEST(utf8_stream, every_two_byte_string_at_every_block_position) {
  // (offset, total length): short inputs take the one-vector path, long ones the blocks.
  const std::pair<std::size_t, std::size_t> places[] = {
      {0, 2},   {0, 3},   {6, 8},   {13, 15}, {14, 16}, {13, 16}, {15, 17}, {0, 72},
      {15, 72}, {16, 72}, {30, 72}, {31, 72}, {32, 72}, {62, 72}, {63, 72}, {62, 64}};
  for (auto [at, total] : places) {
    for (int a = 0; a < 256; ++a) {
      for (int b = 0; b < 256; ++b) {
        std::string s(at, 'x');
        s.push_back(static_cast<char>(a));
        s.push_back(static_cast<char>(b));
        s.append(total - at - 2, 'y');
        const bool want = reference_valid(s);
        ASSERT_EQ(simd(s), want) << at << " " << a << " " << b;
        ASSERT_EQ(cw::is_valid_utf8(s), want) << at << " " << a << " " << b;
      }
    }
  }
}

TEST(utf8_stream, every_three_and_four_byte_lead_with_every_second_byte) {
  static const int tails[] = {0x00, 0x41, 0x7F, 0x80, 0x8F, 0x90, 0x9F,
                              0xA0, 0xBF, 0xC0, 0xC2, 0xE0, 0xF0, 0xFF};
  for (int a = 0xE0; a < 256; ++a) {
    for (int b = 0; b < 256; ++b) {
      for (int c : tails) {
        for (int d : tails) {
          std::string s(29, 'x');  // the sequence straddles the 32-byte block boundary
          s += {static_cast<char>(a), static_cast<char>(b), static_cast<char>(c),
                static_cast<char>(d)};
          const bool want = reference_valid(s);
          ASSERT_EQ(simd(s), want) << a << " " << b << " " << c << " " << d;
          ASSERT_EQ(scalar(s), want) << a << " " << b << " " << c << " " << d;
          s.append(40, 'z');
          ASSERT_EQ(simd(s), reference_valid(s)) << a << " " << b << " " << c << " " << d;
          const std::string alone = s.substr(29, 4);  // the one-vector path
          ASSERT_EQ(simd(alone), reference_valid(alone)) << a << " " << b << " " << c << " " << d;
          const std::string at_end = std::string(12, 'q') + alone;  // ends at byte 16
          ASSERT_EQ(simd(at_end), reference_valid(at_end)) << a << " " << b << " " << c << " " << d;
        }
      }
    }
  }
}

TEST(utf8_stream, random_text_whole_and_in_pieces_matches_the_reference) {
  std::mt19937 rng(20240611);
  for (int round = 0; round < 3000; ++round) {
    const std::size_t n =
        std::uniform_int_distribution<std::size_t>(0, round % 10 == 0 ? 2000 : 150)(rng);
    std::string s = random_text(rng, n);
    // Most rounds break it: a random byte, a cut or an inserted byte.
    const int mutation = round % 4;
    if (!s.empty() && mutation == 1) s[rng() % s.size()] = static_cast<char>(rng());
    if (!s.empty() && mutation == 2) s.resize(rng() % s.size());
    if (mutation == 3)
      s.insert(s.begin() + static_cast<std::ptrdiff_t>(rng() % (s.size() + 1)),
               static_cast<char>(0x80 | (rng() & 0x7F)));
    const bool want = reference_valid(s);
    ASSERT_EQ(scalar(s), want) << round;
    ASSERT_EQ(simd(s), want) << round;
    ASSERT_EQ(cw::is_valid_utf8(s), want) << round;
    // In random pieces: the verdict is the same, and ok() turns false exactly
    // when the prefix can no longer be completed.
    cw::utf8_validator v;
    std::size_t at = 0;
    bool ok = true;
    while (at < s.size()) {
      const std::size_t step = std::min<std::size_t>(s.size() - at, 1 + rng() % 70);
      ok = v.feed(std::string_view(s).substr(at, step));
      at += step;
      ASSERT_EQ(ok, reference_completable(s.substr(0, at))) << round << " at " << at;
      if (!ok) break;
    }
    if (ok) {
      ASSERT_EQ(v.finish(), want) << round;
    }
    // Byte at a time: every byte goes through the incremental state machine.
    cw::utf8_validator b;
    bool all = true;
    for (char ch : s) all = all && b.feed(std::string_view(&ch, 1));
    ASSERT_EQ(all && b.finish(), want) << round;
  }
}

TEST(utf8_stream, rejects_as_soon_as_the_prefix_cannot_complete) {
  cw::utf8_validator v;
  EXPECT_TRUE(v.feed(std::string(40, 'a') + "\xF4"));
  EXPECT_FALSE(v.feed("\x90"));  // F4 90 is above U+10FFFF whatever follows
  EXPECT_FALSE(v.ok());
  EXPECT_FALSE(v.feed("a")) << "stays rejected";
  v.reset();
  EXPECT_TRUE(v.feed(std::string(40, 'a') + "\xE2\x82"));
  EXPECT_TRUE(v.ok());
  EXPECT_FALSE(v.finish());
  EXPECT_TRUE(v.feed("\xAC"));
  EXPECT_TRUE(v.finish());
}

TEST(utf8_stream, reports_which_path_it_uses) {
  // Informational: the vector path is exercised above only when the CPU has AVX2.
  RecordProperty("simd", cw::detail::utf8_simd_available() ? "avx2" : "scalar");
  SUCCEED();
}

#include "closewise/utf8.hpp"

#include <array>
#include <cstring>

namespace closewise {
namespace {

// A DFA over byte classes (RFC 3629 §4 syntax). States other than accept and
// reject say which continuation bytes may come next.
enum state : std::uint8_t {
  s_accept = 0, s_reject = 1,
  s_cont1,   // one 80..BF left
  s_cont2,   // two 80..BF left
  s_cont3,   // three 80..BF left
  s_e0,      // after E0: A0..BF (no overlongs), then one more
  s_ed,      // after ED: 80..9F (no surrogates), then one more
  s_f0,      // after F0: 90..BF (no overlongs), then two more
  s_f4,      // after F4: 80..8F (max U+10FFFF), then two more
  s_count
};
enum cls : std::uint8_t {
  c_ascii, c_80_8f, c_90_9f, c_a0_bf, c_bad, c_lead2, c_e0, c_lead3, c_ed, c_f0, c_lead4, c_f4,
  c_count
};

constexpr std::array<std::uint8_t, 256> make_classes() {
  std::array<std::uint8_t, 256> t{};
  for (int b = 0; b < 256; ++b) {
    std::uint8_t c = c_bad;
    if (b < 0x80) c = c_ascii;
    else if (b < 0x90) c = c_80_8f;
    else if (b < 0xA0) c = c_90_9f;
    else if (b < 0xC0) c = c_a0_bf;
    else if (b < 0xC2) c = c_bad;
    else if (b < 0xE0) c = c_lead2;
    else if (b == 0xE0) c = c_e0;
    else if (b == 0xED) c = c_ed;
    else if (b < 0xF0) c = c_lead3;
    else if (b == 0xF0) c = c_f0;
    else if (b < 0xF4) c = c_lead4;
    else if (b == 0xF4) c = c_f4;
    t[static_cast<std::size_t>(b)] = c;
  }
  return t;
}

constexpr std::array<std::array<std::uint8_t, c_count>, s_count> make_transitions() {
  std::array<std::array<std::uint8_t, c_count>, s_count> t{};
  for (auto& row : t) row.fill(s_reject);
  t[s_accept][c_ascii] = s_accept;
  t[s_accept][c_lead2] = s_cont1;
  t[s_accept][c_e0] = s_e0;
  t[s_accept][c_lead3] = s_cont2;
  t[s_accept][c_ed] = s_ed;
  t[s_accept][c_f0] = s_f0;
  t[s_accept][c_lead4] = s_cont3;
  t[s_accept][c_f4] = s_f4;
  for (auto c : {c_80_8f, c_90_9f, c_a0_bf}) {
    t[s_cont1][c] = s_accept;
    t[s_cont2][c] = s_cont1;
    t[s_cont3][c] = s_cont2;
  }
  t[s_e0][c_a0_bf] = s_cont1;
  t[s_ed][c_80_8f] = s_cont1;
  t[s_ed][c_90_9f] = s_cont1;
  t[s_f0][c_90_9f] = s_cont2;
  t[s_f0][c_a0_bf] = s_cont2;
  t[s_f4][c_80_8f] = s_cont2;
  return t;
}

constexpr auto classes = make_classes();
constexpr auto transitions = make_transitions();

}  // namespace

bool utf8_validator::feed(const std::uint8_t* p, std::size_t n) noexcept {
  std::uint8_t s = state_;
  const std::uint8_t* const end = p + n;
  while (p != end) {
    if (s == s_accept) {
      // ASCII fast path, 16 bytes at a time: the common case for JSON payloads.
      while (end - p >= 16) {
        std::uint64_t a, b;
        std::memcpy(&a, p, 8);
        std::memcpy(&b, p + 8, 8);
        if (((a | b) & 0x8080808080808080ull) != 0) break;
        p += 16;
      }
      if (p == end) break;
    }
    s = transitions[s][classes[*p]];
    if (s == s_reject) {
      state_ = s_reject;
      return false;
    }
    ++p;
  }
  state_ = s;
  return true;
}

bool is_valid_utf8(std::string_view s) noexcept {
  utf8_validator v;
  return v.feed(s) && v.finish();
}

}  // namespace closewise

#include "closewise/utf8.hpp"

#include <array>
#include <cstring>

#if defined(__x86_64__) || defined(__i386__)
#include <immintrin.h>
#define CLOSEWISE_UTF8_AVX2 1
#else
#define CLOSEWISE_UTF8_AVX2 0
#endif

namespace closewise {
namespace detail {
// Whole-buffer validators, exposed (undeclared in headers) so tests can compare
// the vector path with the scalar one on the same inputs.
bool utf8_valid_scalar(const std::uint8_t* p, std::size_t n) noexcept;
bool utf8_valid_simd(const std::uint8_t* p, std::size_t n) noexcept;
bool utf8_simd_available() noexcept;
}  // namespace detail

namespace {

// A DFA over byte classes (RFC 3629 §4 syntax). States other than accept and
// reject say which continuation bytes may come next.
// clang-format off
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
// clang-format on

constexpr std::array<std::uint8_t, 256> make_classes() {
  std::array<std::uint8_t, 256> t{};
  for (int b = 0; b < 256; ++b) {
    std::uint8_t c = c_bad;
    // clang-format off
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
    // clang-format on
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

// Runs the DFA over [p, end); returns the state (s_reject as soon as it is rejected).
inline std::uint8_t run_dfa(std::uint8_t s, const std::uint8_t* p,
                            const std::uint8_t* end) noexcept {
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
    if (s == s_reject) return s;
    ++p;
  }
  return s;
}

// The start of a trailing, not yet complete code point, or `end`: what comes
// before it is whole code points when the input is valid.
inline const std::uint8_t* last_boundary(const std::uint8_t* p, const std::uint8_t* end) noexcept {
  const auto n = static_cast<std::size_t>(end - p);
  for (std::size_t i = 1; i <= 3 && i <= n; ++i) {
    const std::uint8_t b = end[-static_cast<std::ptrdiff_t>(i)];
    if ((b & 0xC0) == 0x80) continue;  // a continuation byte: look further back
    if (b >= 0xC0) {
      const std::size_t need = b >= 0xF0 ? 4 : b >= 0xE0 ? 3 : 2;
      if (need > i) return end - i;
    }
    return end;
  }
  return end;
}

// Whole code points, decoded one at a time with range checks (RFC 3629 §4):
// faster than the DFA when the input is known to start on a boundary.
inline bool valid_scalar(const std::uint8_t* p, std::size_t n) noexcept {
  const std::uint8_t* const end = p + n;
  while (p != end) {
    const std::uint8_t b = *p;
    if (b < 0x80) {
      ++p;
      continue;
    }
    const auto left = end - p;
    if (b < 0xC2) return false;  // a stray continuation, or an overlong C0/C1 lead
    if (b < 0xE0) {
      if (left < 2 || (p[1] & 0xC0) != 0x80) return false;
      p += 2;
      continue;
    }
    if (b < 0xF0) {
      // E0 needs A0..BF (no overlongs); ED needs 80..9F (no surrogates).
      const std::uint8_t lo = b == 0xE0 ? 0xA0 : 0x80, hi = b == 0xED ? 0x9F : 0xBF;
      if (left < 3 || p[1] < lo || p[1] > hi || (p[2] & 0xC0) != 0x80) return false;
      p += 3;
      continue;
    }
    // F0 needs 90..BF (no overlongs); F4 needs 80..8F (at most U+10FFFF).
    if (b > 0xF4 || left < 4) return false;
    const std::uint8_t lo = b == 0xF0 ? 0x90 : 0x80, hi = b == 0xF4 ? 0x8F : 0xBF;
    if (p[1] < lo || p[1] > hi || (p[2] & 0xC0) != 0x80 || (p[3] & 0xC0) != 0x80) return false;
    p += 4;
  }
  return true;
}

#if CLOSEWISE_UTF8_AVX2
// Vector validation after Keiser and Lemire, "Validating UTF-8 In Less Than One
// Instruction Per Byte" (2021): three 16-entry nibble lookups classify every
// pair (previous byte, byte) into error kinds; the only legal pair that looks
// like an error, continuation after continuation, is cancelled by the 3rd/4th
// byte positions implied by the leads two and three bytes back.
// clang-format off
namespace lookup {
constexpr std::uint8_t too_short = 1 << 0;   // lead then non-continuation
constexpr std::uint8_t too_long = 1 << 1;    // ASCII then continuation
constexpr std::uint8_t overlong_3 = 1 << 2;  // E0 80..9F
constexpr std::uint8_t too_large = 1 << 3;   // F4 90..BF, F5..FF then continuation
constexpr std::uint8_t surrogate = 1 << 4;   // ED A0..BF
constexpr std::uint8_t overlong_2 = 1 << 5;  // C0, C1 then continuation
constexpr std::uint8_t too_large_1000 = 1 << 6;  // F5..FF 80..8F
constexpr std::uint8_t overlong_4 = 1 << 6;      // F0 80..8F
constexpr std::uint8_t two_conts = 1 << 7;       // continuation then continuation
constexpr std::uint8_t carry = too_short | too_long | two_conts;

// The error kinds each nibble can take part in: previous byte's high and low
// nibble, and this byte's high nibble. A pair is wrong when all three agree.
constexpr std::uint8_t first_high[16] = {
    too_long, too_long, too_long, too_long, too_long, too_long, too_long, too_long,
    two_conts, two_conts, two_conts, two_conts,
    too_short | overlong_2,
    too_short,
    too_short | overlong_3 | surrogate,
    too_short | too_large | too_large_1000 | overlong_4};
constexpr std::uint8_t first_low[16] = {
    carry | overlong_3 | overlong_2 | overlong_4,
    carry | overlong_2,
    carry, carry,
    carry | too_large,
    carry | too_large | too_large_1000, carry | too_large | too_large_1000,
    carry | too_large | too_large_1000, carry | too_large | too_large_1000,
    carry | too_large | too_large_1000, carry | too_large | too_large_1000,
    carry | too_large | too_large_1000, carry | too_large | too_large_1000,
    carry | too_large | too_large_1000 | surrogate,
    carry | too_large | too_large_1000, carry | too_large | too_large_1000};
constexpr std::uint8_t second_high[16] = {
    too_short, too_short, too_short, too_short, too_short, too_short, too_short, too_short,
    too_long | overlong_2 | two_conts | overlong_3 | too_large_1000 | overlong_4,
    too_long | overlong_2 | two_conts | overlong_3 | too_large,
    too_long | overlong_2 | two_conts | surrogate | too_large,
    too_long | overlong_2 | two_conts | surrogate | too_large,
    too_short, too_short, too_short, too_short};
// Positions 29, 30, 31 of a block must not hold a lead that needs more bytes.
constexpr std::uint8_t last_max[32] = {
    0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF,
    0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xEF, 0xDF, 0xBF};
}  // namespace lookup
// clang-format on
using lookup::first_high;
using lookup::first_low;
using lookup::last_max;
using lookup::second_high;

__attribute__((target("avx2"))) inline __m256i table16(const std::uint8_t (&t)[16]) noexcept {
  const __m128i v = _mm_loadu_si128(reinterpret_cast<const __m128i*>(t));
  return _mm256_broadcastsi128_si256(v);
}

// Copies 1..31 bytes with two overlapping fixed-size moves instead of a libc call.
inline void copy_short(std::uint8_t* dst, const std::uint8_t* src, std::size_t n) noexcept {
  if (n >= 16) {
    std::memcpy(dst, src, 16);
    std::memcpy(dst + n - 16, src + n - 16, 16);
  } else if (n >= 8) {
    std::memcpy(dst, src, 8);
    std::memcpy(dst + n - 8, src + n - 8, 8);
  } else if (n >= 4) {
    std::memcpy(dst, src, 4);
    std::memcpy(dst + n - 4, src + n - 4, 4);
  } else {
    for (std::size_t i = 0; i < n; ++i) dst[i] = src[i];
  }
}

template <int N>
__attribute__((target("avx2"))) inline __m256i prev_bytes(__m256i in, __m256i prev) noexcept {
  // Byte i of the result is byte i-N of the stream (across the lane and block boundary).
  return _mm256_alignr_epi8(in, _mm256_permute2x128_si256(prev, in, 0x21), 16 - N);
}

struct block_checker {
  __m256i first_high, first_low, second_high, last_max;
  __m256i prev, err, prev_incomplete;

  __attribute__((target("avx2"))) void check(__m256i in) noexcept {
    if (_mm256_movemask_epi8(in) == 0) {
      // All ASCII: only a sequence left open by the previous block can be wrong.
      err = _mm256_or_si256(err, prev_incomplete);
    } else {
      const __m256i nibble = _mm256_set1_epi8(0x0F);
      const __m256i prev1 = prev_bytes<1>(in, prev);
      const __m256i a =
          _mm256_shuffle_epi8(first_high, _mm256_and_si256(_mm256_srli_epi16(prev1, 4), nibble));
      const __m256i b = _mm256_shuffle_epi8(first_low, _mm256_and_si256(prev1, nibble));
      const __m256i c =
          _mm256_shuffle_epi8(second_high, _mm256_and_si256(_mm256_srli_epi16(in, 4), nibble));
      const __m256i special = _mm256_and_si256(_mm256_and_si256(a, b), c);
      // Bytes two after an E0..FF lead or three after an F0..FF lead must be continuations.
      const __m256i third = _mm256_subs_epu8(prev_bytes<2>(in, prev), _mm256_set1_epi8(0x60));
      const __m256i fourth = _mm256_subs_epu8(prev_bytes<3>(in, prev), _mm256_set1_epi8(0x70));
      const __m256i must_continue = _mm256_and_si256(_mm256_or_si256(third, fourth),
                                                     _mm256_set1_epi8(static_cast<char>(0x80)));
      err = _mm256_or_si256(err, _mm256_xor_si256(must_continue, special));
      prev_incomplete = _mm256_subs_epu8(in, last_max);
    }
    prev = in;
  }
};

// One 16-byte vector for inputs of at most 16 bytes: the stream before it is
// empty, so the previous bytes are plain shifts with zeros (ASCII) shifted in.
__attribute__((target("avx2"))) bool valid_avx2_small(const std::uint8_t* p,
                                                      std::size_t n) noexcept {
  alignas(16) std::uint8_t buf[16] = {};
  copy_short(buf, p, n);
  const __m128i in = _mm_load_si128(reinterpret_cast<const __m128i*>(buf));
  if (_mm_movemask_epi8(in) == 0) return true;
  const __m128i nibble = _mm_set1_epi8(0x0F);
  const __m128i prev1 = _mm_slli_si128(in, 1);
  const __m128i a = _mm_shuffle_epi8(_mm_loadu_si128(reinterpret_cast<const __m128i*>(first_high)),
                                     _mm_and_si128(_mm_srli_epi16(prev1, 4), nibble));
  const __m128i b = _mm_shuffle_epi8(_mm_loadu_si128(reinterpret_cast<const __m128i*>(first_low)),
                                     _mm_and_si128(prev1, nibble));
  const __m128i c = _mm_shuffle_epi8(_mm_loadu_si128(reinterpret_cast<const __m128i*>(second_high)),
                                     _mm_and_si128(_mm_srli_epi16(in, 4), nibble));
  const __m128i special = _mm_and_si128(_mm_and_si128(a, b), c);
  const __m128i third = _mm_subs_epu8(_mm_slli_si128(in, 2), _mm_set1_epi8(0x60));
  const __m128i fourth = _mm_subs_epu8(_mm_slli_si128(in, 3), _mm_set1_epi8(0x70));
  const __m128i must_continue =
      _mm_and_si128(_mm_or_si128(third, fourth), _mm_set1_epi8(static_cast<char>(0x80)));
  __m128i err = _mm_xor_si128(must_continue, special);
  // With 16 real bytes there is no zero padding to expose a sequence cut at the end.
  if (n == 16)
    err = _mm_or_si128(
        err, _mm_subs_epu8(in, _mm_loadu_si128(reinterpret_cast<const __m128i*>(last_max + 16))));
  return _mm_testz_si128(err, err) != 0;
}

__attribute__((target("avx2"))) bool valid_avx2(const std::uint8_t* p, std::size_t n) noexcept {
  if (n <= 16) return valid_avx2_small(p, n);
  // clang-format off
  block_checker k{table16(first_high), table16(first_low), table16(second_high),
                  _mm256_loadu_si256(reinterpret_cast<const __m256i*>(last_max)),
                  _mm256_setzero_si256(), _mm256_setzero_si256(), _mm256_setzero_si256()};
  // clang-format on
  std::size_t i = 0;
  for (; i + 64 <= n; i += 64) {
    const __m256i a = _mm256_loadu_si256(reinterpret_cast<const __m256i*>(p + i));
    const __m256i b = _mm256_loadu_si256(reinterpret_cast<const __m256i*>(p + i + 32));
    if (_mm256_movemask_epi8(_mm256_or_si256(a, b)) == 0) {
      // 64 ASCII bytes: one test, plus whatever the last block left open.
      k.err = _mm256_or_si256(k.err, k.prev_incomplete);
      k.prev_incomplete = _mm256_setzero_si256();
      k.prev = b;
      continue;
    }
    k.check(a);
    k.check(b);
  }
  for (; i + 32 <= n; i += 32) k.check(_mm256_loadu_si256(reinterpret_cast<const __m256i*>(p + i)));
  if (i < n) {
    // The zero padding is ASCII, so a sequence cut by the end shows up as too short.
    alignas(32) std::uint8_t last[32] = {};
    copy_short(last, p + i, n - i);
    k.check(_mm256_load_si256(reinterpret_cast<const __m256i*>(last)));
  } else {
    k.err = _mm256_or_si256(k.err, k.prev_incomplete);
  }
  return _mm256_testz_si256(k.err, k.err) != 0;
}

// Read once at start-up, so the hot path tests a plain bool.
const bool cpu_has_avx2 = (__builtin_cpu_init(), __builtin_cpu_supports("avx2") != 0);
inline bool have_avx2() noexcept { return cpu_has_avx2; }
#endif

// Whole code points from a boundary: the vector path when the CPU has it.
inline bool valid_complete(const std::uint8_t* p, std::size_t n) noexcept {
#if CLOSEWISE_UTF8_AVX2
  // Below a few bytes the vector set-up costs more than decoding the code points.
  if (n >= 8 && have_avx2()) return valid_avx2(p, n);
#endif
  return valid_scalar(p, n);
}

}  // namespace

bool detail::utf8_valid_scalar(const std::uint8_t* p, std::size_t n) noexcept {
  return valid_scalar(p, n);
}

bool detail::utf8_valid_simd(const std::uint8_t* p, std::size_t n) noexcept {
#if CLOSEWISE_UTF8_AVX2
  if (have_avx2()) return valid_avx2(p, n);
#endif
  return utf8_valid_scalar(p, n);
}

bool detail::utf8_simd_available() noexcept {
#if CLOSEWISE_UTF8_AVX2
  return have_avx2();
#else
  return false;
#endif
}

bool utf8_validator::feed(const std::uint8_t* p, std::size_t n) noexcept {
  std::uint8_t s = state_;
  if (s == s_reject) return false;
  const std::uint8_t* const end = p + n;
  // Finish a sequence left open by the previous piece, byte by byte.
  while (s != s_accept && p != end) {
    s = transitions[s][classes[*p++]];
    if (s == s_reject) {
      state_ = s_reject;
      return false;
    }
  }
  // Short leading ASCII costs one test per 16 bytes, with no vector set-up;
  // long input goes to the vector path, which has its own ASCII fast path.
  const std::uint8_t* const ascii_end = end - p >= 128 ? p + 64 : end;
  while (ascii_end - p >= 16) {
    std::uint64_t a, b;
    std::memcpy(&a, p, 8);
    std::memcpy(&b, p + 8, 8);
    if (((a | b) & 0x8080808080808080ull) != 0) break;
    p += 16;
  }
  if (p != end) {
    // Whole code points in bulk, then the DFA on an unfinished tail (at most 3
    // bytes), so an impossible sequence fails at once, not at the end.
    const std::uint8_t* const q = last_boundary(p, end);
    if (!valid_complete(p, static_cast<std::size_t>(q - p))) {
      state_ = s_reject;
      return false;
    }
    s = run_dfa(s_accept, q, end);
    if (s == s_reject) {
      state_ = s_reject;
      return false;
    }
  }
  state_ = s;
  return true;
}

bool is_valid_utf8(std::string_view s) noexcept {
  utf8_validator v;
  return v.feed(s) && v.finish();
}

}  // namespace closewise

#include "closewise/proto/frame.hpp"

#include <cstring>

#include "closewise/error.hpp"
#include "closewise/utf8.hpp"

#if defined(__x86_64__) || defined(__i386__)
#include <immintrin.h>
#define CLOSEWISE_X86 1
#else
#define CLOSEWISE_X86 0
#endif

namespace closewise::proto {
namespace {

using detail::advance_mask_key;

inline void mask_bytes(std::uint8_t* p, std::size_t n, std::uint32_t key) noexcept {
  std::uint8_t k[4];
  std::memcpy(k, &key, 4);
  for (std::size_t i = 0; i < n; ++i) p[i] ^= k[i & 3];
}

// Up to 15 bytes with word-sized steps; the key phase only moves on the last < 4 bytes.
inline void mask_tail(std::uint8_t* p, std::size_t n, std::uint32_t key) noexcept {
  if (n >= 8) {
    const std::uint64_t k64 = (std::uint64_t{key} << 32) | key;
    std::uint64_t v;
    std::memcpy(&v, p, 8);
    v ^= k64;
    std::memcpy(p, &v, 8);
    p += 8;
    n -= 8;
  }
  if (n >= 4) {
    std::uint32_t v;
    std::memcpy(&v, p, 4);
    v ^= key;
    std::memcpy(p, &v, 4);
    p += 4;
    n -= 4;
  }
  mask_bytes(p, n, key);
}

#if CLOSEWISE_X86
__attribute__((target("avx2"))) void mask_avx2(std::uint8_t* p, std::size_t n,
                                               std::uint32_t key) noexcept {
  // Unaligned forms: as fast as aligned ones on aligned data, and safe on any.
  const __m256i k = _mm256_set1_epi32(static_cast<int>(key));
  std::size_t i = 0;
  for (; i + 64 <= n; i += 64) {
    auto* a = reinterpret_cast<__m256i*>(p + i);
    _mm256_storeu_si256(a, _mm256_xor_si256(_mm256_loadu_si256(a), k));
    _mm256_storeu_si256(a + 1, _mm256_xor_si256(_mm256_loadu_si256(a + 1), k));
  }
  for (; i + 32 <= n; i += 32) {
    auto* a = reinterpret_cast<__m256i*>(p + i);
    _mm256_storeu_si256(a, _mm256_xor_si256(_mm256_loadu_si256(a), k));
  }
  for (; i + 16 <= n; i += 16) {
    auto* a = reinterpret_cast<__m128i*>(p + i);
    _mm_storeu_si128(a, _mm_xor_si128(_mm_loadu_si128(a), _mm256_castsi256_si128(k)));
  }
  mask_tail(p + i, n - i, key);
}

// Read once at start-up, so the hot path tests a plain bool.
const bool cpu_has_avx2 = (__builtin_cpu_init(), __builtin_cpu_supports("avx2") != 0);
inline bool have_avx2() noexcept { return cpu_has_avx2; }
#endif

}  // namespace

std::size_t encode_header(const frame_header& h, std::uint8_t* out) noexcept {
  // RFC 6455 §5.2: FIN, RSV1-3 and the opcode share the first byte.
  out[0] =
      static_cast<std::uint8_t>((h.fin ? 0x80 : 0) | (h.rsv1 ? 0x40 : 0) | (h.rsv2 ? 0x20 : 0) |
                                (h.rsv3 ? 0x10 : 0) | (static_cast<std::uint8_t>(h.op) & 0x0F));
  const std::uint8_t mask_bit = h.masked ? 0x80 : 0;
  std::size_t n = 2;
  // RFC 6455 §5.2: "the minimal number of bytes MUST be used to encode the length".
  if (h.length < 126) {
    out[1] = static_cast<std::uint8_t>(mask_bit | h.length);
  } else if (h.length <= 0xFFFF) {
    out[1] = mask_bit | 126;
    out[2] = static_cast<std::uint8_t>(h.length >> 8);
    out[3] = static_cast<std::uint8_t>(h.length);
    n = 4;
  } else {
    out[1] = mask_bit | 127;
    for (int i = 0; i < 8; ++i) out[2 + i] = static_cast<std::uint8_t>(h.length >> (56 - 8 * i));
    n = 10;
  }
  if (h.masked) {
    std::memcpy(out + n, &h.mask_key, 4);
    n += 4;
  }
  return n;
}

std::size_t decode_header(const std::uint8_t* p, std::size_t size, frame_header& out,
                          std::error_code& ec) noexcept {
  ec.clear();
  if (size < 2) return 0;
  const std::size_t need = header_size(p[0], p[1]);
  if (size < need) return 0;
  frame_header h;
  h.fin = (p[0] & 0x80) != 0;
  h.rsv1 = (p[0] & 0x40) != 0;
  h.rsv2 = (p[0] & 0x20) != 0;
  h.rsv3 = (p[0] & 0x10) != 0;
  h.op = static_cast<opcode>(p[0] & 0x0F);
  h.masked = (p[1] & 0x80) != 0;
  const std::uint8_t len7 = p[1] & 0x7F;
  std::size_t at = 2;
  if (len7 == 126) {
    h.length = (std::uint64_t{p[2]} << 8) | p[3];
    at = 4;
    // RFC 6455 §5.2: the minimal number of bytes MUST be used to encode the length.
    if (h.length < 126) {
      ec = error::bad_length;
      return 0;
    }
  } else if (len7 == 127) {
    std::uint64_t v = 0;
    for (int i = 0; i < 8; ++i) v = (v << 8) | p[2 + i];
    at = 10;
    // RFC 6455 §5.2: "the most significant bit MUST be 0" in the 64-bit form.
    if ((v >> 63) != 0 || v <= 0xFFFF) {
      ec = error::bad_length;
      return 0;
    }
    h.length = v;
  } else {
    h.length = len7;
  }
  if (h.masked) {
    std::memcpy(&h.mask_key, p + at, 4);
    at += 4;
  }
  out = h;
  return at;
}

void detail::apply_mask_wide(std::uint8_t* p, std::size_t n, std::uint32_t key) noexcept {
#if CLOSEWISE_X86
  if (n >= 128) {
    if (n >= 2048) {
      // Align large buffers to 32 bytes so the wide loop never splits a cache line;
      // the head takes word-sized steps, then the key moves on by its length.
      const std::size_t head = (32 - (reinterpret_cast<std::uintptr_t>(p) & 31)) & 31;
      if (head >= 16) {
        const __m128i k = _mm_set1_epi32(static_cast<int>(key));
        _mm_storeu_si128(reinterpret_cast<__m128i*>(p),
                         _mm_xor_si128(_mm_loadu_si128(reinterpret_cast<const __m128i*>(p)), k));
      }
      mask_tail(p + (head & 16), head & 15, key);
      key = advance_mask_key(key, head);
      p += head;
      n -= head;
    }
    if (have_avx2()) {
      mask_avx2(p, n, key);
      return;
    }
  }
  // SSE2 is part of x86-64, so this path needs no dispatch.
  const __m128i k = _mm_set1_epi32(static_cast<int>(key));
  while (n >= 32) {
    __m128i a = _mm_loadu_si128(reinterpret_cast<const __m128i*>(p));
    __m128i b = _mm_loadu_si128(reinterpret_cast<const __m128i*>(p + 16));
    _mm_storeu_si128(reinterpret_cast<__m128i*>(p), _mm_xor_si128(a, k));
    _mm_storeu_si128(reinterpret_cast<__m128i*>(p + 16), _mm_xor_si128(b, k));
    p += 32;
    n -= 32;
  }
  if (n >= 16) {
    __m128i a = _mm_loadu_si128(reinterpret_cast<const __m128i*>(p));
    _mm_storeu_si128(reinterpret_cast<__m128i*>(p), _mm_xor_si128(a, k));
    p += 16;
    n -= 16;
  }
#else
  const std::uint64_t k64 = (std::uint64_t{key} << 32) | key;
  while (n >= 16) {
    std::uint64_t a, b;
    std::memcpy(&a, p, 8);
    std::memcpy(&b, p + 8, 8);
    a ^= k64;
    b ^= k64;
    std::memcpy(p, &a, 8);
    std::memcpy(p + 8, &b, 8);
    p += 16;
    n -= 16;
  }
#endif
  mask_tail(p, n, key);
}

std::string make_close_payload(close_code code, std::string_view reason) {
  std::string out;
  // RFC 6455 §5.5.1: an empty body means "no status code" (reported as 1005).
  if (code == close_code::no_status) return out;
  out.reserve(2 + reason.size());
  const auto v = to_int(code);
  out.push_back(static_cast<char>(v >> 8));
  out.push_back(static_cast<char>(v & 0xFF));
  out.append(reason);
  return out;
}

std::error_code parse_close_payload(std::string_view payload, close_payload& out) noexcept {
  if (payload.empty()) {
    out = close_payload{};
    return {};
  }
  // RFC 6455 §5.5.1: if there is a body, "the first two bytes of the body MUST be
  // a 2-byte unsigned integer"; §5.5: control payloads are at most 125 bytes.
  if (payload.size() == 1 || payload.size() > max_control_payload) return error::bad_close_payload;
  const auto hi = static_cast<std::uint8_t>(payload[0]);
  const auto lo = static_cast<std::uint8_t>(payload[1]);
  const auto code = static_cast<close_code>((hi << 8) | lo);
  // RFC 6455 §7.4.1/§7.4.2: 1005, 1006, 1015 and unassigned ranges never go on the wire.
  if (!is_valid_on_wire(code)) return error::bad_close_code;
  const std::string_view reason = payload.substr(2);
  // RFC 6455 §5.5.1: the reason "is not guaranteed to be human readable" but MUST be UTF-8.
  if (!is_valid_utf8(reason)) return error::invalid_utf8;
  out.code = code;
  out.reason = reason;
  return {};
}

}  // namespace closewise::proto

#include "closewise/resume/session_id.hpp"

#include <openssl/rand.h>

#include <random>

namespace closewise::resume {

session_id session_id::generate() {
  bytes_type b{};
  do {
    // RFC 4086: ids are guessable only by chance, so they come from the CSPRNG.
    if (RAND_bytes(b.data(), static_cast<int>(b.size())) != 1) {
      std::random_device rd;  // only if the CSPRNG is unavailable
      for (auto& x : b) x = static_cast<std::uint8_t>(rd());
    }
  } while (session_id(b).is_zero());
  return session_id(b);
}

std::optional<session_id> session_id::parse(std::string_view hex) noexcept {
  if (hex.size() != 2 * size) return std::nullopt;
  bytes_type b{};
  for (std::size_t i = 0; i < hex.size(); ++i) {
    const char c = hex[i];
    int v;
    if (c >= '0' && c <= '9')
      v = c - '0';
    else if (c >= 'a' && c <= 'f')
      v = c - 'a' + 10;
    else
      return std::nullopt;
    b[i / 2] = static_cast<std::uint8_t>((b[i / 2] << 4) | v);
  }
  return session_id(b);
}

std::string session_id::to_string() const {
  static constexpr char digits[] = "0123456789abcdef";
  std::string s(2 * size, '0');
  for (std::size_t i = 0; i < size; ++i) {
    s[2 * i] = digits[bytes_[i] >> 4];
    s[2 * i + 1] = digits[bytes_[i] & 0xF];
  }
  return s;
}

}  // namespace closewise::resume

// closewise::resume: the 128-bit name of a session (docs/resume.md §2.2, §9).
#pragma once

#include <array>
#include <compare>
#include <cstddef>
#include <cstdint>
#include <functional>
#include <optional>
#include <string>
#include <string_view>

namespace closewise::resume {

/// A session id: 16 random bytes, written as 32 lowercase hex digits.
///
/// It is a bearer capability (whoever presents it receives the replay), so ids
/// come from OpenSSL's CSPRNG (RFC 4086) and travel only in the handshake.
class session_id {
 public:
  static constexpr std::size_t size = 16;
  using bytes_type = std::array<std::uint8_t, size>;

  /// The all-zero id; `generate()` never returns it.
  session_id() = default;
  explicit session_id(const bytes_type& b) noexcept : bytes_(b) {}

  /// A fresh id from RAND_bytes (std::random_device only if the CSPRNG fails).
  static session_id generate();
  /// Exactly 32 lowercase hex digits; nullopt otherwise (uppercase included,
  /// so one session has one spelling, in keys and in logs).
  static std::optional<session_id> parse(std::string_view hex) noexcept;

  std::string to_string() const;
  const bytes_type& bytes() const noexcept { return bytes_; }
  bool is_zero() const noexcept { return *this == session_id{}; }

  friend auto operator<=>(const session_id&, const session_id&) = default;

 private:
  bytes_type bytes_{};
};

/// For unordered containers: the id is already uniformly random.
struct session_id_hash {
  std::size_t operator()(const session_id& id) const noexcept {
    std::size_t h = 0;
    for (std::size_t i = 0; i < sizeof h; ++i) h = (h << 8) | id.bytes()[i];
    return h;
  }
};

}  // namespace closewise::resume

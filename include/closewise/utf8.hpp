// closewise: incremental UTF-8 validation (RFC 3629, as RFC 6455 §8.1 requires).
//
// It lives in the vocabulary layer because close reasons need it as much as
// text messages do; the protocol core uses the same validator.
#pragma once

#include <cstddef>
#include <cstdint>
#include <string_view>

namespace closewise {

/// An incremental UTF-8 validator.
///
/// Feed bytes in pieces of any size. `feed` returns false as soon as the input
/// can no longer become valid UTF-8 (an overlong form, a surrogate, a code
/// point over U+10FFFF, a stray continuation byte), not only at the end.
/// `finish` tells whether the input seen so far ends on a code point boundary.
class utf8_validator {
 public:
  /// Validates the next piece; false once the input is definitely invalid.
  [[nodiscard]] bool feed(const std::uint8_t* data, std::size_t size) noexcept;
  bool feed(std::string_view s) noexcept {
    return feed(reinterpret_cast<const std::uint8_t*>(s.data()), s.size());
  }
  /// True when everything fed so far was valid and no sequence is left open.
  [[nodiscard]] bool finish() const noexcept { return state_ == accept; }
  /// True while nothing invalid has been seen (a sequence may still be open).
  bool ok() const noexcept { return state_ != reject; }
  void reset() noexcept { state_ = accept; }

 private:
  static constexpr std::uint8_t accept = 0;
  static constexpr std::uint8_t reject = 1;
  std::uint8_t state_ = accept;
};

/// True when `s` is complete, valid UTF-8.
[[nodiscard]] bool is_valid_utf8(std::string_view s) noexcept;

}  // namespace closewise

// closewise::policy: loading and saving a policy as JSON.
//
// The schema is documented in docs/reconnect.md. Loading is strict: an
// unknown field or a bad value is an error that names the field by its path,
// e.g. `policy.codes["4000-4099"].action: expected one of stop|retry|...`.
#pragma once

#include <filesystem>
#include <optional>
#include <string>
#include <string_view>
#include <system_error>

#include "closewise/policy/policy.hpp"

namespace closewise::policy {

/// Why a policy could not be loaded.
enum class json_error {
  unreadable = 1,  ///< the file could not be opened or read
  syntax,          ///< the text is not JSON
  schema,          ///< valid JSON that does not follow the policy schema
};

/// The category of `json_error` ("closewise.policy.json").
const std::error_category& json_error_category() noexcept;
/// Makes `json_error` usable as a `std::error_code`.
inline std::error_code make_error_code(json_error e) noexcept {
  return {static_cast<int>(e), json_error_category()};
}

/// A loaded policy, or an error code with a message that names the field.
struct load_result {
  std::optional<config> policy;  ///< set on success
  std::error_code error;         ///< set on failure
  std::string message;           ///< on failure: what is wrong and where

  explicit operator bool() const noexcept { return policy.has_value(); }
};

/// Parses a policy from JSON text (see docs/reconnect.md for the schema).
[[nodiscard]] load_result parse_policy(std::string_view json_text);

/// Reads and parses a policy file.
[[nodiscard]] load_result load_policy_file(const std::filesystem::path& path);

/// The policy as JSON text that `parse_policy` reads back to an equal config.
/// Two overrides of the very same range are written once, with the later
/// rule (the one that applies). `indent` < 0 gives one line.
std::string to_json(const config& cfg, int indent = 2);

}  // namespace closewise::policy

template <>
struct std::is_error_code_enum<closewise::policy::json_error> : std::true_type {};

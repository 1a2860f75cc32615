#include "closewise/metrics/observer.hpp"

namespace closewise::metrics {

// The key function: the vtable is emitted here, once.
observer::~observer() = default;

std::string_view to_string(role r) noexcept { return r == role::client ? "client" : "server"; }

std::string_view to_string(shed_action a) noexcept {
  return a == shed_action::http_503 ? "http_503" : "close_1013";
}

}  // namespace closewise::metrics

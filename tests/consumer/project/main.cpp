// A program outside the closewise tree: proves the exported target works.
#include <closewise/close_code.hpp>
#include <closewise/close_event.hpp>
#include <closewise/error.hpp>

#include <cstdio>

int main() {
  static_assert(closewise::is_valid_on_wire(closewise::close_code::bad_gateway));
  const auto ec = closewise::validate_app_close(closewise::close_code::service_restart, "");
  if (ec != closewise::condition::api_misuse) return 1;
  std::printf("%s\n", std::string(closewise::name(closewise::close_code::bad_gateway)).c_str());
  return 0;
}

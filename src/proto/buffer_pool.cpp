#include "closewise/proto/buffer_pool.hpp"

#include <new>
#include <utility>
#include <vector>

namespace closewise::proto {
namespace {

struct pool_state {
  std::vector<std::string> strings;
  std::size_t bytes = 0;  ///< the sum of the strings' capacities
};
thread_local pool_state pool;

/// What a default std::string holds without an allocation (its SSO buffer).
const std::size_t inline_capacity = std::string().capacity();

/// Strings from the newest down that take() looks at: the pool is LIFO, so a
/// fitting string is near the top or there is none worth the walk.
constexpr std::size_t take_scan = 4;

}  // namespace

std::string buffer_pool::take(std::size_t min_capacity) {
  auto& v = pool.strings;
  const std::size_t stop = v.size() > take_scan ? v.size() - take_scan : 0;
  for (std::size_t i = v.size(); i-- > stop;) {
    if (v[i].capacity() < min_capacity) continue;
    std::string s = std::move(v[i]);
    v.erase(v.begin() + static_cast<std::ptrdiff_t>(i));
    pool.bytes -= s.capacity();
    return s;
  }
  return {};
}

std::string buffer_pool::take_any() noexcept {
  auto& v = pool.strings;
  if (v.empty()) return {};
  std::string s = std::move(v.back());
  v.pop_back();
  pool.bytes -= s.capacity();
  return s;
}

void buffer_pool::give(std::string&& s) noexcept {
  const std::size_t cap = s.capacity();
  if (cap <= inline_capacity || pool.strings.size() == max_strings || pool.bytes + cap > max_bytes)
    return;  // `s` keeps it; the caller's string frees it
  try {
    pool.strings.push_back(std::move(s));
    pool.bytes += cap;
  } catch (const std::bad_alloc&) {  // a spare is an optimisation only
  }
}

std::size_t buffer_pool::size() noexcept { return pool.strings.size(); }
std::size_t buffer_pool::bytes() noexcept { return pool.bytes; }

}  // namespace closewise::proto

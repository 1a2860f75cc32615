#include "family.hpp"

#include <mutex>

namespace closewise::metrics::detail {

family::family(std::string name, std::string type, std::string help,
               std::vector<std::string> labels)
    : name_(std::move(name)),
      type_(std::move(type)),
      help_(std::move(help)),
      labels_(std::move(labels)) {
  if (labels_.empty()) cells_.emplace(key{}, std::make_unique<std::atomic<std::int64_t>>(0));
}

std::atomic<std::int64_t>& family::cell(std::initializer_list<std::string_view> values) {
  key k(values.begin(), values.end());
  {
    std::shared_lock lock(mu_);
    if (auto it = cells_.find(k); it != cells_.end()) return *it->second;
  }
  std::unique_lock lock(mu_);
  auto& slot = cells_[std::move(k)];
  if (!slot) slot = std::make_unique<std::atomic<std::int64_t>>(0);
  return *slot;
}

void family::add(std::initializer_list<std::string_view> values, std::int64_t n) {
  // Cells are never erased, so the reference outlives the lock.
  cell(values).fetch_add(n, std::memory_order_relaxed);
}

void family::render(text_writer& w) const {
  w.family(name_, type_, help_);
  std::shared_lock lock(mu_);
  std::vector<label> ls(labels_.size());
  for (const auto& [values, c] : cells_) {
    for (std::size_t i = 0; i < labels_.size(); ++i) ls[i] = {labels_[i], values[i]};
    w.sample(name_, ls.data(), ls.size(), std::to_string(c->load(std::memory_order_relaxed)));
  }
}

histogram::histogram(std::string name, std::string help, std::vector<double> bounds)
    : name_(std::move(name)),
      help_(std::move(help)),
      bounds_(std::move(bounds)),
      counts_(std::make_unique<std::atomic<std::uint64_t>[]>(bounds_.size() + 1)) {}

void histogram::observe(double v) {
  std::size_t i = 0;
  while (i < bounds_.size() && v > bounds_[i]) ++i;
  counts_[i].fetch_add(1, std::memory_order_relaxed);
  sum_.fetch_add(v, std::memory_order_relaxed);
}

void histogram::render(text_writer& w) const {
  w.family(name_, "histogram", help_);
  const std::string bucket = name_ + "_bucket";
  std::uint64_t cumulative = 0;
  // Read each bucket once: a concurrent observe() may land after the scan,
  // but the buckets stay cumulative and _count equals the +Inf bucket.
  for (std::size_t i = 0; i <= bounds_.size(); ++i) {
    cumulative += counts_[i].load(std::memory_order_relaxed);
    const std::string le = i < bounds_.size() ? format_value(bounds_[i]) : "+Inf";
    const label l{"le", le};
    w.sample(bucket, &l, 1, std::to_string(cumulative));
  }
  w.sample(name_ + "_sum", {}, sum_.load(std::memory_order_relaxed));
  w.sample(name_ + "_count", {}, static_cast<std::int64_t>(cumulative));
}

}  // namespace closewise::metrics::detail

// closewise::metrics (private): a labelled family of integer samples and a histogram.
#pragma once

#include <atomic>
#include <cstdint>
#include <initializer_list>
#include <map>
#include <memory>
#include <shared_mutex>
#include <string>
#include <string_view>
#include <vector>

#include "closewise/metrics/exposition.hpp"

namespace closewise::metrics::detail {

/// A counter or gauge family: one atomic cell per combination of label values.
class family {
 public:
  family(std::string name, std::string type, std::string help, std::vector<std::string> labels);

  /// Adds `n` to the cell of `values` (one per label name, in order).
  void add(std::initializer_list<std::string_view> values, std::int64_t n = 1);
  /// Writes the family; a family without labels always has its one sample.
  void render(text_writer& w) const;

 private:
  using key = std::vector<std::string>;
  std::atomic<std::int64_t>& cell(std::initializer_list<std::string_view> values);

  std::string name_, type_, help_;
  std::vector<std::string> labels_;
  mutable std::shared_mutex mu_;
  std::map<key, std::unique_ptr<std::atomic<std::int64_t>>> cells_;
};

/// A histogram without labels: cumulative `_bucket{le=...}`, `_sum`, `_count`.
class histogram {
 public:
  histogram(std::string name, std::string help, std::vector<double> bounds);

  void observe(double v);
  void render(text_writer& w) const;

 private:
  std::string name_, help_;
  std::vector<double> bounds_;
  /// counts_[i]: observations <= bounds_[i] and > bounds_[i-1]; the last one is +Inf.
  std::unique_ptr<std::atomic<std::uint64_t>[]> counts_;
  std::atomic<double> sum_{0.0};
};

}  // namespace closewise::metrics::detail

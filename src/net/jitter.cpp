#include "jitter.hpp"

#include <random>

namespace closewise::net::detail {

double jitter_uniform() {
  thread_local std::minstd_rand gen{std::random_device{}()};
  return std::uniform_real_distribution<double>(0.0, 1.0)(gen);
}

}  // namespace closewise::net::detail

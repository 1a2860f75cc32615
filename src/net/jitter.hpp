// closewise::net (private): uniform draws for jitter.
#pragma once

namespace closewise::net::detail {

/// A uniform draw in [0, 1) for jitter (a heartbeat's first ping, a shutdown's
/// close spread). Not for security: a per-thread PRNG seeded once from
/// std::random_device, so concurrent draws never contend.
[[nodiscard]] double jitter_uniform();

}  // namespace closewise::net::detail

// Integer and real draws from a Generator for shuffles and augmentation choices.
#pragma once

#include <cstdint>

#include "core/random.h"

namespace lnx::data {

// Uniform in [0, n) by the multiply-high method: unbiased to 2^-64, no division.
inline uint64_t uniform_below(Generator& g, uint64_t n) {
  return static_cast<uint64_t>((static_cast<unsigned __int128>(g.next_u64()) * n) >> 64);
}

// Uniform integer in [lo, hi], both included.
inline int64_t uniform_int(Generator& g, int64_t lo, int64_t hi) {
  return lo + static_cast<int64_t>(uniform_below(g, static_cast<uint64_t>(hi - lo + 1)));
}

inline double uniform_real(Generator& g, double lo, double hi) {
  return lo + (hi - lo) * g.next_double();
}

}  // namespace lnx::data

// Reproducible random numbers. A Generator is a (seed, offset) pair: element i of a draw is a
// pure function of (seed, offset + i), so a draw gives the same numbers whatever the thread
// count or device, and the state is two integers that a checkpoint can store.
#pragma once

#include <cmath>
#include <cstdint>

#ifdef __CUDACC__
#define LNX_HOST_DEVICE __host__ __device__
#else
#define LNX_HOST_DEVICE
#endif

namespace lnx {

class Generator {
 public:
  explicit Generator(uint64_t seed = 0) : seed_(seed) {}
  void manual_seed(uint64_t seed) {
    seed_ = seed;
    offset_ = 0;
  }
  uint64_t seed() const { return seed_; }
  uint64_t offset() const { return offset_; }
  void set_state(uint64_t seed, uint64_t offset) {
    seed_ = seed;
    offset_ = offset;
  }
  // Reserves n counters and returns the first.
  uint64_t advance(uint64_t n) {
    const uint64_t first = offset_;
    offset_ += n;
    return first;
  }
  // A host-side scalar draw in [0, 1), for shuffles and augmentation choices.
  double next_double();
  uint64_t next_u64();

 private:
  uint64_t seed_ = 0;
  uint64_t offset_ = 0;
};

// The process-wide generator that factories use when none is given.
Generator& default_generator();
void manual_seed(uint64_t seed);

// splitmix64 finaliser of (seed, counter): the shared definition for every backend.
LNX_HOST_DEVICE inline uint64_t random_bits(uint64_t seed, uint64_t counter) {
  uint64_t z = seed * 0xD1B54A32D192ED03ull + (counter + 1) * 0x9E3779B97F4A7C15ull;
  z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ull;
  z = (z ^ (z >> 27)) * 0x94D049BB133111EBull;
  return z ^ (z >> 31);
}

// Uniform in [0, 1) with 24 bits, exactly representable in float32.
LNX_HOST_DEVICE inline float random_uniform01(uint64_t seed, uint64_t counter) {
  return static_cast<float>(random_bits(seed, counter) >> 40) * (1.0f / 16777216.0f);
}

// Standard normal by Box-Muller over two independent streams of the same counter.
LNX_HOST_DEVICE inline float random_normal(uint64_t seed, uint64_t counter) {
  const float u1 = (static_cast<float>(random_bits(seed, 2 * counter) >> 40) + 1.0f) *
                   (1.0f / 16777217.0f);  // (0, 1]: log stays finite
  const float u2 = random_uniform01(seed, 2 * counter + 1);
  return sqrtf(-2.0f * logf(u1)) * cosf(6.28318530717958647692f * u2);
}

}  // namespace lnx

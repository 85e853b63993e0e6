#include "core/cpu/conv_geometry.h"

#include <omp.h>

#include <vector>

namespace lnx::cpu {

float* scratch(size_t count, int slot) {
  thread_local std::vector<float> buffers[5];
  std::vector<float>& b = buffers[slot];
  if (b.size() < count) b.resize(count);
  return b.data();
}

int conv_threads(const Geom& g) {
  constexpr int64_t kMinParallelMacs = int64_t{1} << 20;
  if (g.n < 2 || g.n * g.o * g.ck * g.ohw < kMinParallelMacs) return 1;
  return omp_get_max_threads();
}

}  // namespace lnx::cpu

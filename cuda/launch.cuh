// Shared by the .cu files: launch geometry for grid-stride loops and the strided index map.
#pragma once

#include <cstdint>

#include "cuda/layout.h"

namespace lnx::cuda {

inline constexpr int kThreads = 256;

// Enough blocks to fill the GPU; grid-stride loops cover the rest.
inline unsigned grid_for(int64_t n) {
  const int64_t blocks = (n + kThreads - 1) / kThreads;
  return static_cast<unsigned>(blocks < 1 ? 1 : (blocks < 8192 ? blocks : 8192));
}

__device__ inline int64_t first_index() {
  return blockIdx.x * static_cast<int64_t>(blockDim.x) + threadIdx.x;
}
__device__ inline int64_t grid_stride() {
  return static_cast<int64_t>(blockDim.x) * gridDim.x;
}

}  // namespace lnx::cuda

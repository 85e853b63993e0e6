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

// Offsets of element i (row-major over l.shape) in operands 0..K-1.
template <int K>
__device__ inline void offsets_of(const Layout& l, int64_t i, int64_t (&off)[K]) {
  if (l.contiguous) {
    for (int k = 0; k < K; ++k) off[k] = i;
    return;
  }
  for (int k = 0; k < K; ++k) off[k] = 0;
  for (int a = l.ndim - 1; a >= 0; --a) {
    const int64_t s = l.shape[a];
    const int64_t q = i / s, r = i - q * s;
    for (int k = 0; k < K; ++k) off[k] += r * l.strides[k][a];
    i = q;
  }
}

}  // namespace lnx::cuda

// Row-wise iteration over K strided tensors of one shape, the loop every element-wise CPU
// kernel shares. Axes that are contiguous in every tensor are merged first, so a contiguous
// tensor is one long row, which is then cut into blocks; rows or blocks run in parallel when
// there is enough work.
#pragma once

#include <algorithm>
#include <array>
#include <cstdint>

#include "core/shape.h"

namespace lnx::cpu {

inline constexpr int64_t kParallelGrain = 32768;  // elements below which we stay serial
inline constexpr int64_t kBlock = 16384;          // block length when one row is long

// f(const std::array<int64_t, K>& offsets, int64_t length, const std::array<int64_t, K>& step),
// offsets and steps in elements.
template <size_t K, typename F>
void for_each_row(const Shape& shape_in, const std::array<const Shape*, K>& strides_in, F&& f) {
  if (numel(shape_in) == 0) return;
  // Merge axis a into a+1 when, for every tensor, stride[a] == stride[a+1] * size[a+1].
  Shape shape;
  std::array<Shape, K> st;
  for (size_t a = 0; a < shape_in.size(); ++a) {
    if (shape_in[a] == 1) continue;
    bool merge = !shape.empty();
    for (size_t k = 0; k < K && merge; ++k)
      merge = st[k].back() == (*strides_in[k])[a] * shape_in[a];
    if (merge) {
      shape.back() *= shape_in[a];
      for (size_t k = 0; k < K; ++k) st[k].back() = (*strides_in[k])[a];
    } else {
      shape.push_back(shape_in[a]);
      for (size_t k = 0; k < K; ++k) st[k].push_back((*strides_in[k])[a]);
    }
  }
  if (shape.empty()) {
    std::array<int64_t, K> zero{};
    f(zero, 1, zero);
    return;
  }
  const int64_t nd = static_cast<int64_t>(shape.size());
  const int64_t row = shape[nd - 1];
  const int64_t rows = numel(shape) / row;
  std::array<int64_t, K> inner;
  for (size_t k = 0; k < K; ++k) inner[k] = st[k][nd - 1];
  if (rows == 1) {
    const int64_t blocks = (row + kBlock - 1) / kBlock;
#pragma omp parallel for schedule(static) if (row >= kParallelGrain)
    for (int64_t b = 0; b < blocks; ++b) {
      std::array<int64_t, K> off;
      for (size_t k = 0; k < K; ++k) off[k] = b * kBlock * inner[k];
      f(off, std::min(kBlock, row - b * kBlock), inner);
    }
    return;
  }
  const bool parallel = rows * row >= kParallelGrain;
#pragma omp parallel for schedule(static) if (parallel)
  for (int64_t r = 0; r < rows; ++r) {
    std::array<int64_t, K> off{};
    int64_t rem = r;
    for (int64_t a = nd - 2; a >= 0; --a) {
      const int64_t i = rem % shape[a];
      rem /= shape[a];
      for (size_t k = 0; k < K; ++k) off[k] += i * st[k][a];
    }
    f(off, row, inner);
  }
}

}  // namespace lnx::cpu

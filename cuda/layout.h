// Iteration spaces handed from the host to the kernels: plain structs, passed by value as kernel
// parameters. Axes are merged on the host the way core/cpu/strided.h does, so a contiguous
// tensor is one axis and the kernels' index arithmetic stays short.
#pragma once

#include <cstdint>
#include <vector>

#include "core/shape.h"

// The index maps below run in kernels and, for the tests, on the host (as core/random.h does).
#ifndef LNX_HOST_DEVICE
#ifdef __CUDACC__
#define LNX_HOST_DEVICE __host__ __device__
#else
#define LNX_HOST_DEVICE
#endif
#endif

namespace lnx::cuda {

inline constexpr int kMaxDims = 8;
inline constexpr int kMaxOperands = 3;

// One shape walked by up to three operands with their own strides (in elements, 0 for a
// broadcast axis). offsets_of below maps element i (row-major over shape) to each operand.
struct Layout {
  int ndim = 0;
  int64_t numel = 0;
  bool contiguous = false;  // every operand has offset(k, i) == i
  int64_t shape[kMaxDims] = {};
  int64_t strides[kMaxOperands][kMaxDims] = {};
};

// Merges axes of `shape` that are contiguous in every operand and drops size-1 axes; throws
// naming `op` when more than kMaxDims axes remain.
Layout make_layout(const Shape& shape, const std::vector<const Shape*>& strides, const char* op);

// A reduction: every output element (row-major over the kept axes, contiguous in the output)
// reduces the input over the reduced axes.
struct ReduceLayout {
  int64_t n_out = 0;
  int64_t n_red = 0;
  int kept_ndim = 0;
  int red_ndim = 0;
  int64_t kept_shape[kMaxDims] = {};
  int64_t kept_strides[kMaxDims] = {};
  int64_t red_shape[kMaxDims] = {};
  int64_t red_strides[kMaxDims] = {};
};

// axes sorted and unique, as Backend::reduce receives them.
ReduceLayout make_reduce_layout(const Shape& shape, const Shape& strides,
                                const std::vector<int64_t>& axes, const char* op);

// Offsets of element i (row-major over l.shape) in operands 0..K-1.
template <int K>
LNX_HOST_DEVICE inline void offsets_of(const Layout& l, int64_t i, int64_t (&off)[K]) {
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

// Input offset of output element o's first reduced element.
LNX_HOST_DEVICE inline int64_t kept_offset(const ReduceLayout& l, int64_t o) {
  int64_t off = 0;
  for (int a = l.kept_ndim - 1; a >= 0; --a) {
    const int64_t q = o / l.kept_shape[a];
    off += (o - q * l.kept_shape[a]) * l.kept_strides[a];
    o = q;
  }
  return off;
}

// Offset of reduced element r (row-major over the reduced axes) from that first element.
LNX_HOST_DEVICE inline int64_t reduced_offset(const ReduceLayout& l, int64_t r) {
  int64_t off = 0;
  for (int a = l.red_ndim - 1; a >= 0; --a) {
    const int64_t q = r / l.red_shape[a];
    off += (r - q * l.red_shape[a]) * l.red_strides[a];
    r = q;
  }
  return off;
}

}  // namespace lnx::cuda

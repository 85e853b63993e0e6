// Iteration spaces handed from the host to the kernels: plain structs, passed by value as kernel
// parameters. Axes are merged on the host the way core/cpu/strided.h does, so a contiguous
// tensor is one axis and the kernels' index arithmetic stays short.
#pragma once

#include <cstdint>
#include <vector>

#include "core/shape.h"

namespace lnx::cuda {

inline constexpr int kMaxDims = 8;
inline constexpr int kMaxOperands = 3;

// One shape walked by up to three operands with their own strides (in elements, 0 for a
// broadcast axis). Element i (row-major over shape) of operand k is at offset(k, i).
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

}  // namespace lnx::cuda

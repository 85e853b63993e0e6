// Tensor math without gradients. Each function validates its arguments (throwing an lnx::Error
// that names the op and the offending shapes), allocates the output and calls the backend of
// the inputs' device. autograd/ builds the differentiable ops on top of these.
#pragma once

#include <cstdint>
#include <vector>

#include "core/backend.h"
#include "core/tensor.h"

namespace lnx::ops {

// ---- element-wise (NumPy broadcasting for binary ops) ----
Tensor unary(UnaryOp op, const Tensor& x);
Tensor binary(BinaryOp op, const Tensor& a, const Tensor& b);
Tensor binary_scalar(BinaryOp op, const Tensor& a, double s, bool scalar_first = false);
Tensor unary_backward(UnaryOp op, const Tensor& x, const Tensor& y, const Tensor& grad_out);

inline Tensor add(const Tensor& a, const Tensor& b) {
  return binary(BinaryOp::Add, a, b);
}
inline Tensor sub(const Tensor& a, const Tensor& b) {
  return binary(BinaryOp::Sub, a, b);
}
inline Tensor mul(const Tensor& a, const Tensor& b) {
  return binary(BinaryOp::Mul, a, b);
}
inline Tensor div(const Tensor& a, const Tensor& b) {
  return binary(BinaryOp::Div, a, b);
}
inline Tensor add(const Tensor& a, double s) {
  return binary_scalar(BinaryOp::Add, a, s);
}
inline Tensor mul(const Tensor& a, double s) {
  return binary_scalar(BinaryOp::Mul, a, s);
}
Tensor clamp(const Tensor& x, double lo, double hi);
Tensor add_relu(const Tensor& a, const Tensor& b);  // max(a + b, 0), broadcasting
Tensor clamp_backward(const Tensor& x, double lo, double hi, const Tensor& grad_out);

// In place: a += alpha * b (b broadcast to a's shape). Bumps a's version.
void add_(const Tensor& a, const Tensor& b, double alpha = 1.0);
void mul_(const Tensor& a, double s);

// ---- reductions ----
// Empty `axes` means all axes. Negative axes count from the end.
Tensor reduce(ReduceOp op, const Tensor& x, std::vector<int64_t> axes, bool keepdim);
Tensor sum(const Tensor& x, std::vector<int64_t> axes = {}, bool keepdim = false);
Tensor mean(const Tensor& x, std::vector<int64_t> axes = {}, bool keepdim = false);
Tensor argmax(const Tensor& x, int64_t axis);  // int64, axis removed
// Sums a broadcast gradient back to `shape` (the inverse of broadcasting).
Tensor sum_to(const Tensor& x, const Shape& shape);
// Sorted, unique, non-negative axes; empty input means all.
std::vector<int64_t> normalize_axes(std::vector<int64_t> axes, int64_t ndim, const char* op);

// ---- linear algebra ----
// (M, K) x (K, N), or batched (B, M, K) x (B, K, N); transposes are free views.
Tensor matmul(const Tensor& a, const Tensor& b);
void gemm(bool trans_a, bool trans_b, float alpha, const Tensor& a, const Tensor& b, float beta,
          const Tensor& c);

// ---- shape ----
Tensor cat(const std::vector<Tensor>& xs, int64_t axis);
// Zero padding: pads holds (before, after) pairs starting from the LAST axis, like PyTorch's
// F.pad: {left, right, top, bottom} pads W then H.
Tensor pad(const Tensor& x, const std::vector<int64_t>& pads, double value = 0.0);

// ---- neural-network kernels ----
Shape conv2d_output_shape(const Shape& x, const Shape& w, const Conv2dParams& p);
Tensor conv2d(const Tensor& x, const Tensor& w, const Tensor& bias, const Conv2dParams& p);
Tensor conv2d_backward_input(const Tensor& grad_y, const Tensor& w, const Shape& x_shape,
                             const Conv2dParams& p);
Tensor conv2d_backward_weight(const Tensor& grad_y, const Tensor& x, const Shape& w_shape,
                              const Conv2dParams& p);
Shape pool2d_output_shape(const Shape& x, const Pool2dParams& p, const char* op);

}  // namespace lnx::ops

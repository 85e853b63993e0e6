// Differentiable ops on Variables. Each records a node whose backward rule sits next to its
// forward in the .cpp of its family (ops_elementwise, ops_reduce, ops_shape, ops_nn). Gradients
// of broadcast operands are summed back to the operand's shape in one place (ops::sum_to).
#pragma once

#include <cstdint>
#include <vector>

#include "autograd/variable.h"
#include "core/backend.h"

namespace lnx {

// ---- element-wise, NumPy broadcasting ----
Variable add(const Variable& a, const Variable& b);
Variable sub(const Variable& a, const Variable& b);
Variable mul(const Variable& a, const Variable& b);
Variable div(const Variable& a, const Variable& b);
Variable pow(const Variable& a, const Variable& b);  // a > 0 where b's gradient is needed
Variable add(const Variable& a, double s);
Variable mul(const Variable& a, double s);
Variable rsub(const Variable& a, double s);  // s - a
Variable rdiv(const Variable& a, double s);  // s / a
Variable pow(const Variable& a, double p);
Variable neg(const Variable& x);
Variable exp(const Variable& x);
Variable log(const Variable& x);
Variable sqrt(const Variable& x);
Variable square(const Variable& x);
Variable abs(const Variable& x);
Variable sigmoid(const Variable& x);
Variable tanh(const Variable& x);
Variable softplus(const Variable& x);
Variable relu(const Variable& x);
Variable relu6(const Variable& x);
Variable clamp(const Variable& x, double lo, double hi);
// relu(add(a, b)) in one pass: the join of a residual block.
Variable add_relu(const Variable& a, const Variable& b);
// Rounds to the nearest integer (half to even) with a straight-through gradient (d/dx := 1).
Variable round_ste(const Variable& x);

inline Variable operator+(const Variable& a, const Variable& b) {
  return add(a, b);
}
inline Variable operator-(const Variable& a, const Variable& b) {
  return sub(a, b);
}
inline Variable operator*(const Variable& a, const Variable& b) {
  return mul(a, b);
}
inline Variable operator/(const Variable& a, const Variable& b) {
  return div(a, b);
}
inline Variable operator-(const Variable& x) {
  return neg(x);
}
inline Variable operator+(const Variable& a, double s) {
  return add(a, s);
}
inline Variable operator+(double s, const Variable& a) {
  return add(a, s);
}
inline Variable operator-(const Variable& a, double s) {
  return add(a, -s);
}
inline Variable operator-(double s, const Variable& a) {
  return rsub(a, s);
}
inline Variable operator*(const Variable& a, double s) {
  return mul(a, s);
}
inline Variable operator*(double s, const Variable& a) {
  return mul(a, s);
}
inline Variable operator/(const Variable& a, double s) {
  return mul(a, 1.0 / s);
}
inline Variable operator/(double s, const Variable& a) {
  return rdiv(a, s);
}

// ---- reductions (empty axes = all axes) ----
Variable sum(const Variable& x, std::vector<int64_t> axes = {}, bool keepdim = false);
Variable mean(const Variable& x, std::vector<int64_t> axes = {}, bool keepdim = false);
// p-norm over one axis for p = 1, 2 or infinity (std::numeric_limits<double>::infinity()).
// The p = 2 gradient at an all-zero slice is taken as 0 (the subgradient group lasso uses).
Variable norm(const Variable& x, double p, int64_t axis, bool keepdim = false);

// ---- linear algebra ----
Variable matmul(const Variable& a, const Variable& b);  // (M,K)x(K,N) or (B,M,K)x(B,K,N)

// ---- shape ----
Variable reshape(const Variable& x, const Shape& shape);
Variable view(const Variable& x, const Shape& shape);  // needs a contiguous input
Variable flatten(const Variable& x, int64_t start_axis = 1, int64_t end_axis = -1);
Variable transpose(const Variable& x, int64_t a, int64_t b);
Variable permute(const Variable& x, const std::vector<int64_t>& order);
Variable cat(const std::vector<Variable>& xs, int64_t axis);
Variable slice(const Variable& x, int64_t axis, int64_t start, int64_t end, int64_t step = 1);
// Zero padding, PyTorch's F.pad order: (before, after) pairs from the last axis backwards.
Variable pad(const Variable& x, const std::vector<int64_t>& pads);
// x[:, :, ::stride, ::stride] on an (N, C, H, W) input (ResNet option-A shortcuts).
Variable subsample2d(const Variable& x, int64_t stride);

// ---- neural-network ops (NCHW) ----
// bias may be undefined.
Variable conv2d(const Variable& x, const Variable& w, const Variable& bias,
                const Conv2dParams& p = {});
Variable max_pool2d(const Variable& x, const Pool2dParams& p);
Variable avg_pool2d(const Variable& x, const Pool2dParams& p);
Variable global_avg_pool2d(const Variable& x);  // (N, C, H, W) -> (N, C)
// Training: batch statistics, and running_mean/var (plain tensors, may be undefined) updated
// in place with momentum. Eval: running statistics. gamma/beta may be undefined (affine off).
Variable batch_norm(const Variable& x, const Variable& gamma, const Variable& beta,
                    const Tensor& running_mean, const Tensor& running_var, bool training,
                    double momentum = 0.1, double eps = 1e-5);
// relu(batch_norm(...)) as one op: one pass over the output forward and backward instead of two.
Variable batch_norm_relu(const Variable& x, const Variable& gamma, const Variable& beta,
                         const Tensor& running_mean, const Tensor& running_var, bool training,
                         double momentum = 0.1, double eps = 1e-5);
// Inverted dropout: kept elements are scaled by 1/(1-p). Identity when !training or p == 0.
Variable dropout(const Variable& x, double p, bool training, Generator* gen = nullptr);
Variable log_softmax(const Variable& x, int64_t axis = -1);
// Mean cross-entropy of (N, C) logits against int64 labels (N,).
Variable cross_entropy(const Variable& logits, const Tensor& labels);

// ---- not differentiable ----
Tensor argmax(const Tensor& x, int64_t axis);
// Fraction of rows of (N, C) logits whose label is among the k largest.
double topk_accuracy(const Tensor& logits, const Tensor& labels, int64_t k);

}  // namespace lnx

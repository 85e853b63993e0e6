// Reductions: sum, mean and p-norms.
#include <cmath>
#include <limits>

#include "autograd/ops.h"
#include "core/ops.h"

namespace lnx {
namespace {

// x's shape with the reduced axes set to 1: the shape a keepdim result has.
Shape kept_shape(const Shape& x, const std::vector<int64_t>& axes) {
  Shape s = x;
  for (int64_t a : axes) s[a] = 1;
  return s;
}

// Broadcasts a reduced gradient back over the reduced axes, as a contiguous tensor.
Tensor expand_back(const Tensor& g, const Shape& kept, const Shape& full) {
  return g.reshape(kept).expand(full).contiguous();
}

}  // namespace

Variable sum(const Variable& x, std::vector<int64_t> axes, bool keepdim) {
  axes = ops::normalize_axes(std::move(axes), x.dim(), "sum");
  const Shape full = x.shape(), kept = kept_shape(full, axes);
  return make_result(ops::sum(x.data(), axes, keepdim), "sum", {&x}, [full, kept](const Tensor& g) {
    return std::vector<Tensor>{expand_back(g, kept, full)};
  });
}

Variable mean(const Variable& x, std::vector<int64_t> axes, bool keepdim) {
  axes = ops::normalize_axes(std::move(axes), x.dim(), "mean");
  const Shape full = x.shape(), kept = kept_shape(full, axes);
  const double n = static_cast<double>(numel(full)) / static_cast<double>(numel(kept));
  return make_result(ops::mean(x.data(), axes, keepdim), "mean", {&x},
                     [full, kept, n](const Tensor& g) {
                       return std::vector<Tensor>{expand_back(ops::mul(g, 1.0 / n), kept, full)};
                     });
}

Variable norm(const Variable& x, double p, int64_t axis, bool keepdim) {
  const int64_t a = normalize_axis(axis, x.dim(), "norm");
  const Shape full = x.shape(), kept = kept_shape(full, {a});
  const Tensor& xv = x.data();
  Tensor y;  // keepdim layout
  if (p == 1.0) {
    y = ops::sum(ops::unary(UnaryOp::Abs, xv), {a}, true);
  } else if (p == 2.0) {
    y = ops::unary(UnaryOp::Sqrt, ops::sum(ops::unary(UnaryOp::Square, xv), {a}, true));
  } else if (std::isinf(p) && p > 0) {
    y = ops::reduce(ReduceOp::AbsMax, xv, {a}, true);
  } else {
    fail("norm: p = ", p, " is not supported, expected 1, 2 or inf");
  }
  SavedTensor sx(xv, "norm"), sy(y, "norm");
  Tensor out = keepdim ? y : y.squeeze(a);
  return make_result(out, "norm", {&x}, [sx, sy, p, kept, full](const Tensor& g_in) {
    const Tensor& xs = sx.get();
    const Tensor& ys = sy.get();
    const Tensor g = g_in.reshape(kept);
    Tensor d;
    if (p == 1.0) {
      d = ops::mul(ops::unary(UnaryOp::Sign, xs), g);
    } else if (p == 2.0) {
      // x / ||x||, defined as 0 on an all-zero slice.
      const Tensor safe =
          ops::binary_scalar(BinaryOp::Maximum, ys, std::numeric_limits<float>::min());
      const Tensor nonzero = ops::binary_scalar(BinaryOp::Greater, ys, 0.0);
      d = ops::mul(ops::mul(xs, ops::div(g, safe)), nonzero);
    } else {
      // The gradient goes to the entries attaining max |x|, shared evenly among ties.
      const Tensor absx = ops::unary(UnaryOp::Abs, xs);
      const Tensor hit = ops::binary(BinaryOp::Equal, absx, ys);
      const Tensor ties = ops::sum_to(hit, ys.shape());
      d = ops::mul(ops::mul(ops::unary(UnaryOp::Sign, xs), hit), ops::div(g, ties));
    }
    return std::vector<Tensor>{d.shape() == full ? d : d.expand(full).contiguous()};
  });
}

}  // namespace lnx

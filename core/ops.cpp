#include "core/ops.h"

#include <algorithm>

#include "core/op_checks.h"

namespace lnx::ops {
namespace {}  // namespace

Tensor unary(UnaryOp op, const Tensor& x) {
  check_float(x, unary_op_name(op), "x");
  Tensor out = Tensor::empty(x.shape(), DType::Float32, x.device());
  backend_of(x).unary(op, x, out);
  return out;
}

Tensor unary_backward(UnaryOp op, const Tensor& x, const Tensor& y, const Tensor& grad_out) {
  Tensor gin = Tensor::empty(grad_out.shape(), DType::Float32, grad_out.device());
  backend_of(grad_out).unary_backward(op, x, y, grad_out, gin);
  return gin;
}

Tensor binary(BinaryOp op, const Tensor& a, const Tensor& b) {
  const char* name = binary_op_name(op);
  check_float(a, name, "a");
  check_float(b, name, "b");
  check_same_device(a, "a", b, "b", name);
  const Shape shape = broadcast_shapes(a.shape(), b.shape(), name);
  Tensor out = Tensor::empty(shape, DType::Float32, a.device());
  backend_of(a).binary(op, a.expand(shape), b.expand(shape), out);
  return out;
}

Tensor binary_scalar(BinaryOp op, const Tensor& a, double s, bool scalar_first) {
  check_float(a, binary_op_name(op), "a");
  Tensor out = Tensor::empty(a.shape(), DType::Float32, a.device());
  backend_of(a).binary_scalar(op, a, s, scalar_first, out);
  return out;
}

Tensor add_relu(const Tensor& a, const Tensor& b) {
  check_float(a, "add_relu", "a");
  check_float(b, "add_relu", "b");
  check_same_device(a, "a", b, "b", "add_relu");
  const Shape shape = broadcast_shapes(a.shape(), b.shape(), "add_relu");
  Tensor out = Tensor::empty(shape, DType::Float32, a.device());
  backend_of(a).add_relu(a.expand(shape), b.expand(shape), out);
  return out;
}

Tensor clamp(const Tensor& x, double lo, double hi) {
  check_float(x, "clamp", "x");
  LNX_CHECK(lo <= hi, "clamp: min ", lo, " is greater than max ", hi);
  Tensor out = Tensor::empty(x.shape(), DType::Float32, x.device());
  backend_of(x).clamp(x, lo, hi, out);
  return out;
}

Tensor clamp_backward(const Tensor& x, double lo, double hi, const Tensor& grad_out) {
  Tensor gin = Tensor::empty(x.shape(), DType::Float32, x.device());
  backend_of(x).clamp_backward(x, lo, hi, grad_out, gin);
  return gin;
}

void add_(const Tensor& a, const Tensor& b, double alpha) {
  check_float(a, "add_", "a");
  check_float(b, "add_", "b");
  check_same_device(a, "a", b, "b", "add_");
  LNX_CHECK(broadcast_shapes(a.shape(), b.shape(), "add_") == a.shape(), "add_: shape ",
            to_string(b.shape()), " cannot be added in place to shape ", to_string(a.shape()));
  const Tensor bb = b.expand(a.shape());
  if (alpha == 1.0) {
    backend_of(a).binary(BinaryOp::Add, a, bb, a);
  } else {
    backend_of(a).binary(BinaryOp::Add, a, binary_scalar(BinaryOp::Mul, bb, alpha), a);
  }
  a.bump_version();
}

void mul_(const Tensor& a, double s) {
  check_float(a, "mul_", "a");
  backend_of(a).binary_scalar(BinaryOp::Mul, a, s, false, a);
  a.bump_version();
}

std::vector<int64_t> normalize_axes(std::vector<int64_t> axes, int64_t ndim, const char* op) {
  if (axes.empty()) {
    for (int64_t i = 0; i < ndim; ++i) axes.push_back(i);
    return axes;
  }
  for (int64_t& a : axes) a = normalize_axis(a, ndim, op);
  std::sort(axes.begin(), axes.end());
  LNX_CHECK(std::adjacent_find(axes.begin(), axes.end()) == axes.end(), op,
            ": an axis appears twice in the reduction axes");
  return axes;
}

Tensor reduce(ReduceOp op, const Tensor& x, std::vector<int64_t> axes, bool keepdim) {
  const char* name = op == ReduceOp::Sum   ? "sum"
                     : op == ReduceOp::Max ? "max"
                     : op == ReduceOp::Min ? "min"
                                           : "absmax";
  check_float(x, name, "x");
  axes = normalize_axes(std::move(axes), x.dim(), name);
  if (op != ReduceOp::Sum)
    for (int64_t a : axes)
      LNX_CHECK(x.shape()[a] > 0, name, ": cannot reduce the empty axis ", a, " of shape ",
                to_string(x.shape()));
  Shape kept = x.shape();
  for (int64_t a : axes) kept[a] = 1;
  Tensor out = Tensor::empty(kept, DType::Float32, x.device());
  backend_of(x).reduce(op, x, axes, out);
  if (keepdim) return out;
  Shape squeezed;
  for (int64_t a = 0; a < x.dim(); ++a)
    if (!std::binary_search(axes.begin(), axes.end(), a)) squeezed.push_back(x.shape()[a]);
  return out.view(squeezed);
}

Tensor sum(const Tensor& x, std::vector<int64_t> axes, bool keepdim) {
  return reduce(ReduceOp::Sum, x, std::move(axes), keepdim);
}

Tensor mean(const Tensor& x, std::vector<int64_t> axes, bool keepdim) {
  const std::vector<int64_t> ax = normalize_axes(axes, x.dim(), "mean");
  int64_t n = 1;
  for (int64_t a : ax) n *= x.shape()[a];
  LNX_CHECK(n > 0, "mean: reducing ", to_string(x.shape()), " over an empty axis");
  Tensor s = sum(x, ax, keepdim);
  backend_of(s).binary_scalar(BinaryOp::Mul, s, 1.0 / static_cast<double>(n), false, s);
  return s;
}

Tensor argmax(const Tensor& x, int64_t axis) {
  check_float(x, "argmax", "x");
  const int64_t a = normalize_axis(axis, x.dim(), "argmax");
  LNX_CHECK(x.shape()[a] > 0, "argmax: axis ", a, " of shape ", to_string(x.shape()), " is empty");
  Shape s = x.shape();
  s.erase(s.begin() + a);
  Tensor out = Tensor::empty(s, DType::Int64, x.device());
  backend_of(x).argmax(x, a, out);
  return out;
}

Tensor sum_to(const Tensor& x, const Shape& shape) {
  if (x.shape() == shape) return x;
  const int64_t lead = x.dim() - static_cast<int64_t>(shape.size());
  LNX_CHECK(lead >= 0, "sum_to: cannot reduce ", to_string(x.shape()), " to ", to_string(shape));
  std::vector<int64_t> axes;
  for (int64_t a = 0; a < x.dim(); ++a) {
    if (a < lead) {
      axes.push_back(a);
    } else if (shape[a - lead] == 1 && x.shape()[a] != 1) {
      axes.push_back(a);
    } else {
      LNX_CHECK(shape[a - lead] == x.shape()[a], "sum_to: cannot reduce ", to_string(x.shape()),
                " to ", to_string(shape));
    }
  }
  if (axes.empty()) return x.reshape(shape);
  return sum(x, axes, true).reshape(shape);
}

void gemm(bool trans_a, bool trans_b, float alpha, const Tensor& a, const Tensor& b, float beta,
          const Tensor& c) {
  check_float(a, "gemm", "a");
  check_float(b, "gemm", "b");
  check_float(c, "gemm", "c");
  LNX_CHECK(a.dim() == 2 && b.dim() == 2 && c.dim() == 2, "gemm: expected 2-D operands, got ",
            to_string(a.shape()), ", ", to_string(b.shape()), ", ", to_string(c.shape()));
  const int64_t m = trans_a ? a.shape()[1] : a.shape()[0];
  const int64_t k = trans_a ? a.shape()[0] : a.shape()[1];
  const int64_t kb = trans_b ? b.shape()[1] : b.shape()[0];
  const int64_t n = trans_b ? b.shape()[0] : b.shape()[1];
  LNX_CHECK(k == kb && c.shape()[0] == m && c.shape()[1] == n, "gemm: shapes ",
            to_string(a.shape()), (trans_a ? "^T" : ""), " x ", to_string(b.shape()),
            (trans_b ? "^T" : ""), " -> ", to_string(c.shape()), " do not match");
  LNX_CHECK(c.strides()[1] == 1, "gemm: output must have unit column stride");
  backend_of(a).gemm(trans_a, trans_b, alpha, a, b, beta, c);
}

Tensor matmul(const Tensor& a, const Tensor& b) {
  check_float(a, "matmul", "a");
  check_float(b, "matmul", "b");
  check_same_device(a, "a", b, "b", "matmul");
  if (a.dim() == 2 && b.dim() == 2) {
    LNX_CHECK(a.shape()[1] == b.shape()[0], "matmul: shapes ", to_string(a.shape()), " and ",
              to_string(b.shape()), " do not match (inner sizes ", a.shape()[1], " vs ",
              b.shape()[0], ")");
    Tensor out = Tensor::empty({a.shape()[0], b.shape()[1]}, DType::Float32, a.device());
    backend_of(a).gemm(false, false, 1.0f, a, b, 0.0f, out);
    return out;
  }
  LNX_CHECK(
      a.dim() == 3 && b.dim() == 3 && a.shape()[0] == b.shape()[0] && a.shape()[2] == b.shape()[1],
      "matmul: shapes ", to_string(a.shape()), " and ", to_string(b.shape()),
      " do not match; expected (M, K) x (K, N) or (B, M, K) x (B, K, N)");
  const int64_t batch = a.shape()[0];
  Tensor out = Tensor::empty({batch, a.shape()[1], b.shape()[2]}, DType::Float32, a.device());
  for (int64_t i = 0; i < batch; ++i)
    backend_of(a).gemm(false, false, 1.0f, a.select(0, i), b.select(0, i), 0.0f, out.select(0, i));
  return out;
}

Tensor cat(const std::vector<Tensor>& xs, int64_t axis) {
  LNX_CHECK(!xs.empty(), "cat: expected at least one tensor, got none");
  const Tensor& first = xs.front();
  check_defined(first, "cat", "xs[0]");
  const int64_t a = normalize_axis(axis, first.dim(), "cat");
  Shape shape = first.shape();
  shape[a] = 0;
  for (size_t i = 0; i < xs.size(); ++i) {
    const Tensor& x = xs[i];
    check_defined(x, "cat", "xs[i]");
    bool ok = x.dim() == first.dim() && x.dtype() == first.dtype();
    for (int64_t d = 0; ok && d < x.dim(); ++d) ok = d == a || x.shape()[d] == first.shape()[d];
    LNX_CHECK(ok, "cat: tensor ", i, " has shape ", to_string(x.shape()), " and dtype ", x.dtype(),
              ", expected ", first.dtype(), " matching ", to_string(first.shape()),
              " except on axis ", a);
    check_same_device(first, "xs[0]", x, "xs[i]", "cat");
    shape[a] += x.shape()[a];
  }
  Tensor out = Tensor::empty(shape, first.dtype(), first.device());
  int64_t at = 0;
  for (const Tensor& x : xs) {
    backend_of(x).copy(x, out.slice(a, at, at + x.shape()[a]));
    at += x.shape()[a];
  }
  return out;
}

Tensor pad(const Tensor& x, const std::vector<int64_t>& pads, double value) {
  check_defined(x, "pad", "x");
  LNX_CHECK(pads.size() % 2 == 0 && static_cast<int64_t>(pads.size()) <= 2 * x.dim(), "pad: got ",
            pads.size(), " pad values for a tensor of shape ", to_string(x.shape()),
            ", expected an even count of at most ", 2 * x.dim());
  Shape shape = x.shape();
  for (size_t i = 0; i < pads.size() / 2; ++i) {
    const int64_t a = x.dim() - 1 - static_cast<int64_t>(i);
    LNX_CHECK(pads[2 * i] >= 0 && pads[2 * i + 1] >= 0, "pad: negative padding ", pads[2 * i], ", ",
              pads[2 * i + 1], " on axis ", a, " (cropping is not supported)");
    shape[a] += pads[2 * i] + pads[2 * i + 1];
  }
  Tensor out = full(shape, value, x.dtype(), x.device());
  Tensor inner = out;
  for (size_t i = 0; i < pads.size() / 2; ++i) {
    const int64_t a = x.dim() - 1 - static_cast<int64_t>(i);
    inner = inner.slice(a, pads[2 * i], pads[2 * i] + x.shape()[a]);
  }
  backend_of(x).copy(x, inner);
  return out;
}

}  // namespace lnx::ops

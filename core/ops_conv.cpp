// 2-D convolution ops: argument validation, output allocation, then the device's kernels.
#include "core/op_checks.h"
#include "core/ops.h"

namespace lnx::ops {
namespace {

void check_params(const Conv2dParams& p, const char* op) {
  LNX_CHECK(p.stride_h >= 1 && p.stride_w >= 1, op, ": stride must be positive, got (", p.stride_h,
            ", ", p.stride_w, ")");
  LNX_CHECK(p.dilation_h >= 1 && p.dilation_w >= 1, op, ": dilation must be positive, got (",
            p.dilation_h, ", ", p.dilation_w, ")");
  LNX_CHECK(p.pad_h >= 0 && p.pad_w >= 0, op, ": padding must be non-negative, got (", p.pad_h,
            ", ", p.pad_w, ")");
  LNX_CHECK(p.groups >= 1, op, ": groups must be positive, got ", p.groups);
}

// Checks x (N, C, H, W) against w (O, C/groups, KH, KW) and returns y's shape.
Shape output_shape(const Shape& x, const Shape& w, const Conv2dParams& p, const char* op) {
  check_params(p, op);
  LNX_CHECK(x.size() == 4, op, ": input must be 4-D (N, C, H, W), got shape ", to_string(x));
  LNX_CHECK(w.size() == 4, op, ": weight must be 4-D (O, C/groups, KH, KW), got shape ",
            to_string(w));
  for (const int64_t d : w)
    LNX_CHECK(d >= 1, op, ": weight shape ", to_string(w), " has an empty axis");
  const int64_t c = x[1], o = w[0];
  LNX_CHECK(c % p.groups == 0, op, ": input has ", c,
            " channels, not divisible by groups=", p.groups, " (input shape ", to_string(x), ")");
  LNX_CHECK(o % p.groups == 0, op, ": weight has ", o,
            " output channels, not divisible by groups=", p.groups, " (weight shape ", to_string(w),
            ")");
  LNX_CHECK(w[1] * p.groups == c, op, ": input has ", c, " channels, weight expects ",
            w[1] * p.groups, " (weight shape ", to_string(w), ", groups=", p.groups, ")");
  const int64_t eff_h = p.dilation_h * (w[2] - 1) + 1, eff_w = p.dilation_w * (w[3] - 1) + 1;
  const int64_t oh = (x[2] + 2 * p.pad_h - eff_h) / p.stride_h + 1;
  const int64_t ow = (x[3] + 2 * p.pad_w - eff_w) / p.stride_w + 1;
  LNX_CHECK(x[2] + 2 * p.pad_h >= eff_h && x[3] + 2 * p.pad_w >= eff_w && oh >= 1 && ow >= 1, op,
            ": input of spatial size ", x[2], "x", x[3], " with padding (", p.pad_h, ", ", p.pad_w,
            ") is smaller than the dilated kernel ", eff_h, "x", eff_w, " (input shape ",
            to_string(x), ", weight shape ", to_string(w), ")");
  return {x[0], o, oh, ow};
}

void check_grad_y(const Tensor& grad_y, const Shape& expected, const char* op) {
  LNX_CHECK(grad_y.shape() == expected, op, ": grad_y has shape ", to_string(grad_y.shape()),
            ", expected ", to_string(expected));
}

}  // namespace

Shape conv2d_output_shape(const Shape& x, const Shape& w, const Conv2dParams& p) {
  return output_shape(x, w, p, "conv2d");
}

Tensor conv2d(const Tensor& x, const Tensor& w, const Tensor& bias, const Conv2dParams& p) {
  check_float(x, "conv2d", "x");
  check_float(w, "conv2d", "weight");
  check_same_device(x, "input", w, "weight", "conv2d");
  const Shape ys = output_shape(x.shape(), w.shape(), p, "conv2d");
  if (bias.defined()) {
    check_float(bias, "conv2d", "bias");
    check_same_device(x, "input", bias, "bias", "conv2d");
    LNX_CHECK(bias.shape() == Shape{ys[1]}, "conv2d: bias has shape ", to_string(bias.shape()),
              ", expected [", ys[1], "] (one per output channel)");
  }
  Tensor y = Tensor::empty(ys, DType::Float32, x.device());
  backend_of(x).conv2d_forward(x.contiguous(), w.contiguous(), bias, p, y);
  return y;
}

Tensor conv2d_backward_input(const Tensor& grad_y, const Tensor& w, const Shape& x_shape,
                             const Conv2dParams& p) {
  const char* op = "conv2d_backward_input";
  check_float(grad_y, op, "grad_y");
  check_float(w, op, "weight");
  check_same_device(grad_y, "grad_y", w, "weight", op);
  check_grad_y(grad_y, output_shape(x_shape, w.shape(), p, op), op);
  Tensor gx = Tensor::empty(x_shape, DType::Float32, grad_y.device());
  backend_of(grad_y).conv2d_backward_input(grad_y.contiguous(), w.contiguous(), p, gx);
  return gx;
}

Tensor conv2d_backward_weight(const Tensor& grad_y, const Tensor& x, const Shape& w_shape,
                              const Conv2dParams& p) {
  const char* op = "conv2d_backward_weight";
  check_float(grad_y, op, "grad_y");
  check_float(x, op, "x");
  check_same_device(grad_y, "grad_y", x, "input", op);
  check_grad_y(grad_y, output_shape(x.shape(), w_shape, p, op), op);
  Tensor gw = Tensor::empty(w_shape, DType::Float32, grad_y.device());
  backend_of(grad_y).conv2d_backward_weight(grad_y.contiguous(), x.contiguous(), p, gw);
  return gw;
}

}  // namespace lnx::ops

#include "core/ops_nn.h"

#include <vector>

#include "core/op_checks.h"

namespace lnx::ops {
namespace {

// A per-channel tensor must be float32 of shape (C,) on x's device.
void check_channel_param(const Tensor& x, const Tensor& t, const char* op, const char* arg) {
  check_float(t, op, arg);
  const int64_t c = x.size(1);
  LNX_CHECK(t.shape() == Shape{c}, op, ": input has ", c, " channels, ", arg, " has shape ",
            to_string(t.shape()), "; expected [", c, "]");
  check_same_device(x, "input", t, arg, op);
}

// gamma/beta default to the identity affine map, so every backend sees defined tensors.
Tensor or_full(const Tensor& t, int64_t c, double value, Device device) {
  return t.defined() ? t.contiguous() : full({c}, value, DType::Float32, device);
}

void check_pool_grad(const Tensor& grad_y, const Shape& x_shape, const char* op) {
  check_float(grad_y, op, "grad_y");
  LNX_CHECK(x_shape.size() == 4 && grad_y.dim() == 4 && grad_y.size(0) == x_shape[0] &&
                grad_y.size(1) == x_shape[1],
            op, ": gradient of shape ", to_string(grad_y.shape()),
            " does not match an input of shape ", to_string(x_shape));
}

}  // namespace

Shape pool2d_output_shape(const Shape& x, const Pool2dParams& p, const char* op) {
  LNX_CHECK(x.size() == 4, op, ": input has shape ", to_string(x),
            ", expected 4 axes (N, C, H, W)");
  LNX_CHECK(p.kernel_h >= 1 && p.kernel_w >= 1, op, ": kernel ", p.kernel_h, "x", p.kernel_w,
            " must be at least 1x1");
  LNX_CHECK(p.stride_h >= 1 && p.stride_w >= 1, op, ": stride ", p.stride_h, "x", p.stride_w,
            " must be at least 1x1");
  LNX_CHECK(p.pad_h >= 0 && p.pad_w >= 0, op, ": padding ", p.pad_h, "x", p.pad_w,
            " must not be negative");
  // As in PyTorch: with more padding a window could hold padding only.
  LNX_CHECK(p.pad_h <= p.kernel_h / 2 && p.pad_w <= p.kernel_w / 2, op, ": padding ", p.pad_h, "x",
            p.pad_w, " exceeds half the kernel ", p.kernel_h, "x", p.kernel_w);
  const int64_t h = x[2] + 2 * p.pad_h, w = x[3] + 2 * p.pad_w;
  LNX_CHECK(h >= p.kernel_h && w >= p.kernel_w, op, ": input of shape ", to_string(x),
            " padded by ", p.pad_h, "x", p.pad_w, " is smaller than the kernel ", p.kernel_h, "x",
            p.kernel_w);
  return {x[0], x[1], (h - p.kernel_h) / p.stride_h + 1, (w - p.kernel_w) / p.stride_w + 1};
}

MaxPool2dResult max_pool2d(const Tensor& x, const Pool2dParams& p) {
  check_float(x, "max_pool2d", "x");
  const Shape out = pool2d_output_shape(x.shape(), p, "max_pool2d");
  MaxPool2dResult r{Tensor::empty(out, DType::Float32, x.device()),
                    Tensor::empty(out, DType::Int64, x.device())};
  backend_of(x).max_pool2d_forward(x.contiguous(), p, r.y, r.indices);
  return r;
}

Tensor max_pool2d_backward(const Tensor& grad_y, const Tensor& indices, const Shape& x_shape) {
  check_pool_grad(grad_y, x_shape, "max_pool2d_backward");
  LNX_CHECK(indices.dtype() == DType::Int64 && indices.shape() == grad_y.shape(),
            "max_pool2d_backward: indices have shape ", to_string(indices.shape()), " and dtype ",
            indices.dtype(), ", expected int64 of the gradient's shape ",
            to_string(grad_y.shape()));
  Tensor grad_x = Tensor::empty(x_shape, DType::Float32, grad_y.device());
  backend_of(grad_y).max_pool2d_backward(grad_y.contiguous(), indices.contiguous(), grad_x);
  return grad_x;
}

Tensor avg_pool2d(const Tensor& x, const Pool2dParams& p) {
  check_float(x, "avg_pool2d", "x");
  Tensor y =
      Tensor::empty(pool2d_output_shape(x.shape(), p, "avg_pool2d"), DType::Float32, x.device());
  backend_of(x).avg_pool2d_forward(x.contiguous(), p, y);
  return y;
}

Tensor avg_pool2d_backward(const Tensor& grad_y, const Pool2dParams& p, const Shape& x_shape) {
  check_pool_grad(grad_y, x_shape, "avg_pool2d_backward");
  LNX_CHECK(pool2d_output_shape(x_shape, p, "avg_pool2d_backward") == grad_y.shape(),
            "avg_pool2d_backward: gradient of shape ", to_string(grad_y.shape()),
            " does not match an input of shape ", to_string(x_shape));
  Tensor grad_x = Tensor::empty(x_shape, DType::Float32, grad_y.device());
  backend_of(grad_y).avg_pool2d_backward(grad_y.contiguous(), p, grad_x);
  return grad_x;
}

void check_batch_norm_args(const Tensor& x, const Tensor& gamma, const Tensor& beta,
                           const Tensor& running_mean, const Tensor& running_var, const char* op) {
  check_float(x, op, "x");
  LNX_CHECK(x.dim() == 2 || x.dim() == 4, op, ": input has shape ", to_string(x.shape()),
            ", expected (N, C) or (N, C, H, W)");
  if (gamma.defined()) check_channel_param(x, gamma, op, "gamma");
  if (beta.defined()) check_channel_param(x, beta, op, "beta");
  LNX_CHECK(running_mean.defined() == running_var.defined(), op,
            ": running_mean and running_var must both be given or both be undefined");
  if (running_mean.defined()) {
    check_channel_param(x, running_mean, op, "running_mean");
    check_channel_param(x, running_var, op, "running_var");
  }
}

BatchNormTrainResult batch_norm_train(const Tensor& x, const Tensor& gamma, const Tensor& beta,
                                      const Tensor& running_mean, const Tensor& running_var,
                                      double momentum, double eps, bool relu) {
  check_batch_norm_args(x, gamma, beta, running_mean, running_var, "batch_norm");
  LNX_CHECK(eps > 0, "batch_norm: eps = ", eps, ", expected a positive value");
  LNX_CHECK(momentum >= 0 && momentum <= 1, "batch_norm: momentum = ", momentum,
            ", expected a value in [0, 1]");
  const int64_t c = x.size(1);
  LNX_CHECK(x.numel() / c > 1, "batch_norm: training needs more than one value per channel, got ",
            "input of shape ", to_string(x.shape()));
  if (running_mean.defined())  // updated in place, so they cannot be copies
    LNX_CHECK(running_mean.is_contiguous() && running_var.is_contiguous(),
              "batch_norm: running_mean and running_var must be contiguous");
  BatchNormTrainResult r{Tensor::empty(x.shape(), DType::Float32, x.device()),
                         Tensor::empty({c}, DType::Float32, x.device()),
                         Tensor::empty({c}, DType::Float32, x.device())};
  Backend& b = backend_of(x);
  const Tensor xc = x.contiguous(), g = or_full(gamma, c, 1.0, x.device()),
               bt = or_full(beta, c, 0.0, x.device());
  if (relu)
    b.batch_norm_relu_forward_train(xc, g, bt, eps, momentum, running_mean, running_var, r.y,
                                    r.save_mean, r.save_invstd);
  else
    b.batch_norm_forward_train(xc, g, bt, eps, momentum, running_mean, running_var, r.y,
                               r.save_mean, r.save_invstd);
  if (running_mean.defined()) {
    running_mean.bump_version();
    running_var.bump_version();
  }
  return r;
}

Tensor batch_norm_eval(const Tensor& x, const Tensor& gamma, const Tensor& beta,
                       const Tensor& running_mean, const Tensor& running_var, double eps,
                       bool relu) {
  check_batch_norm_args(x, gamma, beta, running_mean, running_var, "batch_norm");
  LNX_CHECK(running_mean.defined(),
            "batch_norm: evaluation mode needs running_mean and "
            "running_var, got undefined tensors");
  LNX_CHECK(eps > 0, "batch_norm: eps = ", eps, ", expected a positive value");
  const int64_t c = x.size(1);
  Tensor y = Tensor::empty(x.shape(), DType::Float32, x.device());
  Backend& b = backend_of(x);
  const Tensor xc = x.contiguous(), g = or_full(gamma, c, 1.0, x.device()),
               bt = or_full(beta, c, 0.0, x.device());
  if (relu)
    b.batch_norm_relu_forward_eval(xc, g, bt, running_mean.contiguous(), running_var.contiguous(),
                                   eps, y);
  else
    b.batch_norm_forward_eval(xc, g, bt, running_mean.contiguous(), running_var.contiguous(), eps,
                              y);
  return y;
}

namespace {

// y undefined: plain batch norm; defined: relu(batch_norm(x)) with output y.
BatchNormGrads batch_norm_grads(const Tensor& grad_y, const Tensor& y, const Tensor& x,
                                const Tensor& gamma, const Tensor& save_mean,
                                const Tensor& save_invstd, bool need_affine_grads, const char* op) {
  check_float(grad_y, op, "grad_y");
  LNX_CHECK(grad_y.shape() == x.shape(), op, ": gradient of shape ", to_string(grad_y.shape()),
            " does not match the input's ", to_string(x.shape()));
  const int64_t c = x.size(1);
  BatchNormGrads r;
  r.grad_x = Tensor::empty(x.shape(), DType::Float32, x.device());
  if (need_affine_grads) {
    r.grad_gamma = Tensor::empty({c}, DType::Float32, x.device());
    r.grad_beta = Tensor::empty({c}, DType::Float32, x.device());
  }
  const Tensor g = or_full(gamma, c, 1.0, x.device());
  if (y.defined())
    backend_of(x).batch_norm_relu_backward(grad_y.contiguous(), y.contiguous(), x.contiguous(), g,
                                           save_mean, save_invstd, r.grad_x, r.grad_gamma,
                                           r.grad_beta);
  else
    backend_of(x).batch_norm_backward(grad_y.contiguous(), x.contiguous(), g, save_mean,
                                      save_invstd, r.grad_x, r.grad_gamma, r.grad_beta);
  return r;
}

}  // namespace

BatchNormGrads batch_norm_backward(const Tensor& grad_y, const Tensor& x, const Tensor& gamma,
                                   const Tensor& save_mean, const Tensor& save_invstd,
                                   bool need_affine_grads) {
  return batch_norm_grads(grad_y, Tensor(), x, gamma, save_mean, save_invstd, need_affine_grads,
                          "batch_norm_backward");
}

BatchNormGrads batch_norm_relu_backward(const Tensor& grad_y, const Tensor& y, const Tensor& x,
                                        const Tensor& gamma, const Tensor& save_mean,
                                        const Tensor& save_invstd, bool need_affine_grads) {
  LNX_CHECK(y.shape() == x.shape(), "batch_norm_relu_backward: output of shape ",
            to_string(y.shape()), " does not match the input's ", to_string(x.shape()));
  return batch_norm_grads(grad_y, y, x, gamma, save_mean, save_invstd, need_affine_grads,
                          "batch_norm_relu_backward");
}

Tensor log_softmax(const Tensor& x, const char* op) {
  check_float(x, op, "x");
  LNX_CHECK(x.dim() >= 1 && x.size(-1) >= 1, op, ": input has shape ", to_string(x.shape()),
            ", expected at least one axis with at least one class");
  Tensor y = Tensor::empty(x.shape(), DType::Float32, x.device());
  if (x.numel() == 0) return y;
  const int64_t c = x.size(-1);
  backend_of(x).log_softmax_forward(x.contiguous().view({-1, c}), y.view({-1, c}));
  return y;
}

Tensor log_softmax_backward(const Tensor& grad_y, const Tensor& y) {
  check_float(grad_y, "log_softmax_backward", "grad_y");
  LNX_CHECK(grad_y.shape() == y.shape(), "log_softmax_backward: gradient of shape ",
            to_string(grad_y.shape()), " does not match the output's ", to_string(y.shape()));
  Tensor grad_x = Tensor::empty(y.shape(), DType::Float32, y.device());
  if (y.numel() == 0) return grad_x;
  const int64_t c = y.size(-1);
  backend_of(y).log_softmax_backward(grad_y.contiguous().view({-1, c}),
                                     y.contiguous().view({-1, c}), grad_x.view({-1, c}));
  return grad_x;
}

void check_labels(const Tensor& logits, const Tensor& labels, const char* op) {
  check_float(logits, op, "logits");
  LNX_CHECK(logits.dim() == 2, op, ": logits have shape ", to_string(logits.shape()),
            ", expected (N, C)");
  LNX_CHECK(labels.defined(), op, ": labels are an undefined tensor");
  LNX_CHECK(labels.dtype() == DType::Int64, op, ": labels have dtype ", labels.dtype(),
            ", expected int64");
  const int64_t n = logits.size(0), c = logits.size(1);
  LNX_CHECK(labels.shape() == Shape{n}, op, ": labels have shape ", to_string(labels.shape()),
            ", logits ", to_string(logits.shape()), "; expected labels of shape [", n, "]");
  LNX_CHECK(n >= 1 && c >= 1, op, ": logits of shape ", to_string(logits.shape()),
            " are empty, expected at least one row and one class");
  check_same_device(logits, "input", labels, "labels", op);
  // A label out of range would index past the row in the kernel: check every one on the host.
  const std::vector<int64_t> v = labels.to_vector<int64_t>();
  for (int64_t i = 0; i < n; ++i)
    LNX_CHECK(v[i] >= 0 && v[i] < c, op, ": label ", v[i], " at row ", i, " is out of range for ",
              c, " classes");
}

Tensor nll_loss(const Tensor& logp, const Tensor& labels, const char* op) {
  check_labels(logp, labels, op);
  Tensor out = Tensor::empty({}, DType::Float32, logp.device());
  backend_of(logp).nll_loss_forward(logp.contiguous(), labels.contiguous(), out);
  return out;
}

Tensor nll_loss_backward(const Tensor& grad_out, const Tensor& labels, const Shape& logp_shape) {
  check_float(grad_out, "nll_loss_backward", "grad_out");
  LNX_CHECK(grad_out.numel() == 1, "nll_loss_backward: gradient of shape ",
            to_string(grad_out.shape()), ", expected a single element");
  LNX_CHECK(logp_shape.size() == 2 && labels.shape() == Shape{logp_shape[0]},
            "nll_loss_backward: labels of shape ", to_string(labels.shape()),
            " do not match log-probabilities of shape ", to_string(logp_shape));
  Tensor grad = Tensor::empty(logp_shape, DType::Float32, grad_out.device());
  backend_of(grad_out).nll_loss_backward(grad_out.contiguous(), labels.contiguous(), grad);
  return grad;
}

Tensor normalize_images(const Tensor& x, const std::vector<float>& mean,
                        const std::vector<float>& std) {
  LNX_CHECK(x.defined() && x.dtype() == DType::UInt8 && x.dim() == 4,
            "normalize_images: expects uint8 images (N, C, H, W), got ",
            x.defined() ? str(dtype_name(x.dtype()), " ", to_string(x.shape()))
                        : std::string("an undefined tensor"));
  const int64_t c = x.size(1);
  LNX_CHECK(static_cast<int64_t>(mean.size()) == c && static_cast<int64_t>(std.size()) == c,
            "normalize_images: images have ", c, " channels, mean has ", mean.size(),
            " values and std ", std.size());
  for (float s : std)
    LNX_CHECK(s > 0.0f, "normalize_images: std holds ", s, ", expected positive values");
  Tensor out = Tensor::empty(x.shape(), DType::Float32, x.device());
  if (x.numel() == 0) return out;
  const Tensor m = from_vector(mean, {c}).to(x.device()), s = from_vector(std, {c}).to(x.device());
  backend_of(x).normalize_images(x.contiguous(), m, s, out);
  return out;
}

}  // namespace lnx::ops

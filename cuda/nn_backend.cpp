// CudaBackend's pooling, batch-norm, softmax/loss and rate kernels: Tensors to raw pointers and
// shapes for the launchers of cuda/nn_kernels.h. Arguments are trusted (core/backend.h); only
// the device and contiguity the kernels rely on are checked.
#include <algorithm>
#include <vector>

#include "core/error.h"
#include "cuda/check.h"
#include "cuda/cuda_backend.h"
#include "cuda/device_guard.h"
#include "cuda/nn_kernels.h"

namespace lnx::cuda {
namespace {

float* fptr(const Tensor& t) {
  return t.defined() ? t.data<float>() : nullptr;
}

void require_contiguous(const Tensor& t, const char* op, const char* what) {
  LNX_CHECK(!t.defined() || t.is_contiguous(), op, ": ", what, " of shape ", to_string(t.shape()),
            " must be contiguous on the GPU");
}

PoolShape pool_shape(const Tensor& in, const Tensor& out) {
  return {in.size(0) * in.size(1), in.size(2), in.size(3), out.size(2), out.size(3)};
}

BnShape bn_shape(const Tensor& x) {
  const int64_t inner = x.dim() > 2 ? x.numel() / (x.size(0) * x.size(1)) : 1;
  return {x.size(0), x.size(1), inner};
}

}  // namespace

// ---- pooling ----

void CudaBackend::max_pool2d_forward(const Tensor& x, const Pool2dParams& p, const Tensor& y,
                                     const Tensor& indices) {
  const int d = device_of(y, "max_pool2d_forward");
  require_contiguous(x, "max_pool2d_forward", "input");
  const DeviceGuard guard(d);
  launch_max_pool_forward(pool_shape(x, y), p, fptr(x), fptr(y), indices.data<int64_t>(),
                          stream(d));
}

void CudaBackend::max_pool2d_backward(const Tensor& grad_y, const Tensor& indices,
                                      const Tensor& grad_x) {
  const int d = device_of(grad_x, "max_pool2d_backward");
  require_contiguous(grad_y, "max_pool2d_backward", "grad_y");
  require_contiguous(indices, "max_pool2d_backward", "indices");
  const DeviceGuard guard(d);
  launch_max_pool_backward(pool_shape(grad_x, grad_y), fptr(grad_y), indices.data<int64_t>(),
                           fptr(grad_x), stream(d));
}

void CudaBackend::avg_pool2d_forward(const Tensor& x, const Pool2dParams& p, const Tensor& y) {
  const int d = device_of(y, "avg_pool2d_forward");
  require_contiguous(x, "avg_pool2d_forward", "input");
  const DeviceGuard guard(d);
  launch_avg_pool_forward(pool_shape(x, y), p, fptr(x), fptr(y), stream(d));
}

void CudaBackend::avg_pool2d_backward(const Tensor& grad_y, const Pool2dParams& p,
                                      const Tensor& grad_x) {
  const int d = device_of(grad_x, "avg_pool2d_backward");
  require_contiguous(grad_y, "avg_pool2d_backward", "grad_y");
  const DeviceGuard guard(d);
  launch_avg_pool_backward(pool_shape(grad_x, grad_y), p, fptr(grad_y), fptr(grad_x), stream(d));
}

// ---- batch norm ----

void CudaBackend::batch_norm_forward_train(const Tensor& x, const Tensor& gamma, const Tensor& beta,
                                           double eps, double momentum, const Tensor& running_mean,
                                           const Tensor& running_var, const Tensor& y,
                                           const Tensor& save_mean, const Tensor& save_invstd) {
  const int d = device_of(y, "batch_norm_forward_train");
  require_contiguous(x, "batch_norm_forward_train", "input");
  LNX_CHECK(running_mean.defined() == running_var.defined(),
            "batch_norm_forward_train: running_mean and running_var must both be defined or "
            "both undefined");
  const DeviceGuard guard(d);
  launch_bn_forward_train(bn_shape(x), fptr(x), fptr(gamma), fptr(beta), eps, momentum,
                          fptr(running_mean), fptr(running_var), fptr(y), fptr(save_mean),
                          fptr(save_invstd), stream(d));
}

void CudaBackend::batch_norm_forward_eval(const Tensor& x, const Tensor& gamma, const Tensor& beta,
                                          const Tensor& running_mean, const Tensor& running_var,
                                          double eps, const Tensor& y) {
  const int d = device_of(y, "batch_norm_forward_eval");
  require_contiguous(x, "batch_norm_forward_eval", "input");
  const DeviceGuard guard(d);
  launch_bn_forward_eval(bn_shape(x), fptr(x), fptr(gamma), fptr(beta), fptr(running_mean),
                         fptr(running_var), eps, fptr(y), stream(d));
}

void CudaBackend::batch_norm_backward(const Tensor& grad_y, const Tensor& x, const Tensor& gamma,
                                      const Tensor& save_mean, const Tensor& save_invstd,
                                      const Tensor& grad_x, const Tensor& grad_gamma,
                                      const Tensor& grad_beta) {
  const int d = device_of(x, "batch_norm_backward");
  require_contiguous(x, "batch_norm_backward", "input");
  require_contiguous(grad_y, "batch_norm_backward", "grad_y");
  const DeviceGuard guard(d);
  launch_bn_backward(bn_shape(x), fptr(grad_y), fptr(x), fptr(gamma), fptr(save_mean),
                     fptr(save_invstd), fptr(grad_x), fptr(grad_gamma), fptr(grad_beta), stream(d));
}

// ---- softmax and loss ----

void CudaBackend::log_softmax_forward(const Tensor& x, const Tensor& y) {
  const int d = device_of(y, "log_softmax_forward");
  require_contiguous(x, "log_softmax_forward", "input");
  const DeviceGuard guard(d);
  launch_log_softmax_forward(x.size(0), x.size(1), fptr(x), fptr(y), stream(d));
}

void CudaBackend::log_softmax_backward(const Tensor& grad_y, const Tensor& y,
                                       const Tensor& grad_x) {
  const int d = device_of(grad_x, "log_softmax_backward");
  require_contiguous(grad_y, "log_softmax_backward", "grad_y");
  require_contiguous(y, "log_softmax_backward", "y");
  const DeviceGuard guard(d);
  launch_log_softmax_backward(y.size(0), y.size(1), fptr(grad_y), fptr(y), fptr(grad_x), stream(d));
}

void CudaBackend::nll_loss_forward(const Tensor& logp, const Tensor& labels, const Tensor& out) {
  const int d = device_of(out, "nll_loss_forward");
  require_contiguous(logp, "nll_loss_forward", "logp");
  require_contiguous(labels, "nll_loss_forward", "labels");
  const DeviceGuard guard(d);
  launch_nll_loss_forward(logp.size(0), logp.size(1), fptr(logp), labels.data<int64_t>(), fptr(out),
                          stream(d));
}

void CudaBackend::nll_loss_backward(const Tensor& grad_out, const Tensor& labels,
                                    const Tensor& grad_logp) {
  const int d = device_of(grad_logp, "nll_loss_backward");
  require_contiguous(labels, "nll_loss_backward", "labels");
  const DeviceGuard guard(d);
  launch_nll_loss_backward(grad_logp.size(0), grad_logp.size(1), fptr(grad_out),
                           labels.data<int64_t>(), fptr(grad_logp), stream(d));
}

// ---- the LilNetX rate ----

void CudaBackend::factorized_rate(const Tensor& values, const Tensor& params,
                                  const Tensor& bits_out, const Tensor& grad_values,
                                  const Tensor& grad_params, double* total_bits) {
  const int d = device_of(values, "factorized_rate");
  require_contiguous(values, "factorized_rate", "values");
  require_contiguous(params, "factorized_rate", "params");
  LNX_CHECK(grad_values.defined() == grad_params.defined(),
            "factorized_rate: grad_values and grad_params must both be defined or both undefined");
  const int64_t m = values.size(0), c = values.size(1);
  LNX_CHECK(c <= 65535, "factorized_rate: values of shape ", to_string(values.shape()),
            " have more than 65535 channels, the CUDA kernel's grid limit");
  const DeviceGuard guard(d);
  // Double scratch lives in Int64 tensors (there is no float64 dtype; only the bytes matter).
  // Freed right after the launch: the allocator only reuses it for work queued behind it.
  const Tensor partial = Tensor::empty(
      {std::max<int64_t>(factorized_rate_scratch_doubles(m, c), 1)}, DType::Int64, values.device());
  const Tensor channel_bits =
      Tensor::empty({std::max<int64_t>(c, 1)}, DType::Int64, values.device());  // (C) doubles
  double* bits_dev = reinterpret_cast<double*>(channel_bits.data<int64_t>());
  launch_factorized_rate(m, c, fptr(values), fptr(params), fptr(bits_out), fptr(grad_values),
                         fptr(grad_params), reinterpret_cast<double*>(partial.data<int64_t>()),
                         bits_dev, stream(d));
  if (!total_bits) return;
  std::vector<double> per_channel(static_cast<size_t>(c));
  copy_to_host(bits_dev, per_channel.data(), per_channel.size() * sizeof(double));
  double total = 0;
  for (double b : per_channel) total += b;  // in channel order: deterministic
  *total_bits = total;
}

// ---- input pipeline ----

void CudaBackend::normalize_images(const Tensor& x, const Tensor& mean, const Tensor& std,
                                   const Tensor& out) {
  const int d = device_of(out, "normalize_images");
  require_contiguous(x, "normalize_images", "images");
  require_contiguous(mean, "normalize_images", "mean");
  require_contiguous(std, "normalize_images", "std");
  const DeviceGuard guard(d);
  launch_normalize_images(x.size(0), x.size(1), x.size(2) * x.size(3), x.data<uint8_t>(),
                          fptr(mean), fptr(std), fptr(out), stream(d));
}

}  // namespace lnx::cuda

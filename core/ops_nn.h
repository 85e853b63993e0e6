// Neural-network tensor ops without gradients: pooling, batch norm, log-softmax and the
// negative log-likelihood. Like core/ops.h, each validates its arguments (naming the op, the
// argument and the shapes), allocates outputs and calls the backend of the inputs' device.
// autograd/ops_nn.cpp builds the differentiable versions on these.
#pragma once

#include <cstdint>
#include <vector>

#include "core/backend.h"
#include "core/ops.h"
#include "core/tensor.h"

namespace lnx::ops {

// ---- pooling over (N, C, H, W); output shape from pool2d_output_shape (core/ops.h) ----
struct MaxPool2dResult {
  Tensor y;        // (N, C, OH, OW)
  Tensor indices;  // (N, C, OH, OW) int64: flat h*W+w of each maximum in its input plane
};
MaxPool2dResult max_pool2d(const Tensor& x, const Pool2dParams& p);
Tensor max_pool2d_backward(const Tensor& grad_y, const Tensor& indices, const Shape& x_shape);
Tensor avg_pool2d(const Tensor& x, const Pool2dParams& p);
Tensor avg_pool2d_backward(const Tensor& grad_y, const Pool2dParams& p, const Shape& x_shape);

// ---- batch norm over (N, C) or (N, C, H, W), statistics per channel ----
// gamma and beta (C,) may be undefined (affine off). running_mean/var (C,) may be undefined
// in training (then nothing is tracked) and are updated in place (PyTorch's momentum rule,
// unbiased variance); eval needs them. With relu, y = relu(batch_norm(x)) in one pass.
struct BatchNormTrainResult {
  Tensor y;            // x's shape
  Tensor save_mean;    // (C)
  Tensor save_invstd;  // (C) 1 / sqrt(biased var + eps)
};
BatchNormTrainResult batch_norm_train(const Tensor& x, const Tensor& gamma, const Tensor& beta,
                                      const Tensor& running_mean, const Tensor& running_var,
                                      double momentum, double eps, bool relu = false);
Tensor batch_norm_eval(const Tensor& x, const Tensor& gamma, const Tensor& beta,
                       const Tensor& running_mean, const Tensor& running_var, double eps,
                       bool relu = false);
struct BatchNormGrads {
  Tensor grad_x, grad_gamma, grad_beta;  // grad_gamma/beta undefined unless asked for
};
// Training-mode backward (the batch statistics depend on x).
BatchNormGrads batch_norm_backward(const Tensor& grad_y, const Tensor& x, const Tensor& gamma,
                                   const Tensor& save_mean, const Tensor& save_invstd,
                                   bool need_affine_grads);
// Training-mode backward of relu(batch_norm(x)), y being its output.
BatchNormGrads batch_norm_relu_backward(const Tensor& grad_y, const Tensor& y, const Tensor& x,
                                        const Tensor& gamma, const Tensor& save_mean,
                                        const Tensor& save_invstd, bool need_affine_grads);
// Checks gamma/beta/running statistics against x's channel count; `op` names the caller.
void check_batch_norm_args(const Tensor& x, const Tensor& gamma, const Tensor& beta,
                           const Tensor& running_mean, const Tensor& running_var, const char* op);

// ---- log-softmax and loss, over the last axis ----
// Any rank >= 1, over the last axis; `op` names the caller in error messages.
Tensor log_softmax(const Tensor& x, const char* op = "log_softmax");
Tensor log_softmax_backward(const Tensor& grad_y, const Tensor& y);
// Checks (N, C) float32 logits against int64 labels (N,) with values in [0, C); `op` names the
// caller so messages read "cross_entropy: ...".
void check_labels(const Tensor& logits, const Tensor& labels, const char* op);
// Scalar -mean_n logp[n, labels[n]].
Tensor nll_loss(const Tensor& logp, const Tensor& labels, const char* op = "nll_loss");
Tensor nll_loss_backward(const Tensor& grad_out, const Tensor& labels, const Shape& logp_shape);

// ---- input pipeline ----
// (x / 255 - mean[c]) / std[c] for uint8 images x (N, C, H, W), computed on x's device: the
// float32 batch data::Normalize would have produced, bit for bit.
Tensor normalize_images(const Tensor& x, const std::vector<float>& mean,
                        const std::vector<float>& std);

}  // namespace lnx::ops

// BatchNorm2d: per-channel normalisation of NCHW inputs with batch statistics in training and
// running statistics in eval. Buffers follow PyTorch's names and types (running_mean,
// running_var, num_batches_tracked as an int64 scalar) so state dicts match.
#pragma once

#include <cstdint>
#include <string>

#include "layers/module.h"

namespace lnx {

class BatchNorm2d : public Module {
 public:
  // momentum weighs the new batch: running = (1 - momentum) * running + momentum * batch.
  explicit BatchNorm2d(int64_t num_features, double eps = 1e-5, double momentum = 0.1,
                       bool affine = true);

  // (N, C, H, W) -> (N, C, H, W)
  Variable forward(const Variable& x) override;
  // relu(forward(x)) in one pass over the output (and one over the gradient).
  Variable forward_relu(const Variable& x);
  std::string extra_repr() const override;

  int64_t num_features() const { return num_features_; }
  double eps() const { return eps_; }
  double momentum() const { return momentum_; }
  const Variable& weight() const { return weight_; }  // (C), undefined when !affine
  const Variable& bias() const { return bias_; }      // (C), undefined when !affine
  // Looked up on each call: a device move rebinds the buffers.
  Tensor running_mean() const { return buffer("running_mean"); }  // (C)
  Tensor running_var() const { return buffer("running_var"); }    // (C)
  int64_t num_batches_tracked() const;

 private:
  Variable run(const Variable& x, bool relu);

  int64_t num_features_;
  double eps_;
  double momentum_;
  Variable weight_;
  Variable bias_;
  // Host mirror of num_batches_tracked, valid while the buffer is unchanged since our write.
  int64_t tracked_ = 0;
  const Storage* tracked_storage_ = nullptr;
  uint64_t tracked_version_ = 0;
};

// relu(bn.forward(x)): fused when `bn` is a BatchNorm2d, composed for any other module (so a
// network built through a LayerFactory may hand in whatever normalisation it likes).
Variable bn_relu(Module& bn, const Variable& x);

}  // namespace lnx

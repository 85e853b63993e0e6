// LilNetX's weight layers (method.md section 1): a float latent of the weight's shape, rounded
// with a straight-through gradient and decoded by the shared decoder of the layer's compression
// group. Biases stay float. The latent is registered as "weight", as in the reference code, so
// state dicts keep the usual names.
#pragma once

#include <cstdint>
#include <string>

#include "compress/compression_group.h"
#include "layers/conv2d.h"
#include "layers/module.h"

namespace lnx {

class LatentLayer : public Module {
 public:
  LatentLayer(std::string type_name, CompressionGroup& group)
      : Module(std::move(type_name)), group_(&group) {}
  const Variable& latent() const { return latent_; }
  CompressionGroup& group() const { return *group_; }
  // decode(round(L)), differentiable in L (straight-through) and in the decoder.
  Variable decoded_weight() const;
  // Slices as rows: (O*I, k*k) for a convolution, (O*I, 1) for a dense layer.
  Variable latent_rows() const;
  int64_t slice_size() const { return group_->slice_size(); }
  // H_out * W_out of the last forward (1 for dense layers): what FLOP counts need.
  int64_t output_pixels() const { return output_pixels_; }
  virtual int64_t conv_groups() const { return 1; }

 protected:
  Variable latent_;
  Variable bias_;
  int64_t output_pixels_ = 1;

 private:
  CompressionGroup* group_;  // non-owning: the network owns both the group and this layer
};

class LatentConv2d final : public LatentLayer {
 public:
  LatentConv2d(int64_t in, int64_t out, int64_t kernel_size, const Conv2dOptions& options,
               CompressionGroup& group, double init_bound, Generator* gen);
  Variable forward(const Variable& x) override;  // (N, in, H, W) -> (N, out, H', W')
  std::string extra_repr() const override;
  int64_t conv_groups() const override { return params_.groups; }
  const Conv2dParams& params() const { return params_; }
  // Skipping all-zero slices is on by default; off runs the dense kernels (for comparison).
  void set_skip_zero_slices(bool on) { params_.skip_zero_slices = on; }

 private:
  int64_t in_, out_, kernel_size_;
  Conv2dParams params_;
};

class LatentLinear final : public LatentLayer {
 public:
  LatentLinear(int64_t in, int64_t out, bool bias, CompressionGroup& group, double init_bound,
               Generator* gen);
  Variable forward(const Variable& x) override;  // (N, in) -> (N, out)
  std::string extra_repr() const override;

 private:
  int64_t in_, out_;
};

}  // namespace lnx

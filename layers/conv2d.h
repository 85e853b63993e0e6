// Conv2d over NCHW inputs with a weight (out_channels, in_channels / groups, k, k) and an
// optional bias (out_channels), PyTorch's layout and default initialisation.
#pragma once

#include <cstdint>
#include <string>

#include "core/backend.h"
#include "layers/module.h"

namespace lnx {

class Generator;

struct Conv2dOptions {
  int64_t stride = 1;
  int64_t padding = 0;
  int64_t dilation = 1;
  int64_t groups = 1;
  bool bias = true;
};

class Conv2d : public Module {
 public:
  Conv2d(int64_t in_channels, int64_t out_channels, int64_t kernel_size,
         const Conv2dOptions& options = {}, Generator* gen = nullptr);
  // PyTorch's positional order: Conv2d(in, out, k, stride, padding, dilation, groups, bias).
  Conv2d(int64_t in_channels, int64_t out_channels, int64_t kernel_size, int64_t stride,
         int64_t padding = 0, int64_t dilation = 1, int64_t groups = 1, bool bias = true,
         Generator* gen = nullptr);

  // (N, in_channels, H, W) -> (N, out_channels, H', W')
  Variable forward(const Variable& x) override;
  std::string extra_repr() const override;

  const Variable& weight() const { return weight_; }  // (out, in / groups, k, k)
  const Variable& bias() const { return bias_; }      // (out), undefined without bias
  int64_t in_channels() const { return in_channels_; }
  int64_t out_channels() const { return out_channels_; }
  int64_t kernel_size() const { return kernel_size_; }
  const Conv2dParams& params() const { return params_; }

 private:
  int64_t in_channels_;
  int64_t out_channels_;
  int64_t kernel_size_;
  Conv2dParams params_;
  Variable weight_;
  Variable bias_;
};

}  // namespace lnx

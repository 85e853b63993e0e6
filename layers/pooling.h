// Pooling modules over NCHW inputs.
#pragma once

#include <cstdint>
#include <string>

#include "core/backend.h"
#include "layers/module.h"

namespace lnx {

class MaxPool2d : public Module {
 public:
  // stride <= 0 means stride = kernel_size, PyTorch's default.
  explicit MaxPool2d(int64_t kernel_size, int64_t stride = 0, int64_t padding = 0);
  Variable forward(const Variable& x) override;
  std::string extra_repr() const override;
  const Pool2dParams& params() const { return params_; }

 private:
  Pool2dParams params_;
};

class AvgPool2d : public Module {
 public:
  explicit AvgPool2d(int64_t kernel_size, int64_t stride = 0, int64_t padding = 0,
                     bool count_include_pad = true);
  Variable forward(const Variable& x) override;
  std::string extra_repr() const override;
  const Pool2dParams& params() const { return params_; }

 private:
  Pool2dParams params_;
};

// (N, C, H, W) -> (N, C): the mean over each plane (AdaptiveAvgPool2d(1) then flatten).
class GlobalAvgPool2d : public Module {
 public:
  GlobalAvgPool2d() : Module("GlobalAvgPool2d") {}
  Variable forward(const Variable& x) override;
};

}  // namespace lnx

// Linear: y = x W^T + b with W (out_features, in_features) and b (out_features), PyTorch's
// layout, so weights load from PyTorch state dicts unchanged.
#pragma once

#include <cstdint>
#include <string>

#include "layers/module.h"

namespace lnx {

class Generator;

class Linear : public Module {
 public:
  // Initialised like torch.nn.Linear (init::default_weight_and_bias_) from `gen`.
  Linear(int64_t in_features, int64_t out_features, bool bias = true, Generator* gen = nullptr);

  // (..., in_features) -> (..., out_features)
  Variable forward(const Variable& x) override;
  std::string extra_repr() const override;

  const Variable& weight() const { return weight_; }  // (out, in)
  const Variable& bias() const { return bias_; }      // (out), undefined without bias
  int64_t in_features() const { return in_features_; }
  int64_t out_features() const { return out_features_; }

 private:
  int64_t in_features_;
  int64_t out_features_;
  Variable weight_;
  Variable bias_;
};

}  // namespace lnx

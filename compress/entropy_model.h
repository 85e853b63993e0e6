// Entropy models: a learned probability for integer latent values, one independent density per
// channel (the position within a kernel slice: 9 channels for conv3x3, 1 for dense). The rate
// loss, the size estimate and the range coder's tables all come from this interface.
#pragma once

#include <string>
#include <utility>
#include <vector>

#include "autograd/variable.h"
#include "layers/module.h"

namespace lnx {

// A Module, so its parameters appear in state dicts (groups.conv3x3.prior.params); the trainer
// gives them their own optimizer.
class EntropyModel : public Module {
 public:
  explicit EntropyModel(std::string type_name) : Module(std::move(type_name)) {}
  virtual std::string kind() const = 0;
  virtual int64_t channels() const = 0;

  // Total self-information in bits of `values` (M, C): sum over elements of
  // -log2(P_c(v)) with P_c(v) = F_c(v + 1/2) - F_c(v - 1/2), clamped to [0, 50] bits.
  // Differentiable in both the values and the model's parameters.
  virtual Variable bits(const Variable& values) const = 0;
  // The same, per element, without gradients: (M, C) -> (M, C).
  virtual Tensor bits_per_element(const Tensor& values) const = 0;
  // The cumulative function F_c(x) for x of shape (M, C): what coder tables are built from.
  virtual Tensor cdf(const Tensor& x) const = 0;
};

}  // namespace lnx

// Shape-only modules: Flatten (axes start..end merged into one) and Identity.
#pragma once

#include <cstdint>
#include <string>

#include "layers/module.h"

namespace lnx {

class Flatten : public Module {
 public:
  // Defaults keep the batch axis: (N, C, H, W) -> (N, C*H*W), like torch.nn.Flatten.
  explicit Flatten(int64_t start_axis = 1, int64_t end_axis = -1)
      : Module("Flatten"), start_axis_(start_axis), end_axis_(end_axis) {}
  Variable forward(const Variable& x) override;
  std::string extra_repr() const override;

 private:
  int64_t start_axis_;
  int64_t end_axis_;
};

// Passes its input through: a placeholder where a block has nothing to do (e.g. a shortcut).
class Identity : public Module {
 public:
  Identity() : Module("Identity") {}
  Variable forward(const Variable& x) override { return x; }
};

}  // namespace lnx

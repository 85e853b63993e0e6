// Element-wise activations as modules, so they show up in Sequential and printouts.
#pragma once

#include "layers/module.h"

namespace lnx {

class ReLU : public Module {
 public:
  ReLU() : Module("ReLU") {}
  Variable forward(const Variable& x) override;
};

// min(max(x, 0), 6): MobileNet-V2's activation.
class ReLU6 : public Module {
 public:
  ReLU6() : Module("ReLU6") {}
  Variable forward(const Variable& x) override;
};

}  // namespace lnx

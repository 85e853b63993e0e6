// Dropout: zeroes each element with probability p in training and scales the kept ones by
// 1 / (1 - p); the identity in eval.
#pragma once

#include <string>

#include "layers/module.h"

namespace lnx {

class Generator;

class Dropout : public Module {
 public:
  // `gen` (not owned, may be null for the global generator) must outlive the module.
  explicit Dropout(double p = 0.5, Generator* gen = nullptr);
  Variable forward(const Variable& x) override;
  std::string extra_repr() const override;
  double p() const { return p_; }

 private:
  double p_;
  Generator* gen_;
};

}  // namespace lnx

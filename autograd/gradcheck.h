// Finite-difference gradient check. The loss is L = sum(f(x) * r) with a random upstream
// gradient r; for each checked element, the backward gradient dL/dx is compared with the central
// difference (L(x+eps) - L(x-eps)) / 2eps, accumulated in double precision. Tensors are float32,
// so eps and the tolerances are sized for float32 round-off. Elements where the two one-sided
// differences disagree sit on a kink (ReLU at 0, round, max ties) and are skipped.
#pragma once

#include <functional>
#include <string>
#include <vector>

#include "autograd/variable.h"

namespace lnx {

struct GradcheckOptions {
  double eps = 1e-2;
  double rtol = 2e-2;
  double atol = 2e-3;
  int64_t max_elements = 64;     // per input, spread evenly over the tensor
  double kink_tolerance = 0.05;  // relative disagreement of one-sided slopes that marks a kink
  uint64_t seed = 1234;          // for the upstream gradient
};

struct GradcheckResult {
  bool ok = true;
  int64_t checked = 0;
  int64_t skipped_kinks = 0;
  std::string report;  // the first mismatches, one per line
};

using GradcheckFn = std::function<Variable(const std::vector<Variable>&)>;

// Checks the gradient of f with respect to every input (all made leaves requiring grad, unless
// listed in `constant_inputs`).
GradcheckResult gradcheck(const GradcheckFn& f, const std::vector<Tensor>& inputs,
                          const GradcheckOptions& options = {},
                          const std::vector<size_t>& constant_inputs = {});

}  // namespace lnx

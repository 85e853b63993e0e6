// Adam exactly as torch.optim.Adam (amsgrad off): weight decay is L2 added to the gradient,
// g = grad + wd * p; m = b1*m + (1-b1)*g; v = b2*v + (1-b2)*g*g;
// p -= lr / (1 - b1^t) * m / (sqrt(v) / sqrt(1 - b2^t) + eps), t counted per parameter.
#pragma once

#include <string>
#include <vector>

#include "layers/optim/optimizer.h"

namespace lnx {

struct AdamOptions {
  double lr = 1e-3;
  double beta1 = 0.9;
  double beta2 = 0.999;
  double eps = 1e-8;
  double weight_decay = 0.0;
};

struct AdamParamGroup {
  std::vector<Variable> params;
  AdamOptions options;
  std::string name;
};

class Adam : public Optimizer {
 public:
  Adam(std::vector<Variable> params, const AdamOptions& options);
  explicit Adam(std::vector<AdamParamGroup> groups);

  void step() override;
  AdamOptions options(size_t g) const;  // with the group's current lr and weight decay
  int64_t step_count(size_t k) const;   // steps taken by parameter k (0 before its first)

 protected:
  std::vector<StateSpec> state_specs() const override;
  Tensor& state(size_t k, const std::string& name) override;
  const Tensor& state(size_t k, const std::string& name) const override;

 private:
  struct ParamState {
    Tensor exp_avg;     // like the parameter
    Tensor exp_avg_sq;  // like the parameter
    Tensor step;        // int64 scalar on the host
  };
  std::vector<AdamOptions> options_;
  std::vector<ParamState> state_;
};

}  // namespace lnx

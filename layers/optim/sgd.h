// SGD with momentum, dampening, Nesterov momentum and L2 weight decay, exactly as
// torch.optim.SGD: with d = grad + wd * p,
//   buf = d (first step) or momentum * buf + (1 - dampening) * d,
//   d = d + momentum * buf (Nesterov) or buf,   p -= lr * d.
#pragma once

#include <string>
#include <vector>

#include "layers/optim/optimizer.h"

namespace lnx {

struct SGDOptions {
  double lr = 0.01;
  double momentum = 0.0;
  double dampening = 0.0;
  double weight_decay = 0.0;
  bool nesterov = false;
};

struct SGDParamGroup {
  std::vector<Variable> params;
  SGDOptions options;
  std::string name;
};

class SGD : public Optimizer {
 public:
  SGD(std::vector<Variable> params, const SGDOptions& options);
  explicit SGD(std::vector<SGDParamGroup> groups);

  void step() override;
  // The group's options with its current lr and weight decay.
  SGDOptions options(size_t g) const;

 protected:
  std::vector<StateSpec> state_specs() const override;
  Tensor& state(size_t k, const std::string& name) override;
  const Tensor& state(size_t k, const std::string& name) const override;

 private:
  std::vector<SGDOptions> options_;      // per group; lr/weight_decay live in the base group
  std::vector<Tensor> momentum_buffer_;  // per parameter, like the parameter
};

}  // namespace lnx

// Optimizer: updates parameters in place from their gradients. Parameters come in groups, each
// with its own learning rate and weight decay (e.g. LilNetX trains latents, decoders and priors
// at different rates); the optimizer-specific options live in the derived class.
//
// state_dict() holds everything a resumed run needs to take bit-identical steps: per-parameter
// state under "state.<k>.<name>" (k counts parameters across groups in order) and per-group
// hyper-parameters under "group.<g>.<name>".
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "autograd/variable.h"
#include "layers/state_dict.h"

namespace lnx {

struct ParamGroup {
  std::vector<Variable> params;
  double lr = 0.0;
  double weight_decay = 0.0;
  double initial_lr = 0.0;  // the lr at construction: what set_lr_factor scales
  std::string name;         // for logs; "group<g>" when none is given
};

class Optimizer {
 public:
  virtual ~Optimizer() = default;
  Optimizer(const Optimizer&) = delete;
  Optimizer& operator=(const Optimizer&) = delete;

  // One update of every parameter that has a gradient; parameters without one are skipped.
  virtual void step() = 0;
  void zero_grad();

  const std::string& type_name() const { return type_name_; }
  size_t num_groups() const { return groups_.size(); }
  const ParamGroup& group(size_t g) const;
  double lr(size_t g = 0) const { return group(g).lr; }
  void set_lr(double lr);  // every group
  void set_lr(size_t g, double lr);
  // lr of each group = its initial lr * factor: how a schedule drives groups of different rates.
  void set_lr_factor(double factor);
  std::vector<Variable> parameters() const;  // across groups, in state-dict order

  StateDict state_dict() const;
  // Checks every key and shape against this optimizer before changing anything.
  void load_state_dict(const StateDict& dict);

  // The CPU update runs one fused loop per parameter; off forces the per-op Tensor path that
  // other devices use (tests compare the two).
  void set_fused(bool on) { fused_ = on; }

 protected:
  Optimizer(std::string type_name, std::vector<ParamGroup> groups);

  // Per-parameter state, k indexing parameters() and `state` a name such as "momentum_buffer".
  // Derived classes list what they keep and expose the tensors by reference, so the base can
  // save, validate and restore them in one place. An undefined tensor means "not started yet".
  struct StateSpec {
    std::string name;
    bool per_element;  // true: float32 of the parameter's shape and device; false: int64 scalar
  };
  virtual std::vector<StateSpec> state_specs() const = 0;
  virtual Tensor& state(size_t k, const std::string& name) = 0;
  virtual const Tensor& state(size_t k, const std::string& name) const = 0;

  // Whether the fused raw-pointer loop may handle a parameter: CPU, contiguous, float32.
  bool use_fused(const Tensor& param, const Tensor& grad) const;
  size_t param_index(size_t g, size_t i) const { return offsets_[g] + i; }

  std::vector<ParamGroup> groups_;

 private:
  std::string type_name_;
  std::vector<size_t> offsets_;  // first parameter index of each group
  size_t num_params_ = 0;
  bool fused_ = true;
};

// Scales gradients in place so their global 2-norm (or max-norm when norm_type is infinity) is
// at most max_norm, like torch.nn.utils.clip_grad_norm_. Returns the norm before clipping.
double clip_grad_norm(const std::vector<Variable>& params, double max_norm, double norm_type = 2.0);

// Options are doubles; the Tensor types have no float64, so state dicts keep them as the raw
// bits in an int64 scalar, which restores them exactly.
Tensor double_to_tensor(double value);
double tensor_to_double(const Tensor& t);

}  // namespace lnx

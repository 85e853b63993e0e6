// Structured-sparsity priors: penalties on a layer's continuous latents that drive whole kernel
// slices (or single weights) to zero after rounding (method.md section 3). They are chosen by
// name from the config; a new prior is one class plus one line in builtin_priors() of
// sparsity_prior.cpp (docs/extending.md walks through it).
#pragma once

#include <functional>
#include <memory>
#include <string>
#include <vector>

#include "autograd/variable.h"

namespace lnx {

class SparsityPrior {
 public:
  virtual ~SparsityPrior() = default;
  virtual std::string name() const = 0;
  // Unweighted penalty of one layer's latent (O, I, k, k) or (O, I); the caller multiplies by
  // the configured weight.
  virtual Variable penalty(const Variable& latent) const = 0;
};

using SparsityPriorFactory = std::function<std::unique_ptr<SparsityPrior>()>;

// Builds a registered prior; an unknown name is an error listing the registered ones.
std::unique_ptr<SparsityPrior> make_sparsity_prior(const std::string& name);
std::vector<std::string> sparsity_prior_names();
// Adds (or replaces) a prior at run time, e.g. from a research script.
void register_sparsity_prior(const std::string& name, SparsityPriorFactory factory);

// Rows of a latent viewed as slices: (O*I, k*k) for convolutions, (O*I, 1) for dense layers.
Variable latent_slices(const Variable& latent);

// The built-in priors.
class SliceNormPrior final : public SparsityPrior {  // sum over slices of ||L_s||_p
 public:
  explicit SliceNormPrior(double p) : p_(p) {}
  std::string name() const override;
  Variable penalty(const Variable& latent) const override;

 private:
  double p_;
};

class L1Prior final : public SparsityPrior {  // sum |L|
 public:
  std::string name() const override { return "l1"; }
  Variable penalty(const Variable& latent) const override;
};

class L2DecayPrior final : public SparsityPrior {  // sum L^2
 public:
  std::string name() const override { return "l2_decay"; }
  Variable penalty(const Variable& latent) const override;
};

}  // namespace lnx

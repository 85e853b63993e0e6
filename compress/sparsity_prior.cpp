#include "compress/sparsity_prior.h"

#include <limits>
#include <map>
#include <mutex>

#include "autograd/ops.h"

namespace lnx {
namespace {

std::map<std::string, SparsityPriorFactory> builtin_priors() {
  const double inf = std::numeric_limits<double>::infinity();
  return {
      {"slice_l2", [] { return std::make_unique<SliceNormPrior>(2.0); }},
      {"slice_l1", [] { return std::make_unique<SliceNormPrior>(1.0); }},
      {"slice_linf", [inf] { return std::make_unique<SliceNormPrior>(inf); }},
      {"l1", [] { return std::make_unique<L1Prior>(); }},
      {"l2_decay", [] { return std::make_unique<L2DecayPrior>(); }},
  };
}

struct Registry {
  std::mutex mu;
  std::map<std::string, SparsityPriorFactory> factories = builtin_priors();
};

Registry& registry() {
  static Registry r;
  return r;
}

}  // namespace

std::unique_ptr<SparsityPrior> make_sparsity_prior(const std::string& name) {
  Registry& r = registry();
  std::lock_guard<std::mutex> lock(r.mu);
  const auto it = r.factories.find(name);
  if (it == r.factories.end()) {
    std::string known;
    for (const auto& [n, f] : r.factories) known += (known.empty() ? "" : ", ") + n;
    fail("sparsity prior: unknown name '", name, "', expected one of: ", known);
  }
  return it->second();
}

std::vector<std::string> sparsity_prior_names() {
  Registry& r = registry();
  std::lock_guard<std::mutex> lock(r.mu);
  std::vector<std::string> names;
  for (const auto& [n, f] : r.factories) names.push_back(n);
  return names;
}

void register_sparsity_prior(const std::string& name, SparsityPriorFactory factory) {
  LNX_CHECK(!name.empty() && factory, "register_sparsity_prior: need a name and a factory");
  Registry& r = registry();
  std::lock_guard<std::mutex> lock(r.mu);
  r.factories[name] = std::move(factory);
}

Variable latent_slices(const Variable& latent) {
  LNX_CHECK(latent.dim() == 2 || latent.dim() == 4, "sparsity prior: latent of shape ",
            to_string(latent.shape()), ", expected (O, I, k, k) or (O, I)");
  const int64_t slice = latent.dim() == 4 ? latent.size(2) * latent.size(3) : 1;
  return reshape(latent, {latent.size(0) * latent.size(1), slice});
}

std::string SliceNormPrior::name() const {
  if (p_ == 1.0) return "slice_l1";
  if (p_ == 2.0) return "slice_l2";
  return "slice_linf";
}

Variable SliceNormPrior::penalty(const Variable& latent) const {
  return sum(norm(latent_slices(latent), p_, 1));
}

Variable L1Prior::penalty(const Variable& latent) const {
  return sum(abs(latent));
}

Variable L2DecayPrior::penalty(const Variable& latent) const {
  return sum(square(latent));
}

}  // namespace lnx

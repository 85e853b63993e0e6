// The LilNetX training objective beyond cross-entropy (method.md sections 2-3): the rate loss
// (bits of every group's latents under its prior, with uniform noise while training, normalised
// per slice), slice-norm sparsity priors and L2 decay on the latents of the configured groups.
#pragma once

#include <memory>
#include <string>
#include <vector>

#include "compress/compression_group.h"
#include "compress/sparsity_prior.h"
#include "compress/sparsity_stats.h"
#include "core/random.h"

namespace lnx {

// What the rate loss and the size estimate charge (losses.rate_model). Factorized: every latent
// under its group's prior (method.md section 2). SliceFlags: in groups of multi-value slices, a
// flag per slice (is any of its rounded values non-zero?) at the entropy of the group's flag
// frequencies, then the prior's bits of the non-zero slices' values only, which is how .lnx
// version 3 codes them; the prior then learns the non-zero slices' distribution.
enum class RateModel { Factorized, SliceFlags };
RateModel parse_rate_model(const std::string& name);  // "factorized" / "slice_flags"

struct ObjectiveConfig {
  double rate_weight = 1e-4;                     // losses.reg_weight, lambda_I
  RateModel rate_model = RateModel::Factorized;  // losses.rate_model
  double slice_weight = 1e-6;                    // losses.gd.weights, lambda_S
  std::string slice_prior = "slice_l2";          // losses.gd.order l1 / l2 / linf -> slice_l1 / ...
  bool slice_l1 = false;  // losses.gd.enable_l1: an extra L1 term, same weight
  std::vector<std::string> slice_groups = {"conv3x3"};
  double decay_weight = 1e-6;  // losses.wd.weights on latents, lambda_wd
  std::vector<std::string> decay_groups = {"conv1x1", "conv3x3", "dense"};
};

struct ObjectiveTerms {
  Variable total;   // rate + slice + decay losses, differentiable
  double bits = 0;  // the rate's bits (noisy in training)
  double rate_loss = 0, slice_loss = 0, decay_loss = 0;
};

class LilnetxObjective {
 public:
  // Throws when a weight is negative or the slice prior is unknown. Groups listed but absent
  // from this network are skipped ("dense" also selects VGG's dense1..dense3).
  LilnetxObjective(const GroupSet& groups, ObjectiveConfig config);
  // rate_scale multiplies rate_weight (the linear warm-up of losses.reg_weight_warmup).
  ObjectiveTerms compute(bool training, double rate_scale, Generator* noise) const;
  const ObjectiveConfig& config() const { return config_; }

 private:
  const GroupSet& groups_;
  ObjectiveConfig config_;
  std::vector<std::unique_ptr<SparsityPrior>> slice_priors_;
  std::unique_ptr<SparsityPrior> decay_;
  int64_t total_slices_ = 0;
};

// Whether a config's group entry selects the network's group `name`.
bool group_selected(const std::vector<std::string>& entries, const std::string& name);

struct GroupReport {
  std::string name;
  int64_t slices = 0, elements = 0;
  double prior_bits = 0;      // self-information of round(L) under the learned prior (and flags)
  double empirical_bits = 0;  // per-channel entropy of the values actually present
  // With a flag per slice first and per-channel entropy over the non-zero slices (.lnx version
  // 3's slice flags), or empirical_bits when that is smaller.
  double slice_flag_bits = 0;
};

struct CompressionReport {
  std::vector<GroupReport> groups;
  double prior_bytes = 0, empirical_bytes = 0, slice_flag_bytes = 0;
  SparsityStats latents;  // of round(L), over the convolutions
  SparsityStats weights;  // of the decoded weights, over the convolutions
};

// Measured without gradients; FLOPs use each convolution's output size from its last forward.
// prior_bits follow `model`.
CompressionReport compression_report(const GroupSet& groups,
                                     RateModel model = RateModel::Factorized);

// The bits of a group's rows (M, C) under `model`, differentiable in `values` and the prior.
// `values` are the rows as the rate sees them (noisy in training, rounded in evaluation);
// `rounded` (M, C) decides which slices are zero. Under SliceFlags a zero slice's values get no
// gradient and the prior no signal from them.
Variable group_rate_bits(const CompressionGroup& group, const Variable& values,
                         const Tensor& rounded, RateModel model);

}  // namespace lnx

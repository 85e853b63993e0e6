// Sparse inference (method.md section 4, "real inference time of a kernel that skips them"):
// an inference-only plan built from a trained network's decoded weights and eval-mode batch
// norms. Batch norm is folded into each convolution; channels that cannot matter are removed;
// the remaining convolutions skip their all-zero (out, in) slices (core/cpu/sparse_conv.h).
//
// Exactness. A block-internal channel (conv1's output, conv2's input) whose conv1 filter is zero
// is the constant relu(beta - gamma * mean / sqrt(var + eps)). It is removed and its effect on
// conv2 is kept exactly as a per-pixel bias map (a constant image convolved with conv2's slices:
// zero padding makes border pixels differ from the interior, so a per-channel bias would not be
// exact). Channels of the residual stream are never removed: a zero conv2 filter still outputs
// its batch norm's constant, which is added to the shortcut (option A: subsample and zero-pad),
// and the kernel produces it for free. Channels conv2 never reads are not computed by conv1.
//
// Supported: the CIFAR ResNets (resnet20, 32, 44, 56, ...), float or LilNetX form. Any other
// network gets a plan that runs the module itself (dense, eval mode); note() says so.
#pragma once

#include <cstdint>
#include <map>
#include <string>
#include <utility>
#include <vector>

#include "autograd/variable.h"
#include "core/cpu/sparse_conv.h"
#include "layers/module.h"

namespace lnx {

class Generator;

enum class SparseMode {
  Dense,       // folded batch norm, every channel kept, the dense kernel: the baseline
  Structured,  // removed channels, the dense kernel on what is left
  Sparse       // removed channels, the slice-skipping kernel where slices are sparse enough
};

struct SparsePlanOptions {
  SparseMode mode = SparseMode::Sparse;
  // Sparse mode: a convolution whose kept slices are denser than this runs the dense kernel.
  double max_sparse_density = 0.85;
  // Images pushed through the whole network at a time, one chunk per thread: small chunks keep
  // every activation in cache (a batch of 128 ResNet-20 activations is 8 MB a layer and makes
  // sparse layers memory-bound). 0: the whole batch at once, each layer spread over threads.
  int64_t chunk = 4;
};

// One convolution of the plan with its folded batch norm.
struct PlanConv {
  std::string name;
  Conv2dParams params;
  int64_t out_channels = 0, in_channels = 0;  // of the original layer
  std::vector<int64_t> kept_out;              // original output channels computed
  std::vector<int64_t> kept_in;               // original input channels read (plan inputs)
  Tensor weight;                              // (kept out, kept in, KH, KW), folded
  Tensor bias;                                // (kept out)
  bool relu = false;
  bool sparse_kernel = false;
  SparseConvWeights packed;
  int64_t nonzero_slices = 0;  // of weight
  // Removed constant input channels: their values and conv slices (kept out, Z, KH, KW).
  Tensor const_values;  // (Z)
  Tensor const_weight;
  std::map<std::pair<int64_t, int64_t>, Tensor> bias_maps;  // by input (H, W)

  // x (N, kept in, H, W) -> (N, kept out, OH, OW); residual (N, kept out, OH, OW) is added
  // before the relu when defined.
  Tensor forward(const Tensor& x, const Tensor& residual = Tensor());
  // The removed constant channels' per-pixel contribution for an (h, w) input, built on first
  // use; undefined when no input channel was removed.
  Tensor bias_map(int64_t h, int64_t w);
};

class SparsePlan {
 public:
  // Reads net's weights (decoded for latent layers) and batch-norm running statistics now;
  // later changes to net are not seen.
  static SparsePlan build(const ModulePtr& net, const SparsePlanOptions& options = {});
  // Whether build() makes a real plan for net; why names what is missing otherwise.
  static bool supports(const Module& net, std::string* why = nullptr);

  Tensor run(const Tensor& x);  // (N, 3, H, W) -> (N, classes) logits
  Variable forward(const Tensor& x) { return Variable(run(x)); }  // for `lilnetx eval --sparse`
  bool is_fallback() const { return fallback_ != nullptr; }
  const std::string& note() const { return note_; }
  // One line per convolution: channels kept, slice density, kernel.
  std::string summary() const;
  const std::vector<PlanConv>& convs() const { return convs_; }

 private:
  struct Block {
    size_t conv1, conv2;  // indices into convs_
    int64_t stride, pad_channels;
  };
  std::vector<PlanConv> convs_;  // stem first, then conv1, conv2 of each block
  std::vector<Block> blocks_;
  Tensor run_chunk(const Tensor& x);
  void prepare_bias_maps(int64_t h, int64_t w);  // for an (h, w) network input
  Tensor fc_weight_, fc_bias_;                   // (classes, C), (classes)
  int64_t chunk_ = 0;
  ModulePtr fallback_;
  std::string note_;
};

// Zeroes each (out, in) slice of w (O, I, KH, KW) with probability `fraction`, in place: the
// sparsity pattern the tests and `lilnetx bench sparse` impose on a network.
void zero_random_slices(const Tensor& w, double fraction, Generator& gen);

}  // namespace lnx

// Sparse inference (method.md section 4, "real inference time of a kernel that skips them"):
// an inference-only plan built from a trained network's decoded weights and eval-mode batch
// norms. Batch norm is folded into each convolution; channels that cannot matter are removed;
// the remaining convolutions skip their all-zero (out, in) slices (core/cpu/sparse_conv.h).
//
// Exactness. A channel inside a residual branch (conv1's output, conv2's input, and in a
// bottleneck conv2's output) whose filter is zero is the constant relu(beta - gamma * mean /
// sqrt(var + eps)). It is removed and its effect on the next convolution is kept exactly as a
// per-pixel bias map (a constant image convolved with that convolution's slices: zero padding
// makes border pixels differ from the interior, so a per-channel bias would not be exact).
// Channels of the residual stream are never removed: a zero filter of the branch's last
// convolution still outputs its batch norm's constant, which is added to the shortcut (option A:
// subsample and zero-pad; or the projection, a 1x1 convolution with its batch norm folded), and
// the kernel produces it for free. Channels the next convolution never reads are not computed.
//
// VGG (with or without batch norm) is a chain: each convolution's removed channels are the next
// one's constant inputs, kept exactly as bias maps (max pooling keeps a constant image constant),
// and the last convolution's constants fold into the first classifier layer's bias.
//
// MobileNet-V2's inverted residuals: a hidden channel the projection never reads is computed by
// neither the expansion nor the depthwise convolution; one whose depthwise filter is zero is the
// constant relu6 of its shift, a constant input of the projection. (A zero expansion filter alone
// leaves the channel computed: the depthwise convolution of a constant is not constant at the
// borders.) The last 1x1 convolution's constants fold into the classifier's bias.
//
// Supported: the CIFAR ResNets (resnet20, 32, 44, 56, ...), the ImageNet ResNets (18, 34, 50),
// VGG-11/13/16/19 (with or without batch norm) and MobileNet-V2, float or LilNetX form. Any other
// network (small_cnn) gets a plan that runs the module itself (dense, eval mode); note() says so.
#pragma once

#include <cstdint>
#include <functional>
#include <optional>
#include <string>
#include <vector>

#include "autograd/variable.h"
#include "compress/plan_conv.h"
#include "layers/module.h"

namespace lnx {

class Generator;

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
  enum class Topology { ResNet, Chain };
  // A block over the stream: branch(x) + shortcut(x), through the last convolution's relu if it
  // has one (ResNets; MobileNet-V2's inverted residuals have none, and no shortcut when they
  // change the shape).
  struct Block {
    std::vector<size_t> branch;  // convs_ indices; the last one adds the shortcut
    bool shortcut = true;
    std::optional<size_t> projection;      // convs_ index of the downsample convolution, if any
    int64_t stride = 1, pad_channels = 0;  // otherwise option A: subsample and zero-pad
  };
  // One layer of the classifier head: x (N, in) -> x W^T + b, then a relu when set.
  struct Dense {
    Tensor weight;  // (out, in)
    Tensor bias;    // (out), undefined without one
    bool relu = false;
    Tensor forward(const Tensor& x) const;
  };
  void build_resnet(const Module& net, const SparsePlanOptions& opt);
  void build_mobilenet(const Module& net, const SparsePlanOptions& opt);
  void build_vgg(const Module& net, const SparsePlanOptions& opt);
  // Whether the first head layer reads input feature h; folding a ChannelSplit of the last
  // convolution into it (kept columns stay, constant ones become bias).
  std::function<bool(int64_t)> head_reads() const;
  void fold_into_head(const ChannelSplit& split);
  Tensor run_chunk(const Tensor& x);

  // ResNet (and MobileNet-V2): the stem (with its max pool in pools_[0], if any), then each
  // block's branch and projection, as blocks_ lists them, then the tail_ convolutions. Chain
  // (VGG): the convolutions in order, each followed by pools_[i] when set.
  Topology topology_ = Topology::ResNet;
  std::vector<PlanConv> convs_;
  std::vector<Block> blocks_;
  std::vector<size_t> tail_;
  std::vector<std::optional<Pool2dParams>> pools_;
  // Read from the global average of the last feature map (ResNet) or from the flattened 1x1 map
  // (VGG, whose features end at 1x1).
  std::vector<Dense> head_;
  int64_t chunk_ = 0;
  ModulePtr fallback_;
  std::string note_;
};

// Zeroes each (out, in) slice of w (O, I, KH, KW) with probability `fraction`, in place: the
// sparsity pattern the tests and `lilnetx bench sparse` impose on a network.
void zero_random_slices(const Tensor& w, double fraction, Generator& gen);

}  // namespace lnx

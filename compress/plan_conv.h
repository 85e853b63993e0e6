// One convolution of a sparse plan (compress/sparse_inference.h) and how it is made: a trained
// convolution with its eval-mode batch norm folded in, restricted to the output channels its
// readers need and the input channels its producer computes, with the removed constant inputs
// kept as per-pixel bias maps, on the dense or the slice-skipping kernel.
#pragma once

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <functional>
#include <map>
#include <string>
#include <utility>
#include <vector>

#include "core/cpu/sparse_conv.h"
#include "layers/module.h"

namespace lnx {

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
  float relu_max = INFINITY;  // relu6: 6
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

// ---- building blocks of SparsePlan::build ----

// Float or latent layers alike.
bool is_conv(const Module& m);
bool is_linear(const Module& m);
template <typename M>
bool is(const Module& m) {
  return dynamic_cast<const M*>(&m) != nullptr;
}

// The bias of a convolution or linear layer, contiguous; undefined without one.
Tensor bias_param(const Module& m);
// The weight a linear layer computes with (decoded for a latent layer), (out, in).
Tensor linear_weight(const Module& m, const std::string& name);

// A convolution with its batch norm folded in: host copies of the weight and bias, for finding
// zero slices and filters and gathering the kept ones.
struct Folded {
  std::string name;
  Conv2dParams p;
  std::vector<float> w;  // (O, I, K, K)
  std::vector<float> b;  // (O)
  int64_t o, i, kk;
  const float* slice(int64_t oc, int64_t ic) const { return w.data() + (oc * i + ic) * kk; }
  bool slice_zero(int64_t oc, int64_t ic) const {
    const float* s = slice(oc, ic);
    return std::all_of(s, s + kk, [](float v) { return v == 0.0f; });
  }
};

// conv then batch norm (when bn is set), folded: w * scale and bias * scale + shift per output
// channel. Zero slices stay exactly zero (scale times 0).
Folded fold(const Module& conv, const std::string& name, const Module* bn,
            const std::string& bn_name);
// Whether output channel oc's whole filter is zero.
bool filter_zero(const Folded& f, int64_t oc);
// Whether any output channel of f has a non-zero slice on input channel ic.
bool input_read(const Folded& f, int64_t ic);
std::vector<int64_t> iota_vec(int64_t n);  // 0, 1, ..., n - 1

// How the consumers of a relu'd convolution's output channels see them: `kept` channels are
// computed; `constant` ones have a zero filter, so they are min(relu(bias), relu_max) everywhere,
// and are added by the consumers instead (values in const_values); the rest are never read or
// constant zeros.
// read(h): whether any consumer has a non-zero weight on channel h. Unstructured (the Dense
// baseline): every channel kept.
struct ChannelSplit {
  std::vector<int64_t> kept, constant;
  std::vector<float> const_values;
};
ChannelSplit split_channels(const Folded& f, const std::function<bool(int64_t)>& read,
                            bool structured, float relu_max = INFINITY);

// Weight rows `outs` and columns `ins` of f, as a (outs, ins, k, k) tensor.
Tensor gather_weight(const Folded& f, const std::vector<int64_t>& outs,
                     const std::vector<int64_t>& ins, int64_t k);
// The plan's convolution computing outputs `outs` from inputs `ins` of f, on the slice-skipping
// kernel when opt allows it and its kept slices are sparse enough.
PlanConv make_conv(const Folded& f, std::vector<int64_t> outs, std::vector<int64_t> ins, bool relu,
                   const SparsePlanOptions& opt);
// Makes c (computing f's outputs c.kept_out) add its producer's constant channels `in.constant`
// (values in.const_values) as bias maps.
void add_constant_inputs(PlanConv& c, const Folded& f, const ChannelSplit& in);
// A depthwise convolution (groups = channels) of f restricted to channels `kept`: it reads and
// writes those channels only. Always on the dense kernel.
PlanConv make_depthwise(const Folded& f, std::vector<int64_t> kept, bool relu);

}  // namespace lnx

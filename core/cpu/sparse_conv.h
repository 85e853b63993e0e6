// Slice-sparse 2-D convolution (LilNetX, method.md section 4): a weight whose (out, in) kernel
// slices are mostly all-zero is packed per input channel as the list of output channels it feeds,
// and the kernel only visits those slices. Forward only (the CPU backend also runs the input
// gradient of a stride-1 convolution through it, as a convolution), CPU, groups = 1, dilation 1.
#pragma once

#include <cstdint>
#include <vector>

#include "core/backend.h"
#include "core/tensor.h"

namespace lnx {

struct SparseConvWeights {
  int64_t out_channels = 0, in_channels = 0, kh = 0, kw = 0;
  // The non-zero slices of input channel c are entries [begin[c], begin[c + 1]).
  std::vector<int64_t> begin;  // (in_channels + 1)
  std::vector<int32_t> out;    // (entries) the output channel of each entry
  std::vector<float> taps;     // (entries, kh * kw)
  int64_t entries() const { return static_cast<int64_t>(out.size()); }
};

// Packs the non-zero (out, in) slices of w (O, I, KH, KW), a float32 CPU tensor.
SparseConvWeights pack_sparse_conv(const Tensor& w);

// y (N, O, OH, OW) = conv2d(x, w) + bias[o] + bias_map[o, oh, ow] + residual, then max(., 0)
// when relu. x (N, I, H, W) float32 on the CPU; bias (O), bias_map (O, OH, OW) and residual
// (N, O, OH, OW) may be undefined. Throws for groups or dilation other than 1 and for shape
// mismatches.
Tensor sparse_conv2d(const Tensor& x, const SparseConvWeights& w, const Tensor& bias,
                     const Tensor& bias_map, const Conv2dParams& p, bool relu,
                     const Tensor& residual = Tensor());

// Whether the slice-skipping kernel beats the dense one on a whole batch (the training case:
// activations in memory, not cache) for a 3x3 convolution with out_pixels = OH * OW that keeps
// `density` of its slices.
bool slice_skipping_pays(int64_t out_pixels, double density);

// For the CPU backend: y (N, O, OH, OW) = conv2d(x, w) + bias through the slice-skipping kernel
// when w (O, I, 3, 3) is sparse enough for that to pay (slice_skipping_pays); returns false and
// leaves y alone otherwise, or for geometries the kernel does not take. x, w, y contiguous.
bool conv2d_skipping_slices(const Tensor& x, const Tensor& w, const Tensor& bias,
                            const Conv2dParams& p, const Tensor& y);

}  // namespace lnx

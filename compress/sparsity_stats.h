// Sparsity and computation of a layer's weight (method.md section 4): element, slice,
// input-channel and output-channel sparsity, and the multiply-accumulates of a convolution
// dense and counting only non-zero (out, in) slices. "FLOPs" in our reports are
// multiply-accumulates, as in the LilNetX and ResNet papers (ResNet-20: about 41 M).
#pragma once

#include <cstdint>

#include "core/tensor.h"

namespace lnx {

struct SparsityStats {
  int64_t elements = 0, zero_elements = 0;
  int64_t slices = 0, zero_slices = 0;              // (out, in) kernel slices
  int64_t in_channels = 0, zero_in_channels = 0;    // zero in every output's slice
  int64_t out_channels = 0, zero_out_channels = 0;  // whole filter zero
  double dense_flops = 0, sparse_flops = 0;

  SparsityStats& operator+=(const SparsityStats& o);
  double element_sparsity() const { return ratio(zero_elements, elements); }
  double slice_sparsity() const { return ratio(zero_slices, slices); }
  double in_channel_sparsity() const { return ratio(zero_in_channels, in_channels); }
  double out_channel_sparsity() const { return ratio(zero_out_channels, out_channels); }
  double flops_reduction() const { return sparse_flops > 0 ? dense_flops / sparse_flops : 0; }

 private:
  static double ratio(int64_t a, int64_t b) { return b ? static_cast<double>(a) / b : 0.0; }
};

// weight: (O, I/groups, kh, kw) for a convolution or (O, I) for a dense layer (a slice is one
// weight). output_pixels: H_out * W_out of the convolution (1 for a dense layer).
SparsityStats measure_sparsity(const Tensor& weight, int64_t output_pixels, int64_t groups = 1);

}  // namespace lnx

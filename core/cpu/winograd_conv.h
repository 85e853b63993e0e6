// The 3x3, stride-1 convolution as Winograd's F(2x2, 3x3) (Lavin and Gray, "Fast Algorithms for
// Convolutional Neural Networks", 2016): each 2x2 block of output pixels comes from its 4x4 input
// patch through 16 channel-mixing products instead of 36, so the FLOPs that dominate a layer of
// many channels drop 2.25x, at the price of transforming the input, weight and output tiles.
//
//   V = B^T d B (input patch, 4x4)   U = G g G^T (kernel, 3x3 -> 4x4)   Y = A^T M A (2x2)
//   M[xi] = sum over input channels of U[xi] * V[xi], one product per xi of the 16 positions,
//
// each product running on the direct convolution's micro-kernel (direct_gemm.h). The stride-1
// input gradient is a stride-1 convolution too (conv.cpp), so it takes this path as well.
#pragma once

#if defined(__AVX512F__)
#include "core/cpu/conv_geometry.h"

namespace lnx::cpu {

// Whether the Winograd kernel serves g: a 3x3 kernel at stride and dilation 1, one group, an
// even output size, and 64 channels or more in and out: the transforms cost in proportion to
// the channels, the products to their product, and at 32 channels the direct kernel was faster
// (docs/benchmarks.md).
bool winograd_suits(const Geom& g);

// y (N, O, OH, OW) = the convolution of x (N, C, H, W) with w (O, C, 3, 3) plus bias (O, or null
// for none). The sums are grouped differently from the direct kernel's, so the results agree
// with it up to float rounding, not bit for bit.
void winograd_forward(const float* x, const Geom& g, const float* w, const float* bias, float* y);

}  // namespace lnx::cpu
#endif

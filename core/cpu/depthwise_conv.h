// Depthwise 2-D convolution (one input and one output channel per group, MobileNet-V2's 3x3
// layers) as vector loops over each channel's zero-padded planes, all images at once. Through the
// general kernels each channel was a product with one output channel and nine taps of depth, at
// its slowest in the input gradient (col2im) and on 2x2 and 4x4 planes. Measured against them in
// one process (docs/benchmarks.md): the input gradient 1.2-6x faster, the stride-1 weight
// gradient 1.7-2x, the stride-1 forward 1.3-1.9x at 4x4 and below but 0.8-1.0x on larger planes,
// where the general kernel keeps it (conv.cpp decides).
#pragma once

#include <cstdint>

#include "core/cpu/conv_geometry.h"

namespace lnx::cpu {

// Whether g is depthwise (groups == C == O) without dilation, as these kernels need.
bool is_depthwise(const Geom& g);

// Stride 1 only. y (N, C, OH, OW) = x (N, C, H, W) correlated per channel with w (C, 1, KH, KW),
// plus bias (C) when not null.
void depthwise_forward(const float* x, const float* w, const float* bias, const Geom& g, float* y);
// grad_x (N, C, H, W) from grad_y (N, C, OH, OW); every element written.
void depthwise_backward_input(const float* grad_y, const float* w, const Geom& g, float* grad_x);
// Stride 1 only. grad_w (C, 1, KH, KW) from grad_y and x, summed over the batch in a fixed
// order.
void depthwise_backward_weight(const float* grad_y, const float* x, const Geom& g, float* grad_w);

}  // namespace lnx::cpu

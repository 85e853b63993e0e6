// Stride phases of a zero-padded image, shared by the dense and the slice-sparse convolution
// kernels: padded pixel (R, X) of a channel lives in phase (R % SH, X % SW) at (R / SH, X / SW),
// so a strided convolution reads every tap with unit stride; and strided row subsampling.
#pragma once

#include <cstdint>

#include "core/backend.h"

namespace lnx {

// Writes one channel src (H, W) as its SH * SW phase planes at dst (plane floats apart, rows ws
// floats wide, slack rows included): the pixels, and zeros everywhere else.
void write_phases(const float* src, int64_t h, int64_t w, const Conv2dParams& p, int64_t plane,
                  int64_t ws, float* dst);

// dst[q] = src[q * stride] for q < count: a row of a strided subsampling (the shortcut of a
// downsampling residual block).
void subsample_row(const float* src, int64_t count, int64_t stride, float* dst);

}  // namespace lnx

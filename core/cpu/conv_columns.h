// Column matrices (im2col) on row tiles: the portable builds' convolution, and the AVX-512
// builds' fallback for the 1x1 weight gradient and for strided and dilated input gradients.
#pragma once

#include <cstdint>

#include "core/cpu/conv_geometry.h"

namespace lnx::cpu {

// Output rows per column tile: the tile stays in L2 (next to Eigen's packed copy of it in
// portable builds) instead of streaming a whole image's columns (0.6 MB for 16 channels at
// 32x32) through L3.
int64_t tile_rows(const Geom& g);

// Rows [r0, r1) of the output as the columns a GEMM needs: the image itself for a 1x1
// convolution (leading dimension H*W), else an im2col tile in thread scratch slot 0 (leading
// dimension the tile's pixel count).
const float* column_tile(const float* xn, const Geom& g, int64_t r0, int64_t r1, int64_t& ld);

// All of one image's columns, col (C*KH*KW, OH*OW) with rows ld floats apart: several images'
// columns side by side in one matrix.
void image_columns(const float* xn, const Geom& g, float* col, int64_t ld);

// x (C, H, W) += scatter of col (C*KH*KW, (r1-r0)*OW); the adjoint of im2col.
void col2im(const float* col, const Geom& g, int64_t r0, int64_t r1, float* x);

}  // namespace lnx::cpu

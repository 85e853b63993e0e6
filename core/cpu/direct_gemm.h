// The register-blocked AVX-512 micro-kernel that all dense CPU convolution kernels run on (see
// conv.cpp), and the two ways of calling it: over plain or offset-addressed operands
// (direct_gemm) and over image rows that fill whole vectors (direct_gemm_rows).
#pragma once

#if defined(__AVX512F__)
#include <cstdint>

namespace lnx::cpu {

// The micro-kernel computes
// y[j][v] (+)= sum_k b[k][j] * a[k][v] for a block of up to 48 v (MR vectors of 16) and 8 j in
// 24 accumulators (or 64 v and 6 j, see v_block): per step k it loads MR vectors of a and
// broadcasts 8 values of b. The a block (depth x 192 bytes) stays in L1 while the j blocks sweep
// over it.
//   forward:         v = pixels, j = output channels, k = taps (a = image taps, b = w^T)
//   weight gradient: v = output channels, j = taps, k = pixels (a = grad_y^T, b = image taps)
//   column gradient: v = pixels, j = column rows, k = output channels (a = grad_y, b = w)
// With row offsets a is a phase image (see conv_layouts.h) with 16 floats of slack at its end:
// the last vector's lanes past nv may read them and feed only output lanes never stored.

// Operand pairs summed by one kernel call: a and b advanced by a_step and b_step floats from one
// pair to the next, before y is touched (the weight gradient sums several images per visit of
// its accumulator).
struct Segments {
  int64_t count = 1, a_step = 0, b_step = 0;
};

// y[j][v] (+)= sum_k b[k][j] * a[k][v] + bias[j] for v < nv, j < nj, k < depth, summed over
// seg.count operand pairs. a[k][v] is at a + k * lda + v, or at a + koff[k] + v when koff is
// set; b[k][j] at b + k * ldb + j * bstride, or at b + k * ldb + joff[j] when joff is set;
// y[j][v] at y + j * ldy + v. accumulate adds to y (bias ignored); a null bias is zero.
void direct_gemm(const float* a, int64_t lda, const int64_t* koff, int64_t nv, const float* b,
                 int64_t ldb, int64_t bstride, const int64_t* joff, int64_t nj, int64_t depth,
                 const float* bias, bool accumulate, float* y, int64_t ldy, Segments seg = {});

// Vectors in the next block of v, and the j step that goes with it. Blocks of 3 vectors x 8 j
// (24 accumulators; 11 loads per 24 FMAs), but a remainder of one vector would run a 1 x 8
// block at 9 loads per 8 FMAs, load-bound at a third of the speed: 3 + 1 vectors become one
// 4 x 6 block instead. Every ResNet row count (64 pixels at 8x8, 256 at 16x16, 1024 at 32x32)
// and channel count 64 or 256 ends in such a remainder.
struct VBlock {
  int vectors, j_step;
};
VBlock v_block(int64_t vectors_left);

// Whether output rows ow pixels wide suit direct_gemm_rows: 8 (two rows a vector) or a
// multiple of 16.
bool rows_fill_vectors(int64_t ow);

// y[j][v] = sum_k b[k][j] * a[v] + bias[j] as direct_gemm with tap offsets koff, for output
// rows of ow pixels whose vectors need no junk lanes: pixel v is at a + (v / ow) * ws + v % ow +
// koff[k]. ow == 8: each vector holds two rows (Addr::RowPairs); ow a multiple of 16: vectors
// start where rows do (Addr::RowVectors); rows_fill_vectors says which widths qualify.
void direct_gemm_rows(const float* a, int64_t ws, int64_t ow, const int64_t* koff, int64_t nv,
                      const float* b, int64_t ldb, int64_t bstride, int64_t nj, int64_t depth,
                      const float* bias, float* y, int64_t ldy);

}  // namespace lnx::cpu
#endif

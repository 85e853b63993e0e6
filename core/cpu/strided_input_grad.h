// The input gradient of a strided 2-D convolution on the AVX-512 direct kernels (see conv.cpp).
#pragma once

#if defined(__AVX512F__)
#include <cstdint>
#include <vector>

#include "core/cpu/conv_geometry.h"

namespace lnx::cpu {

// The input gradient of a strided convolution, one input phase at a time. Input pixel
// (py + SH*Y, px + SW*X) receives tap (i, j) from grad_y pixel (Y + dy_i, X + dx_j) exactly when
// SH divides py + pad_h - i (then dy_i = (py + pad_h - i) / SH), and likewise for columns: each
// phase is a stride-1 correlation of grad_y with the taps of that residue, run on the forward
// kernel over a grad_y padded enough for every tap offset. This replaces a column gradient nine
// times the input's size and its scatter (col2im), at the same FLOPs.
class StridedInputGrad {
 public:
  explicit StridedInputGrad(const Geom& g);

  // grad_x (N, C, H, W) from grad_y (N, O, OH, OW) and w (O, CG, KH, KW); every pixel written.
  void run(const float* gyp, const float* wp, float* gxp) const;

 private:
  struct Phase {
    int64_t py = 0, px = 0;       // the input phase
    int64_t rows = 0, cols = 0;   // its pixels
    std::vector<int64_t> dy, dx;  // grad_y offsets of its taps
    bool whole_rows = false;      // its rows are whole vectors (direct_gemm_rows)
    int64_t ld = 0, size = 0;     // its result per channel: rows ld floats apart, size floats
    int64_t offset = 0;           // where its (CG, size) result starts in the scratch
  };

  const Phase& phase(int64_t py, int64_t px) const {
    return phases_[static_cast<size_t>(py * g_.p.stride_w + px)];
  }

  // Input row y of channel c, gx (H, W), from the phase results in out: with column stride 2
  // the two phases' rows are interleaved 32 pixels at a time in registers.
  void write_row(const float* out, int64_t c, int64_t y, float* gx) const;

  Geom g_;
  std::vector<Phase> phases_;
  int64_t top_ = 0, bottom_ = 0, left_ = 0, right_ = 0;  // grad_y padding
  int64_t ws_ = 0, plane_ = 0;
  int64_t out_floats_ = 0;  // the phase results of one group
};

}  // namespace lnx::cpu
#endif

// The layouts the AVX-512 direct convolution kernels read their operands in: an image as its
// zero-padded stride phases with a table of tap offsets (forward pass, weight gradient), and
// grad_y transposed to (position, channel) for the weight gradient.
#pragma once

#if defined(__AVX512F__)
#include <cstdint>
#include <vector>

#include "core/cpu/conv_geometry.h"

namespace lnx::cpu {

// The zero-padded image split into stride phases. Padded pixel (R, X) goes to phase
// (R % stride_h, X % stride_w) at (R / stride_h, X / stride_w), so a strided convolution reads
// each phase with unit stride: output pixel (r, q) at the phase-width position v = r * WS + q
// reads tap (c, i, j) at v + tap_offsets[(c, i, j)]. The kernels compute every v < nv,
// including WS - OW junk positions per row.
struct Phases {
  int64_t hs, ws;  // rows and columns of one phase plane
  int64_t plane;   // hs * ws
  int64_t chan;    // floats per channel: all its phase planes
  int64_t nv;      // positions computed: (OH - 1) * WS + OW

  explicit Phases(const Geom& g) {
    const int64_t hp = g.h + 2 * g.p.pad_h, wp = g.w + 2 * g.p.pad_w;
    hs = (hp + g.p.stride_h - 1) / g.p.stride_h;
    ws = (wp + g.p.stride_w - 1) / g.p.stride_w;
    plane = hs * ws;
    chan = plane * g.p.stride_h * g.p.stride_w;
    nv = (g.oh - 1) * ws + g.ow;
  }
};

// Builds the phases of `count` consecutive images x (count, C, H, W) in scratch slot 0 as
// (count, C, SH*SW, HS, WS), followed by 16 zeros of slack for the kernel's unmasked tail loads.
const float* phase_images(const float* x, int64_t count, const Geom& g, const Phases& ph);

// Offsets of the taps of one group's column rows (CG*KH*KW) in the phase image.
std::vector<int64_t> tap_offsets(const Geom& g, const Phases& ph);

// One group's grad_y gy (OG, OH, OW) transposed for the weight-gradient kernel to (nv, OG) over
// phase-width positions v = r * WS + q, zero at the junk positions q >= OW. 16 x 16 blocks go
// through registers (a block spans two rows when rows are 8 wide); the rest element by element,
// row by row to keep the strided writes in L1.
void transpose_rows(const float* gy, const Geom& g, int64_t ws, float* dst);

}  // namespace lnx::cpu
#endif

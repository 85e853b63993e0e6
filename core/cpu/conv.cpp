// Convolution kernels. Images are spread over OpenMP threads, each with its own scratch;
// within an image everything is one thread's work.
//
// With AVX-512 (the -march=native build) all three kernels run on one register-blocked
// micro-kernel (direct_gemm) instead of Eigen: Eigen packs its operands into a private layout
// first, and for these thin products (16-64 channels) that copy cost as much as the FMAs. The
// forward pass and the weight gradient build no column matrix at all: they read the taps
// straight from the zero-padded image, split into stride phases so every tap is a unit-stride
// window at a constant offset (see Phases). The stride-1 input gradient is the forward kernel
// run on grad_y with the flipped kernel; a strided one is the forward kernel run once per input
// phase (StridedInputGrad). The rest (dilated and strided, or under 8 channels per group)
// compute a column gradient tile with the micro-kernel and scatter it with col2im.
//
// Without AVX-512 (portable builds) the kernels are im2col/col2im on row tiles plus Eigen GEMMs,
// phrased column-major with the pixel axis as rows so no operand needs a transposed copy: a
// row-major (C, HW) buffer is a column-major (HW, C) matrix with leading dimension HW.
#include <omp.h>

#if defined(__AVX512F__)
#include <immintrin.h>
#endif

#include <Eigen/Core>
#include <algorithm>
#include <cstring>
#include <vector>

#include "core/cpu/cpu_backend.h"
#include "core/cpu/phases.h"
#include "core/cpu/sparse_conv.h"

namespace lnx {
namespace {

using Eigen::Dynamic;
using Stride = Eigen::OuterStride<>;
using ColMat = Eigen::Matrix<float, Dynamic, Dynamic, Eigen::ColMajor>;
using RowMat = Eigen::Matrix<float, Dynamic, Dynamic, Eigen::RowMajor>;
using CCol = Eigen::Map<const ColMat, Eigen::Unaligned, Stride>;
using CRow = Eigen::Map<const RowMat, 0, Stride>;
using MCol = Eigen::Map<ColMat, 0, Stride>;
using MRow = Eigen::Map<RowMat, 0, Stride>;

constexpr int64_t kTileBytes = 256 * 1024;

// Geometry of one convolution, in elements.
struct Geom {
  int64_t n, c, h, w;      // input
  int64_t o, kh, kw;       // weight
  int64_t oh, ow;          // output
  int64_t groups, cg, og;  // channels per group in and out
  int64_t ck;              // rows of a group's column matrix: cg * kh * kw
  int64_t hw, ohw;         // plane sizes
  Conv2dParams p;

  bool is_pointwise() const {
    return kh == 1 && kw == 1 && p.stride_h == 1 && p.stride_w == 1 && p.pad_h == 0 && p.pad_w == 0;
  }
};

Geom geometry(const Shape& x, const Shape& w, const Shape& y, const Conv2dParams& p) {
  Geom g;
  g.n = x[0], g.c = x[1], g.h = x[2], g.w = x[3];
  g.o = w[0], g.kh = w[2], g.kw = w[3];
  g.oh = y[2], g.ow = y[3];
  g.groups = p.groups;
  g.cg = g.c / p.groups;
  g.og = g.o / p.groups;
  g.ck = g.cg * g.kh * g.kw;
  g.hw = g.h * g.w;
  g.ohw = g.oh * g.ow;
  g.p = p;
  return g;
}

// Scratch that lives as long as its thread (OpenMP keeps its pool), so steady-state calls do not
// allocate. Slot 0 holds column tiles or phase images, slot 1 per-thread weight-gradient partial
// sums, slot 2 a transposed grad_y tile or a wide output, slot 3 (calling thread only, outside
// the image loop) repacked weights.
float* scratch(size_t count, int slot) {
  thread_local std::vector<float> buffers[4];
  std::vector<float>& b = buffers[slot];
  if (b.size() < count) b.resize(count);
  return b.data();
}

// Output columns ow whose input column ow*stride + offset lies in [0, width): [lo, hi).
void valid_range(int64_t offset, int64_t stride, int64_t width, int64_t out, int64_t& lo,
                 int64_t& hi) {
  lo = offset >= 0 ? 0 : (-offset + stride - 1) / stride;
  hi = width - offset <= 0 ? 0 : (width - offset + stride - 1) / stride;
  lo = std::min(lo, out);
  hi = std::clamp(hi, lo, out);
}

// col (C*KH*KW, (r1-r0)*OW) from one image x (C, H, W): the columns of output rows [r0, r1).
void im2col(const float* x, const Geom& g, int64_t r0, int64_t r1, float* col) {
  const int64_t np = (r1 - r0) * g.ow;
  const Conv2dParams& p = g.p;
  if (p.stride_h == 1 && p.stride_w == 1 && g.ow == g.w) {
    // "Same"-width stride-1 convolution: each tap's tile is the input plane shifted by a
    // constant offset, so one long copy per tap replaces a call per row; the columns that
    // wrapped around from a neighbouring row are then zeroed.
    for (int64_t c = 0; c < g.c; ++c) {
      const float* plane = x + c * g.hw;
      for (int64_t i = 0; i < g.kh; ++i) {
        const int64_t shift_h = i * p.dilation_h - p.pad_h;  // ih = r + shift_h
        const int64_t ra = std::clamp(-shift_h, r0, r1), rb = std::clamp(g.h - shift_h, ra, r1);
        for (int64_t j = 0; j < g.kw; ++j) {
          float* dst = col + ((c * g.kh + i) * g.kw + j) * np;
          const int64_t off_w = j * p.dilation_w - p.pad_w;
          int64_t lo, hi;
          valid_range(off_w, 1, g.w, g.ow, lo, hi);
          std::fill(dst, dst + (ra - r0) * g.ow, 0.0f);
          std::fill(dst + (rb - r0) * g.ow, dst + np, 0.0f);
          const int64_t base = (r0 + shift_h) * g.w + off_w;  // plane index of dst[0]
          const int64_t t0 = std::max((ra - r0) * g.ow, -base);
          const int64_t t1 = std::min((rb - r0) * g.ow, g.hw - base);
          if (t1 > t0) std::copy(plane + base + t0, plane + base + t1, dst + t0);
          for (int64_t r = ra; r < rb; ++r) {
            float* row = dst + (r - r0) * g.ow;
            for (int64_t q = 0; q < lo; ++q) row[q] = 0.0f;
            for (int64_t q = hi; q < g.ow; ++q) row[q] = 0.0f;
          }
        }
      }
    }
    return;
  }
  for (int64_t c = 0; c < g.c; ++c) {
    const float* plane = x + c * g.hw;
    for (int64_t i = 0; i < g.kh; ++i) {
      for (int64_t j = 0; j < g.kw; ++j) {
        float* dst = col + ((c * g.kh + i) * g.kw + j) * np;
        const int64_t off_w = j * p.dilation_w - p.pad_w;
        int64_t lo, hi;
        valid_range(off_w, p.stride_w, g.w, g.ow, lo, hi);
        for (int64_t r = r0; r < r1; ++r, dst += g.ow) {
          const int64_t ih = r * p.stride_h - p.pad_h + i * p.dilation_h;
          if (ih < 0 || ih >= g.h) {
            std::fill(dst, dst + g.ow, 0.0f);
            continue;
          }
          const float* src = plane + ih * g.w + off_w;
          std::fill(dst, dst + lo, 0.0f);
          if (p.stride_w == 1) {
            std::copy(src + lo, src + hi, dst + lo);
          } else {
            for (int64_t q = lo; q < hi; ++q) dst[q] = src[q * p.stride_w];
          }
          std::fill(dst + hi, dst + g.ow, 0.0f);
        }
      }
    }
  }
}

// Rows [r0, r1) of the output as the columns a GEMM needs: the image itself for a 1x1
// convolution (leading dimension H*W), else an im2col tile in thread scratch (leading dimension
// the tile's pixel count).
const float* column_tile(const float* xn, const Geom& g, int64_t r0, int64_t r1, int64_t& ld) {
  if (g.is_pointwise()) {
    ld = g.hw;
    return xn;
  }
  const int64_t np = (r1 - r0) * g.ow;
  float* buf = scratch(static_cast<size_t>(g.groups * g.ck * np), 0);
  im2col(xn, g, r0, r1, buf);
  ld = np;
  return buf;
}

// x (C, H, W) += scatter of col (C*KH*KW, (r1-r0)*OW); the adjoint of im2col.
void col2im(const float* col, const Geom& g, int64_t r0, int64_t r1, float* x) {
  const int64_t np = (r1 - r0) * g.ow;
  const Conv2dParams& p = g.p;
  for (int64_t c = 0; c < g.c; ++c) {
    float* plane = x + c * g.hw;
    for (int64_t i = 0; i < g.kh; ++i) {
      for (int64_t j = 0; j < g.kw; ++j) {
        const float* src = col + ((c * g.kh + i) * g.kw + j) * np;
        const int64_t off_w = j * p.dilation_w - p.pad_w;
        int64_t lo, hi;
        valid_range(off_w, p.stride_w, g.w, g.ow, lo, hi);
        for (int64_t r = r0; r < r1; ++r, src += g.ow) {
          const int64_t ih = r * p.stride_h - p.pad_h + i * p.dilation_h;
          if (ih < 0 || ih >= g.h) continue;
          float* dst = plane + ih * g.w + off_w;
          if (p.stride_w == 1) {
            for (int64_t q = lo; q < hi; ++q) dst[q] += src[q];
          } else {
            for (int64_t q = lo; q < hi; ++q) dst[q * p.stride_w] += src[q];
          }
        }
      }
    }
  }
}

// Output rows per column tile: the tile stays in L2 (next to Eigen's packed copy of it in
// portable builds) instead of streaming a whole image's columns (0.6 MB for 16 channels at
// 32x32) through L3.
int64_t tile_rows(const Geom& g) {
  if (g.is_pointwise()) return g.oh;  // no columns to build
  const int64_t budget = kTileBytes / static_cast<int64_t>(sizeof(float));
  const int64_t most =
      std::clamp<int64_t>(budget / std::max<int64_t>(1, g.groups * g.ck * g.ow), 1, g.oh);
  const int64_t tiles = (g.oh + most - 1) / most;
  return (g.oh + tiles - 1) / tiles;  // even tiles: no thin last tile
}

#if defined(__AVX512F__)
// Operand pairs summed by one kernel call: a and b advanced by a_step and b_step floats from one
// pair to the next, before y is touched (the weight gradient sums several images per visit of
// its accumulator).
struct Segments {
  int64_t count = 1, a_step = 0, b_step = 0;
};

// The micro-kernel computes
// y[j][v] (+)= sum_k b[k][j] * a[k][v] for a block of up to 48 v (MR vectors of 16) and 8 j in
// 24 accumulators (or 64 v and 6 j, see v_block): per step k it loads MR vectors of a and
// broadcasts 8 values of b. The a block (depth x 192 bytes) stays in L1 while the j blocks sweep
// over it.
//   forward:         v = pixels, j = output channels, k = taps (a = image taps, b = w^T)
//   weight gradient: v = output channels, j = taps, k = pixels (a = grad_y^T, b = image taps)
//   column gradient: v = pixels, j = column rows, k = output channels (a = grad_y, b = w)
struct MicroArgs {
  const float* a;  // a[k][v] at a + k * lda + v, or at a + koff[k] + v when koff is set
  int64_t lda;
  const int64_t* koff;
  const float* b;  // b[k][j] at b + k * ldb + j * bstride, or at b + k * ldb + joff[j]
  int64_t ldb, bstride;
  const int64_t* joff;
  int64_t depth;
  float* y;  // y[j][v] at y + j * ldy + v
  int64_t ldy;
  const float* bias;  // per j; null for zero
  bool accumulate;    // add to y instead of overwriting it (bias ignored)
  bool row_pairs;     // with koff: v counts pixels of 8-wide rows lda apart (see Addr)
  __mmask16 tail;     // valid lanes of the last vector
  // With koff: vector i of the block reads a + koff[k] + voff[i] (Addr::RowVectors).
  const int64_t* voff = nullptr;
  Segments seg = {};
};

// How the kernel addresses its operands: rows of a and columns of b at fixed strides, rows of
// a at per-k offsets (koff), or columns of b at per-j offsets (joff). Separate instantiations
// keep the strided case free of the offset tables' extra registers. RowPairs is RowOffsets for
// 8-pixel-wide outputs: each vector is assembled from two image rows lda apart, so no lanes
// are spent on the padding columns between rows (a third of them at 8x8). RowVectors is
// RowOffsets for outputs whose rows are whole vectors (16 or 32 pixels wide): each vector
// starts where its row does, so no lanes compute padding columns and y is written in place.
enum class Addr { Strided, RowOffsets, ColOffsets, RowPairs, RowVectors };

template <int MR, int NR, bool Tail, Addr Mode>
void micro_kernel(const MicroArgs& m) {
  __m512 acc[MR][NR];
  for (int j = 0; j < NR; ++j)
    for (int i = 0; i < MR; ++i) {
      const float* yv = m.y + j * m.ldy + 16 * i;
      if (m.accumulate) {
        acc[i][j] = (Tail && i == MR - 1) ? _mm512_maskz_loadu_ps(m.tail, yv) : _mm512_loadu_ps(yv);
      } else {
        acc[i][j] = m.bias ? _mm512_set1_ps(m.bias[j]) : _mm512_setzero_ps();
      }
    }
  for (int64_t s = 0; s < m.seg.count; ++s) {
    const float* const a0 = m.a + s * m.seg.a_step;
    const float* a = a0;
    const float* b = m.b + s * m.seg.b_step;
    const float* bj_row[NR];
    if constexpr (Mode == Addr::ColOffsets)
      for (int j = 0; j < NR; ++j) bj_row[j] = b + m.joff[j];
    for (int64_t k = 0; k < m.depth; ++k, a += m.lda, b += m.ldb) {
      if constexpr (Mode == Addr::RowOffsets || Mode == Addr::RowPairs || Mode == Addr::RowVectors)
        a = a0 + m.koff[k];
      __m512 av[MR];
      if constexpr (Mode == Addr::RowVectors) {
        for (int i = 0; i < MR; ++i) av[i] = _mm512_loadu_ps(a + m.voff[i]);
      } else if constexpr (Mode == Addr::RowPairs) {
        for (int i = 0; i < MR; ++i) {
          const float* lo = a + 2 * i * m.lda;
          const __m512 low = _mm512_castps256_ps512(_mm256_loadu_ps(lo));
          if (Tail && i == MR - 1) {  // a last single row: the upper lanes stay unused
            av[i] = low;
          } else {
            const __m256d high = _mm256_castps_pd(_mm256_loadu_ps(lo + m.lda));
            av[i] = _mm512_castpd_ps(_mm512_insertf64x4(_mm512_castps_pd(low), high, 1));
          }
        }
      } else {
        for (int i = 0; i < MR; ++i)
          // With row offsets, a is a phase image with slack at its end (phase_images): lanes past
          // the tail read zeros or neighbouring pixels and only feed output lanes never stored.
          av[i] = (Tail && i == MR - 1 && Mode != Addr::RowOffsets)
                      ? _mm512_maskz_loadu_ps(m.tail, a + 16 * i)
                      : _mm512_loadu_ps(a + 16 * i);
      }
      for (int j = 0; j < NR; ++j) {
        const __m512 bj =
            _mm512_set1_ps(Mode == Addr::ColOffsets ? bj_row[j][k * m.ldb] : b[j * m.bstride]);
        for (int i = 0; i < MR; ++i) acc[i][j] = _mm512_fmadd_ps(av[i], bj, acc[i][j]);
      }
    }
  }
  for (int j = 0; j < NR; ++j)
    for (int i = 0; i < MR; ++i) {
      float* dst = m.y + j * m.ldy + 16 * i;
      if (Tail && i == MR - 1) {
        _mm512_mask_storeu_ps(dst, m.tail, acc[i][j]);
      } else {
        _mm512_storeu_ps(dst, acc[i][j]);
      }
    }
}

template <int MR, bool Tail, Addr Mode>
void micro_nr(int nr, const MicroArgs& m) {
  static_assert(MR <= 4);
  switch (nr) {
    case 1:
      return micro_kernel<MR, 1, Tail, Mode>(m);
    case 2:
      return micro_kernel<MR, 2, Tail, Mode>(m);
    case 3:
      return micro_kernel<MR, 3, Tail, Mode>(m);
    case 4:
      return micro_kernel<MR, 4, Tail, Mode>(m);
    case 5:
      return micro_kernel<MR, 5, Tail, Mode>(m);
    default:
      break;
  }
  if constexpr (MR == 4) {  // 4 x 6 accumulators: 32 registers hold no more
    return micro_kernel<MR, 6, Tail, Mode>(m);
  } else {
    if (nr == 6) return micro_kernel<MR, 6, Tail, Mode>(m);
    if (nr == 7) return micro_kernel<MR, 7, Tail, Mode>(m);
    return micro_kernel<MR, 8, Tail, Mode>(m);
  }
}

template <Addr Mode>
void micro_mr(int mr, int nr, bool tail, const MicroArgs& m) {
  if (tail) {
    if (mr == 1) return micro_nr<1, true, Mode>(nr, m);
    if (mr == 2) return micro_nr<2, true, Mode>(nr, m);
    if (mr == 4) return micro_nr<4, true, Mode>(nr, m);
    return micro_nr<3, true, Mode>(nr, m);
  }
  if (mr == 1) return micro_nr<1, false, Mode>(nr, m);
  if (mr == 2) return micro_nr<2, false, Mode>(nr, m);
  if (mr == 4) return micro_nr<4, false, Mode>(nr, m);
  return micro_nr<3, false, Mode>(nr, m);
}

// Vectors in the next block of v, and the j step that goes with it. Blocks of 3 vectors x 8 j
// (24 accumulators; 11 loads per 24 FMAs), but a remainder of one vector would run a 1 x 8
// block at 9 loads per 8 FMAs, load-bound at a third of the speed: 3 + 1 vectors become one
// 4 x 6 block instead. Every ResNet row count (64 pixels at 8x8, 256 at 16x16, 1024 at 32x32)
// and channel count 64 or 256 ends in such a remainder.
struct VBlock {
  int vectors, j_step;
};
VBlock v_block(int64_t vectors_left) {
  if (vectors_left == 4) return {4, 6};
  return {static_cast<int>(std::min<int64_t>(3, vectors_left)), 8};
}

void micro(int mr, int nr, bool tail, const MicroArgs& m) {
  if (m.koff && m.voff) return micro_mr<Addr::RowVectors>(mr, nr, tail, m);
  if (m.koff && m.row_pairs) return micro_mr<Addr::RowPairs>(mr, nr, tail, m);
  if (m.koff) return micro_mr<Addr::RowOffsets>(mr, nr, tail, m);
  if (m.joff) return micro_mr<Addr::ColOffsets>(mr, nr, tail, m);
  micro_mr<Addr::Strided>(mr, nr, tail, m);
}

// y[j][v] (+)= sum_k b[k][j] * a[k][v] + bias[j] for v < nv, j < nj, k < depth (see MicroArgs),
// summed over seg.count operand pairs.
void direct_gemm(const float* a, int64_t lda, const int64_t* koff, int64_t nv, const float* b,
                 int64_t ldb, int64_t bstride, const int64_t* joff, int64_t nj, int64_t depth,
                 const float* bias, bool accumulate, float* y, int64_t ldy, Segments seg = {}) {
  for (int64_t v0 = 0; v0 < nv;) {
    const VBlock blk = v_block((nv - v0 + 15) / 16);
    const int64_t rem = std::min<int64_t>(16 * blk.vectors, nv - v0);
    const int mr = blk.vectors;
    const int last = static_cast<int>(rem - 16 * (mr - 1));
    for (int64_t j0 = 0; j0 < nj; j0 += blk.j_step) {
      const MicroArgs m{a + v0,
                        lda,
                        koff,
                        joff ? b : b + j0 * bstride,
                        ldb,
                        bstride,
                        joff ? joff + j0 : nullptr,
                        depth,
                        y + j0 * ldy + v0,
                        ldy,
                        bias ? bias + j0 : nullptr,
                        accumulate,
                        false,
                        static_cast<__mmask16>((1u << last) - 1u),
                        nullptr,
                        seg};
      micro(mr, static_cast<int>(std::min<int64_t>(blk.j_step, nj - j0)), last != 16, m);
    }
    v0 += rem;
  }
}

bool rows_fill_vectors(int64_t ow) {
  return ow == 8 || ow % 16 == 0;
}

// y[j][v] = sum_k b[k][j] * a[v] + bias[j] as direct_gemm with tap offsets koff, for output
// rows of ow pixels whose vectors need no junk lanes: pixel v is at a + (v / ow) * ws + v % ow +
// koff[k]. ow == 8: each vector holds two rows (Addr::RowPairs); ow a multiple of 16: vectors
// start where rows do (Addr::RowVectors); rows_fill_vectors says which widths qualify.
void direct_gemm_rows(const float* a, int64_t ws, int64_t ow, const int64_t* koff, int64_t nv,
                      const float* b, int64_t ldb, int64_t bstride, int64_t nj, int64_t depth,
                      const float* bias, float* y, int64_t ldy) {
  const bool pairs = ow == 8;
  for (int64_t v0 = 0; v0 < nv;) {
    const VBlock blk = v_block((nv - v0 + 15) / 16);
    const int64_t rem = std::min<int64_t>(16 * blk.vectors, nv - v0);  // a multiple of 8 or 16
    const int mr = blk.vectors;
    const bool tail = rem % 16 != 0;  // only with pairs: a last single row
    int64_t voff[4] = {};
    if (!pairs)
      for (int i = 0; i < mr; ++i) {
        const int64_t v = v0 + 16 * i;
        voff[i] = v / ow * ws + v % ow;
      }
    for (int64_t j0 = 0; j0 < nj; j0 += blk.j_step) {
      const MicroArgs m{pairs ? a + v0 / 8 * ws : a,
                        ws,
                        koff,
                        b + j0 * bstride,
                        ldb,
                        bstride,
                        nullptr,
                        depth,
                        y + j0 * ldy + v0,
                        ldy,
                        bias ? bias + j0 : nullptr,
                        false,
                        pairs,
                        static_cast<__mmask16>(tail ? 0xFF : 0xFFFF),
                        pairs ? nullptr : voff};
      micro(mr, static_cast<int>(std::min<int64_t>(blk.j_step, nj - j0)), tail, m);
    }
    v0 += rem;
  }
}

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
const float* phase_images(const float* x, int64_t count, const Geom& g, const Phases& ph) {
  const int64_t channels = count * g.c;
  float* out = scratch(static_cast<size_t>(channels * ph.chan + 16), 0);
  for (int64_t c = 0; c < channels; ++c)
    write_phases(x + c * g.hw, g.h, g.w, g.p, ph.plane, ph.ws, out + c * ph.chan);
  std::fill(out + channels * ph.chan, out + channels * ph.chan + 16, 0.0f);
  return out;
}

// Offsets of the taps of one group's column rows (CG*KH*KW) in the phase image.
std::vector<int64_t> tap_offsets(const Geom& g, const Phases& ph) {
  const Conv2dParams& p = g.p;
  std::vector<int64_t> off(static_cast<size_t>(g.ck));
  for (int64_t c = 0; c < g.cg; ++c)
    for (int64_t i = 0; i < g.kh; ++i)
      for (int64_t j = 0; j < g.kw; ++j) {
        const int64_t di = i * p.dilation_h, dj = j * p.dilation_w;
        off[static_cast<size_t>((c * g.kh + i) * g.kw + j)] =
            c * ph.chan + ((di % p.stride_h) * p.stride_w + dj % p.stride_w) * ph.plane +
            (di / p.stride_h) * ph.ws + dj / p.stride_w;
      }
  return off;
}

// dst row q = column q of the 16 x 16 block at src (rows ld apart).
inline void transpose16(const float* src, int64_t ld, __m512 (&dst)[16]) {
  __m512 r[16], t[16];
  for (int i = 0; i < 16; ++i) r[i] = _mm512_loadu_ps(src + i * ld);
  for (int i = 0; i < 16; i += 2) {  // interleave row pairs
    t[i] = _mm512_unpacklo_ps(r[i], r[i + 1]);
    t[i + 1] = _mm512_unpackhi_ps(r[i], r[i + 1]);
  }
  for (int i = 0; i < 16; i += 4) {  // then 2-float pairs
    r[i] = _mm512_shuffle_ps(t[i], t[i + 2], 0x44);
    r[i + 1] = _mm512_shuffle_ps(t[i], t[i + 2], 0xEE);
    r[i + 2] = _mm512_shuffle_ps(t[i + 1], t[i + 3], 0x44);
    r[i + 3] = _mm512_shuffle_ps(t[i + 1], t[i + 3], 0xEE);
  }
  for (int h = 0; h < 16; h += 8)  // then 128-bit lanes, twice
    for (int i = 0; i < 4; ++i) {
      t[h + i] = _mm512_shuffle_f32x4(r[h + i], r[h + i + 4], 0x88);
      t[h + i + 4] = _mm512_shuffle_f32x4(r[h + i], r[h + i + 4], 0xdd);
    }
  for (int i = 0; i < 8; ++i) {
    dst[i] = _mm512_shuffle_f32x4(t[i], t[i + 8], 0x88);
    dst[i + 8] = _mm512_shuffle_f32x4(t[i], t[i + 8], 0xdd);
  }
}

// One group's grad_y gy (OG, OH, OW) transposed for the weight-gradient kernel to (nv, OG) over
// phase-width positions v = r * WS + q, zero at the junk positions q >= OW. 16 x 16 blocks go
// through registers (a block spans two rows when rows are 8 wide); the rest element by element,
// row by row to keep the strided writes in L1.
void transpose_rows(const float* gy, const Geom& g, int64_t ws, float* dst) {
  const int64_t og = g.og, ow = g.ow;
  const bool blocks = og % 16 == 0 && (ow % 16 == 0 || (ow == 8 && g.oh % 2 == 0));
  for (int64_t r = 0; r < g.oh; ++r) {
    float* row = dst + r * ws * og;
    if (r + 1 < g.oh) std::fill(row + ow * og, row + ws * og, 0.0f);
    if (!blocks) {
      for (int64_t o = 0; o < og; ++o)
        for (int64_t q = 0; q < ow; ++q) row[q * og + o] = gy[o * g.ohw + r * ow + q];
      continue;
    }
    if (ow == 8 && r % 2 == 1) continue;  // done with the row before
    for (int64_t o0 = 0; o0 < og; o0 += 16)
      for (int64_t q0 = 0; q0 < std::max<int64_t>(ow, 16); q0 += 16) {
        __m512 t[16];
        transpose16(gy + o0 * g.ohw + r * ow + q0, g.ohw, t);
        for (int64_t q = 0; q < 16; ++q) {  // position q0 + q of the row, or of the next (ow 8)
          const int64_t v = ow == 8 ? (q / 8) * ws + q % 8 : q0 + q;
          _mm512_storeu_ps(row + v * og + o0, t[q]);
        }
      }
  }
}

// w (O, C/groups, KH, KW) as the weight of the convolution that gives the input gradient at
// stride 1: (C, O/groups, KH, KW) with each kernel flipped, group by group. Zero slices stay zero
// slices.
Tensor flipped_transpose(const Tensor& w, int64_t groups) {
  const int64_t o = w.size(0), cg = w.size(1), og = o / groups, kk = w.size(2) * w.size(3);
  Tensor t = Tensor::empty({groups * cg, og, w.size(2), w.size(3)}, DType::Float32, w.device());
  const float* src = w.data<float>();
  float* dst = t.data<float>();
  for (int64_t gi = 0; gi < groups; ++gi)
    for (int64_t oc = 0; oc < og; ++oc)
      for (int64_t ic = 0; ic < cg; ++ic)
        for (int64_t k = 0; k < kk; ++k)
          dst[((gi * cg + ic) * og + oc) * kk + (kk - 1 - k)] =
              src[((gi * og + oc) * cg + ic) * kk + k];
  return t;
}
#endif

// Threads worth using for a convolution: one when there is a single image (portable builds then
// let Eigen thread each GEMM) or too little work to pay for waking the team and meeting at its
// barrier (gradient checks run thousands of tiny convolutions).
int conv_threads(const Geom& g) {
  constexpr int64_t kMinParallelMacs = int64_t{1} << 20;
  if (g.n < 2 || g.n * g.o * g.ck * g.ohw < kMinParallelMacs) return 1;
  return omp_get_max_threads();
}

// Runs f(image) for every image, spread over the threads conv_threads(g) allows.
template <typename F>
void for_each_image(const Geom& g, F&& f) {
  const int64_t n = g.n;
  if (conv_threads(g) > 1) {
    // Dynamic: on a shared machine a descheduled thread should not hold the others back.
#pragma omp parallel for schedule(dynamic, 1)
    for (int64_t i = 0; i < n; ++i) f(i);
  } else {
    for (int64_t i = 0; i < n; ++i) f(i);
  }
}

}  // namespace

#if defined(__AVX512F__)
// Where the kernel finds weight (tap k, output channel j) of a group: at w + k * ldb + j * bstride.
// The forward pass reads the weight as stored, (OG, CK) per group: no transposed copy, which at
// batch 1 (and in sparse inference's small chunks) cost as much as the convolution itself.
struct WeightLayout {
  int64_t ldb, bstride;
};

// The forward pass over all images with the direct kernel; group gi's weights start at
// w + gi * CK * OG.
void forward_direct(const float* xp, const Geom& g, const float* w, WeightLayout wl,
                    const float* bp, float* yp) {
  if (!g.is_pointwise()) {
    // No column matrix: the kernel reads the taps from the phase image through per-row offsets
    // (see Phases); the junk positions are dropped when the rows are copied out.
    const Phases ph(g);
    const int64_t nv = ph.nv;
    const std::vector<int64_t> koff = tap_offsets(g, ph);
    for_each_image(g, [&](int64_t n) {
      const float* xn = xp + n * g.c * g.hw;          // (C, H, W)
      float* yn = yp + n * g.o * g.ohw;               // (O, OH, OW)
      const float* xph = phase_images(xn, 1, g, ph);  // (C, SH*SW, HS, WS)
      if (rows_fill_vectors(g.ow)) {  // no junk lanes, so the kernel writes y directly
        for (int64_t gi = 0; gi < g.groups; ++gi)
          direct_gemm_rows(xph + gi * g.cg * ph.chan, ph.ws, g.ow, koff.data(), g.ohw,
                           w + gi * g.ck * g.og, wl.ldb, wl.bstride, g.og, g.ck,
                           bp ? bp + gi * g.og : nullptr, yn + gi * g.og * g.ohw, g.ohw);
        return;
      }
      float* ywide = scratch(static_cast<size_t>(g.og * nv), 2);  // (OG, nv)
      for (int64_t gi = 0; gi < g.groups; ++gi) {
        direct_gemm(xph + gi * g.cg * ph.chan, 0, koff.data(), nv, w + gi * g.ck * g.og, wl.ldb,
                    wl.bstride, nullptr, g.og, g.ck, bp ? bp + gi * g.og : nullptr, false, ywide,
                    nv);
        for (int64_t o = 0; o < g.og; ++o)
          for (int64_t r = 0; r < g.oh; ++r) {
            const float* src = ywide + o * nv + r * ph.ws;
            std::copy(src, src + g.ow, yn + (gi * g.og + o) * g.ohw + r * g.ow);
          }
      }
    });
    return;
  }
  // 1x1, stride 1, no padding: the image (C, H*W) already is the column matrix.
  for_each_image(g, [&](int64_t n) {
    const float* xn = xp + n * g.c * g.hw;  // (C, H*W)
    float* yn = yp + n * g.o * g.ohw;       // (O, H*W)
    for (int64_t gi = 0; gi < g.groups; ++gi)
      direct_gemm(xn + gi * g.cg * g.hw, g.hw, nullptr, g.hw, w + gi * g.ck * g.og, wl.ldb,
                  wl.bstride, nullptr, g.og, g.ck, bp ? bp + gi * g.og : nullptr, false,
                  yn + gi * g.og * g.ohw, g.ohw);
  });
}
#endif

#if defined(__AVX512F__)
// The input gradient of a strided convolution, one input phase at a time. Input pixel
// (py + SH*Y, px + SW*X) receives tap (i, j) from grad_y pixel (Y + dy_i, X + dx_j) exactly when
// SH divides py + pad_h - i (then dy_i = (py + pad_h - i) / SH), and likewise for columns: each
// phase is a stride-1 correlation of grad_y with the taps of that residue, run on the forward
// kernel over a grad_y padded enough for every tap offset. This replaces a column gradient nine
// times the input's size and its scatter (col2im), at the same FLOPs.
class StridedInputGrad {
 public:
  explicit StridedInputGrad(const Geom& g) : g_(g) {
    const Conv2dParams& p = g.p;
    for (int64_t py = 0; py < p.stride_h; ++py)
      for (int64_t px = 0; px < p.stride_w; ++px) {
        Phase ph;
        ph.py = py, ph.px = px;
        ph.rows = (g.h - py + p.stride_h - 1) / p.stride_h;
        ph.cols = (g.w - px + p.stride_w - 1) / p.stride_w;
        for (int64_t i = 0; i < g.kh; ++i)
          if ((py + p.pad_h - i) % p.stride_h == 0)
            ph.dy.push_back((py + p.pad_h - i) / p.stride_h);
        for (int64_t j = 0; j < g.kw; ++j)
          if ((px + p.pad_w - j) % p.stride_w == 0)
            ph.dx.push_back((px + p.pad_w - j) / p.stride_w);
        if (ph.rows > 0 && ph.cols > 0) {
          for (int64_t d : ph.dy) {
            top_ = std::max(top_, -d);
            bottom_ = std::max(bottom_, ph.rows - 1 + d - (g.oh - 1));
          }
          for (int64_t d : ph.dx) {
            left_ = std::max(left_, -d);
            right_ = std::max(right_, ph.cols - 1 + d - (g.ow - 1));
          }
        }
        phases_.push_back(std::move(ph));
      }
    ws_ = left_ + g.ow + right_;
    plane_ = (top_ + g.oh + bottom_) * ws_;
    for (Phase& ph : phases_) {
      if (ph.rows == 0 || ph.cols == 0) continue;
      ph.whole_rows = rows_fill_vectors(ph.cols);
      ph.ld = ph.whole_rows ? ph.cols : ws_;
      ph.size = (ph.rows - 1) * ph.ld + ph.cols;
      ph.offset = out_floats_;
      out_floats_ += g.cg * ph.size;
    }
  }

  // grad_x (N, C, H, W) from grad_y (N, O, OH, OW) and w (O, CG, KH, KW); every pixel written.
  void run(const float* gyp, const float* wp, float* gxp) const {
    const Geom& g = g_;
    // Per phase and group: the taps' offsets in the padded grad_y and the packed weights.
    struct Packed {
      std::vector<int64_t> koff;  // (OG * taps)
      std::vector<float> w;       // (CG, OG * taps) per group, groups after one another
    };
    std::vector<Packed> packed(phases_.size());
    for (size_t f = 0; f < phases_.size(); ++f) {
      const Phase& ph = phases_[f];
      const int64_t taps = static_cast<int64_t>(ph.dy.size() * ph.dx.size()), depth = g.og * taps;
      Packed& pk = packed[f];
      for (int64_t o = 0; o < g.og; ++o)
        for (size_t a = 0; a < ph.dy.size(); ++a)
          for (size_t b = 0; b < ph.dx.size(); ++b)
            pk.koff.push_back(o * plane_ + (top_ + ph.dy[a]) * ws_ + left_ + ph.dx[b]);
      std::vector<int64_t> kernel_taps;  // i * KW + j of each (dy[a], dx[b])
      for (const int64_t dy : ph.dy)
        for (const int64_t dx : ph.dx)
          kernel_taps.push_back((ph.py + g.p.pad_h - g.p.stride_h * dy) * g.kw + ph.px + g.p.pad_w -
                                g.p.stride_w * dx);
      pk.w.resize(static_cast<size_t>(g.groups * g.cg * depth));
      float* dst = pk.w.data();
      for (int64_t gi = 0; gi < g.groups; ++gi)
        for (int64_t c = 0; c < g.cg; ++c)
          for (int64_t o = 0; o < g.og; ++o)
            for (const int64_t t : kernel_taps)
              *dst++ = wp[((gi * g.og + o) * g.cg + c) * g.kh * g.kw + t];
    }
    Conv2dParams pad;  // the padding of grad_y, through the stride-1 phase writer
    pad.pad_h = top_;
    pad.pad_w = left_;
    for_each_image(g, [&](int64_t n) {
      const float* gyn = gyp + n * g.o * g.ohw;                            // (O, OH, OW)
      float* gxn = gxp + n * g.c * g.hw;                                   // (C, H, W)
      float* padded = scratch(static_cast<size_t>(g.o * plane_ + 16), 0);  // (O, rows, ws)
      for (int64_t o = 0; o < g.o; ++o)
        write_phases(gyn + o * g.ohw, g.oh, g.ow, pad, plane_, ws_, padded + o * plane_);
      std::fill(padded + g.o * plane_, padded + g.o * plane_ + 16, 0.0f);
      float* out = scratch(static_cast<size_t>(out_floats_), 2);  // every phase of one group
      for (int64_t gi = 0; gi < g.groups; ++gi) {
        for (size_t f = 0; f < phases_.size(); ++f) {
          const Phase& ph = phases_[f];
          if (ph.size == 0) continue;  // no pixels (an image smaller than the stride)
          const int64_t depth = static_cast<int64_t>(packed[f].koff.size());
          float* of = out + ph.offset;  // (CG, size), rows ld apart
          const float* a = padded + gi * g.og * plane_;
          const float* b = packed[f].w.data() + gi * g.cg * depth;
          if (depth == 0) {
            std::fill(of, of + g.cg * ph.size, 0.0f);
          } else if (ph.whole_rows) {  // rows of whole vectors: no junk columns
            direct_gemm_rows(a, ws_, ph.cols, packed[f].koff.data(), ph.size, b, 1, depth, g.cg,
                             depth, nullptr, of, ph.size);
          } else {
            direct_gemm(a, 0, packed[f].koff.data(), ph.size, b, 1, depth, nullptr, g.cg, depth,
                        nullptr, false, of, ph.size);
          }
        }
        for (int64_t c = 0; c < g.cg; ++c)
          for (int64_t y = 0; y < g.h; ++y) write_row(out, c, y, gxn + (gi * g.cg + c) * g.hw);
      }
    });
  }

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
  void write_row(const float* out, int64_t c, int64_t y, float* gx) const {
    const int64_t sw = g_.p.stride_w, py = y % g_.p.stride_h, row = y / g_.p.stride_h;
    float* dst = gx + y * g_.w;
    auto src = [&](const Phase& ph) { return out + ph.offset + c * ph.size + row * ph.ld; };
    if (sw != 2) {
      for (int64_t px = 0; px < sw; ++px) {
        const Phase& ph = phase(py, px);
        const float* s = src(ph);
        for (int64_t x = 0; x < ph.cols; ++x) dst[px + x * sw] = s[x];
      }
      return;
    }
    const Phase& even = phase(py, 0);
    const Phase& odd = phase(py, 1);
    const float* s0 = src(even);
    const float* s1 = odd.size > 0 ? src(odd) : s0;  // read through an empty mask only
    const __m512i lo = _mm512_setr_epi32(0, 16, 1, 17, 2, 18, 3, 19, 4, 20, 5, 21, 6, 22, 7, 23);
    const __m512i hi = _mm512_add_epi32(lo, _mm512_set1_epi32(8));
    for (int64_t x = 0; x < g_.w; x += 32) {
      const int64_t left = std::min<int64_t>(32, g_.w - x);  // pixels of this step
      const auto mask = [](int64_t count) {
        return static_cast<__mmask16>((1u << std::clamp<int64_t>(count, 0, 16)) - 1u);
      };
      const __m512 e = _mm512_maskz_loadu_ps(mask((left + 1) / 2), s0 + x / 2);
      const __m512 o = _mm512_maskz_loadu_ps(mask(left / 2), s1 + x / 2);
      _mm512_mask_storeu_ps(dst + x, mask(left), _mm512_permutex2var_ps(e, lo, o));
      _mm512_mask_storeu_ps(dst + x + 16, mask(left - 16), _mm512_permutex2var_ps(e, hi, o));
    }
  }

  Geom g_;
  std::vector<Phase> phases_;
  int64_t top_ = 0, bottom_ = 0, left_ = 0, right_ = 0;  // grad_y padding
  int64_t ws_ = 0, plane_ = 0;
  int64_t out_floats_ = 0;  // the phase results of one group
};
#endif

void CpuBackend::conv2d_forward(const Tensor& x, const Tensor& w, const Tensor& bias,
                                const Conv2dParams& p, const Tensor& y) {
  const Geom g = geometry(x.shape(), w.shape(), y.shape(), p);
  const float* xp = x.data<float>();  // (N, C, H, W)
  const float* wp = w.data<float>();  // (O, C/groups, KH, KW)
  const Tensor b = bias.defined() ? bias.contiguous() : Tensor();
  const float* bp = b.defined() ? b.data<float>() : nullptr;  // (O)
  float* yp = y.data<float>();                                // (N, O, OH, OW)
#if defined(__AVX512F__)
  if (p.skip_zero_slices && conv2d_skipping_slices(x, w, b, p, y)) return;
  forward_direct(xp, g, wp, {1, g.ck}, bp, yp);
#else
  const int64_t tile = tile_rows(g);
  for_each_image(g, [&](int64_t n) {
    const float* xn = xp + n * g.c * g.hw;
    float* yn = yp + n * g.o * g.ohw;
    for (int64_t r0 = 0; r0 < g.oh; r0 += tile) {
      const int64_t r1 = std::min(g.oh, r0 + tile), np = (r1 - r0) * g.ow;
      int64_t ld = 0;
      const float* col = column_tile(xn, g, r0, r1, ld);  // (C*KH*KW, np), leading dimension ld
      for (int64_t gi = 0; gi < g.groups; ++gi) {
        const CCol a(col + gi * g.ck * ld, np, g.ck, Stride(ld));               // (np, CK)
        const CCol wg(wp + gi * g.og * g.ck, g.ck, g.og, Stride(g.ck));         // (CK, OG)
        MCol out(yn + gi * g.og * g.ohw + r0 * g.ow, np, g.og, Stride(g.ohw));  // (np, OG)
        if (bp) {
          for (int64_t o = 0; o < g.og; ++o) out.col(o).setConstant(bp[gi * g.og + o]);
          out.noalias() += a * wg;
        } else {
          out.noalias() = a * wg;
        }
      }
    }
  });
#endif
}

void CpuBackend::conv2d_backward_input(const Tensor& grad_y, const Tensor& w, const Conv2dParams& p,
                                       const Tensor& grad_x) {
  const Geom g = geometry(grad_x.shape(), w.shape(), grad_y.shape(), p);
  const float* gyp = grad_y.data<float>();  // (N, O, OH, OW)
  const float* wp = w.data<float>();        // (O, C/groups, KH, KW)
  float* gxp = grad_x.data<float>();        // (N, C, H, W)
#if defined(__AVX512F__)
  // With stride 1 the input gradient is itself a convolution: of grad_y with the kernel flipped
  // and its channel axes swapped, padded by dilation*(K-1) - pad. That runs on the forward
  // kernel and replaces the scatter of col2im by a gather.
  const int64_t tpad_h = p.dilation_h * (g.kh - 1) - p.pad_h;
  const int64_t tpad_w = p.dilation_w * (g.kw - 1) - p.pad_w;
  // Few input channels per group (an RGB stem) would leave the kernel's 8 broadcast lanes idle.
  if (p.stride_h == 1 && p.stride_w == 1 && tpad_h >= 0 && tpad_w >= 0 && g.cg >= 8) {
    Conv2dParams tp = p;
    tp.pad_h = tpad_h;
    tp.pad_w = tpad_w;
    const Geom t = geometry(grad_y.shape(), {g.c, g.og, g.kh, g.kw}, grad_x.shape(), tp);
    const Tensor wt = flipped_transpose(w, g.groups);  // (C, OG, KH, KW)
    if (p.skip_zero_slices && conv2d_skipping_slices(grad_y, wt, Tensor(), tp, grad_x)) return;
    forward_direct(gyp, t, wt.data<float>(), {1, t.ck}, nullptr, gxp);
    return;
  }
  if ((p.stride_h > 1 || p.stride_w > 1) && p.dilation_h == 1 && p.dilation_w == 1 && g.cg >= 8) {
    StridedInputGrad(g).run(gyp, wp, gxp);
    return;
  }
#endif
  const int64_t tile = tile_rows(g);
  for_each_image(g, [&](int64_t n) {
    const float* gyn = gyp + n * g.o * g.ohw;
    float* gxn = gxp + n * g.c * g.hw;
    if (!g.is_pointwise()) std::fill(gxn, gxn + g.c * g.hw, 0.0f);
    for (int64_t r0 = 0; r0 < g.oh; r0 += tile) {
      const int64_t r1 = std::min(g.oh, r0 + tile), np = (r1 - r0) * g.ow;
      // The column gradient goes straight into grad_x when no scatter is needed.
      float* gcol = gxn;  // (C*KH*KW, np) with leading dimension ld
      int64_t ld = g.hw;
      if (!g.is_pointwise()) {
        gcol = scratch(static_cast<size_t>(g.groups * g.ck * np), 0);
        ld = np;
      }
      for (int64_t gi = 0; gi < g.groups; ++gi) {
#if defined(__AVX512F__)
        // gcol_g (CK, np) = w_g^T (CK, OG) * gy_g (OG, np)
        direct_gemm(gyn + gi * g.og * g.ohw + r0 * g.ow, g.ohw, nullptr, np, wp + gi * g.og * g.ck,
                    g.ck, 1, nullptr, g.ck, g.og, nullptr, false, gcol + gi * g.ck * ld, ld);
#else
        const CCol a(gyn + gi * g.og * g.ohw + r0 * g.ow, np, g.og, Stride(g.ohw));  // (np, OG)
        const CRow wg(wp + gi * g.og * g.ck, g.og, g.ck, Stride(g.ck));              // (OG, CK)
        MCol out(gcol + gi * g.ck * ld, np, g.ck, Stride(ld));                       // (np, CK)
        out.noalias() = a * wg;
#endif
      }
      if (!g.is_pointwise()) col2im(gcol, g, r0, r1, gxn);
    }
  });
}

void CpuBackend::conv2d_backward_weight(const Tensor& grad_y, const Tensor& x,
                                        const Conv2dParams& p, const Tensor& grad_w) {
  const Geom g = geometry(x.shape(), grad_w.shape(), grad_y.shape(), p);
  const float* gyp = grad_y.data<float>();  // (N, O, OH, OW)
  const float* xp = x.data<float>();        // (N, C, H, W)
  float* gwp = grad_w.data<float>();        // (O, C/groups, KH, KW)
  const int64_t wsize = g.o * g.ck;
  const int64_t tile = tile_rows(g);

  // Adds image n's contribution through column tiles (1x1 convolutions, portable builds).
  auto add_image = [&](int64_t n, float* acc) {
    const float* xn = xp + n * g.c * g.hw;
    const float* gyn = gyp + n * g.o * g.ohw;
    for (int64_t r0 = 0; r0 < g.oh; r0 += tile) {
      const int64_t r1 = std::min(g.oh, r0 + tile), np = (r1 - r0) * g.ow;
      int64_t ld = 0;
      const float* col = column_tile(xn, g, r0, r1, ld);  // (C*KH*KW, np), leading dimension ld
      for (int64_t gi = 0; gi < g.groups; ++gi) {
        const float* gyg = gyn + gi * g.og * g.ohw + r0 * g.ow;  // (OG, np), stride OH*OW
#if defined(__AVX512F__)
        // Only 1x1 convolutions get here (col is the image). The kernel vectorises over output
        // channels, so grad_y's tile is transposed first.
        float* gyt = scratch(static_cast<size_t>(np * g.og), 2);  // (np, OG)
        for (int64_t q0 = 0; q0 < np; q0 += 32)  // blocks keep the strided writes in L1
          for (int64_t o = 0; o < g.og; ++o)
            for (int64_t q = q0; q < std::min(np, q0 + 32); ++q)
              gyt[q * g.og + o] = gyg[o * g.ohw + q];
        thread_local std::vector<int64_t> row_off;  // column row j starts at j * ld
        row_off.resize(static_cast<size_t>(g.ck));
        for (int64_t j = 0; j < g.ck; ++j) row_off[static_cast<size_t>(j)] = j * ld;
        direct_gemm(gyt, g.og, nullptr, g.og, col + gi * g.ck * ld, 1, 0, row_off.data(), g.ck, np,
                    nullptr, true, acc + gi * g.ck * g.og, g.og);
#else
        const CRow a(col + gi * g.ck * ld, g.ck, np, Stride(ld));    // (CK, np)
        const CCol b(gyg, np, g.og, Stride(g.ohw));                  // (np, OG)
        MRow out(acc + gi * g.ck * g.og, g.ck, g.og, Stride(g.og));  // (CK, OG)
        out.noalias() += a * b;
#endif
      }
    }
  };

  // Adds the contributions of images [n0, n0 + count) into acc, per group the weight gradient
  // transposed to (CK, OG): acc_g += col_g * gy_g^T, the sum over the images' pixels.
  int64_t batch = 1;     // images per call of accumulate
  bool shifted = false;  // acc holds kernel columns in reverse order (see below)
#if defined(__AVX512F__)
  // As in the forward pass, the taps are read from the phase image over phase-width positions
  // v; grad_y is transposed to (v, OG) with zeros at the junk positions so they add nothing.
  const Phases ph(g);
  const int64_t nv = ph.nv, ws = ph.ws;
  const bool implicit = !g.is_pointwise();
  const std::vector<int64_t> joff = tap_offsets(g, ph);
  // The kernel loads and stores its block of acc once per call. With small images (64 pixels at
  // 8x8) and many channels (acc is 2.4 MB at 256, beyond L2) that traffic outweighed the FMAs:
  // the kernel sums several images per call instead, about 512 positions in all.
  if (implicit) batch = std::clamp<int64_t>(512 / nv, 1, 8);
  // With 16 or 32 output channels the kernel's vectors (v = output channels) would be one or
  // two, each loaded vector feeding only 8 FMAs against 8 broadcasts: load-bound at about half
  // the forward pass's rate. At unit column stride the kernel columns can join v instead: tap
  // (c, i, j) at position k reads what tap (c, i, 0) reads at k' = k + j, so
  //   dW[o][c, i, j] = sum_k' gy[o][k' - j] * x_(c, i, 0)[k'],
  // a product with v = (j, o) over grad_y rows k' - j, which lie next to each other in the
  // transposed grad_y. Rows are taken in the order j' = KW - 1 - j so that they ascend in
  // memory; acc then holds column j' where (CK, OG) has j, undone in the final sum.
  shifted = implicit && g.og <= 32 && g.kw > 1 && g.p.stride_w == 1 && g.p.dilation_w == 1;
  const int64_t cols = shifted ? g.kw : 1;  // kernel columns in v
  const int64_t pad_rows = cols - 1;        // zero rows around each image's grad_y
  std::vector<int64_t> taps;                // the kernel's j: taps (c, i, j), or (c, i, 0)
  for (int64_t t = 0; t < g.ck; t += cols) taps.push_back(joff[static_cast<size_t>(t)]);
#endif
  auto accumulate = [&](int64_t n0, int64_t count, float* acc) {
#if defined(__AVX512F__)
    if (implicit) {
      const float* xph = phase_images(xp + n0 * g.c * g.hw, count, g, ph);  // (count, C, ...)
      const int64_t image_floats = g.c * ph.chan, rows = nv + 2 * pad_rows;
      float* gyt = scratch(static_cast<size_t>(count * rows * g.og), 2);  // (count, rows, OG)
      for (int64_t gi = 0; gi < g.groups; ++gi) {
        for (int64_t s = 0; s < count; ++s) {
          float* block = gyt + s * rows * g.og;
          std::fill(block, block + pad_rows * g.og, 0.0f);
          std::fill(block + (pad_rows + nv) * g.og, block + rows * g.og, 0.0f);
          transpose_rows(gyp + ((n0 + s) * g.o + gi * g.og) * g.ohw, g, ws,
                         block + pad_rows * g.og);
        }
        // y[tap][(j', o)] += sum over k < nv + pad_rows of gyt row k + j' times the tap at k
        direct_gemm(gyt, g.og, nullptr, cols * g.og, xph + gi * g.cg * ph.chan, 1, 0, taps.data(),
                    g.ck / cols, nv + pad_rows, nullptr, true, acc + gi * g.ck * g.og, cols * g.og,
                    {count, rows * g.og, image_floats});
      }
      return;
    }
#endif
    for (int64_t n = n0; n < n0 + count; ++n) add_image(n, acc);
  };

  // Each thread sums its images into a private copy; the copies are then reduced in parallel
  // and transposed back to (O, CK) per group.
  const int threads = conv_threads(g);
  std::vector<float*> partial(static_cast<size_t>(threads), nullptr);
#pragma omp parallel num_threads(threads)
  {
    const int t = omp_get_thread_num();
    float* acc = scratch(static_cast<size_t>(wsize), 1);  // (groups, CK, OG)
    std::fill(acc, acc + wsize, 0.0f);
    partial[static_cast<size_t>(t)] = acc;
    // Static, not dynamic: which images a thread sums must not depend on timing, or the
    // rounding of the sum (and so training) would differ from run to run.
#pragma omp for schedule(static)
    for (int64_t n0 = 0; n0 < g.n; n0 += batch) accumulate(n0, std::min(batch, g.n - n0), acc);
    // The implicit barrier of the loop above makes every partial sum complete here.
    const int team = omp_get_num_threads();
#pragma omp for schedule(static)
    for (int64_t i = 0; i < wsize; ++i) {  // i indexes grad_w (O, CK)
      const int64_t gi = i / (g.og * g.ck), o = i / g.ck % g.og, k = i % g.ck;
      const int64_t j = k % g.kw;
      const int64_t at = (gi * g.ck + (shifted ? k - j + g.kw - 1 - j : k)) * g.og + o;
      float s = 0.0f;
      for (int u = 0; u < team; ++u) s += partial[static_cast<size_t>(u)][at];
      gwp[i] = s;
    }
  }
}

}  // namespace lnx

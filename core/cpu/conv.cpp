// The CPU backend's dense 2-D convolution: forward pass, input gradient and weight gradient.
// Images are spread over OpenMP threads, each with its own scratch (conv_geometry.h); within an
// image everything is one thread's work.
//
// With AVX-512 (the -march=native build) all three kernels run on one register-blocked
// micro-kernel (direct_gemm.h) instead of Eigen: Eigen packs its operands into a private layout
// first, and for these thin products (16-64 channels) that copy cost as much as the FMAs. The
// forward pass and the weight gradient build no column matrix at all: they read the taps
// straight from the zero-padded image, split into stride phases so every tap is a unit-stride
// window at a constant offset (conv_layouts.h). 3x3 stride-1 forward passes of 64+ channels run
// Winograd's F(2x2, 3x3) on the same micro-kernel instead (winograd_conv.h): 2.25x fewer
// multiplications. The stride-1 input gradient is the forward pass run on grad_y with the
// flipped kernel (so it takes Winograd's path too); a strided one is the forward kernel run once
// per input phase (strided_input_grad.h). Depthwise convolutions have loops of their own for the
// input gradient, the stride-1 weight gradient and small stride-1 outputs (depthwise_conv.h). The
// rest (dilated and strided, or under 8 channels per group) compute a column gradient tile with the
// micro-kernel and scatter it with col2im (conv_columns.h).
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
#include <vector>

#include "core/cpu/conv_columns.h"
#include "core/cpu/conv_geometry.h"
#include "core/cpu/conv_layouts.h"
#include "core/cpu/cpu_backend.h"
#include "core/cpu/depthwise_conv.h"
#include "core/cpu/direct_gemm.h"
#include "core/cpu/sparse_conv.h"
#include "core/cpu/strided_input_grad.h"
#include "core/cpu/winograd_conv.h"

namespace lnx {
namespace {

using cpu::col2im;
using cpu::column_tile;
using cpu::conv_threads;
using cpu::for_each_image;
using cpu::Geom;
using cpu::geometry;
using cpu::scratch;
using cpu::tile_rows;

using Eigen::Dynamic;
using Stride = Eigen::OuterStride<>;
using ColMat = Eigen::Matrix<float, Dynamic, Dynamic, Eigen::ColMajor>;
using RowMat = Eigen::Matrix<float, Dynamic, Dynamic, Eigen::RowMajor>;
using CCol = Eigen::Map<const ColMat, Eigen::Unaligned, Stride>;
using CRow = Eigen::Map<const RowMat, 0, Stride>;
using MCol = Eigen::Map<ColMat, 0, Stride>;
using MRow = Eigen::Map<RowMat, 0, Stride>;

bool unit_stride(const Conv2dParams& p) {
  return p.stride_h == 1 && p.stride_w == 1;
}

#if defined(__AVX512F__)
using cpu::direct_gemm;
using cpu::direct_gemm_rows;
using cpu::phase_images;
using cpu::Phases;
using cpu::rows_fill_vectors;
using cpu::StridedInputGrad;
using cpu::tap_offsets;
using cpu::transpose_rows;
using cpu::v_block;

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

// Where the kernel finds weight (tap k, output channel j) of a group: at w + k * ldb + j * bstride.
// The forward pass reads the weight as stored, (OG, CK) per group: no transposed copy, which at
// batch 1 (and in sparse inference's small chunks) cost as much as the convolution itself.
struct WeightLayout {
  int64_t ldb, bstride;
};

// Output planes of at most 16 pixels (VGG's 4x4 and 2x2 maps): a phase image's rows would fill at
// most half of each vector, and every image would stream the whole weight (9.4 MB for 512 -> 512
// channels) through the kernel again. Instead the columns of several images side by side make
// one product whose vectors are full and which reads the weight once per block of columns.
// The taps are summed in the same order as on the phase image, so the results are the same.
// Measured on the Intel host (one thread, 2026-12-02): 1.3-3.5x faster from 16 columns at 2x2 and
// from 128 channels at 4x4; slower for one 2x2 image (4 columns) and for 64 channels or fewer at
// 3x3 and 4x4, where a phase image's vector is already partly full and the copy does not pay.
bool small_planes(const Geom& g) {
  if (g.is_pointwise() || g.ohw > 16 || g.n * g.ohw < 16) return false;
  return (g.ohw <= 4 && g.cg >= 32) || g.cg >= 128;
}

void forward_batched_columns(const float* xp, const Geom& g, const float* w, WeightLayout wl,
                             const float* bp, float* yp) {
  // About 64 columns a product (4 images at 4x4, 16 at 2x2), in chunks that share the threads
  // evenly: the column block of 512 channels (4608 x 64 floats, 1.2 MB) then stays in L2, where
  // 192 columns measured 40-50% slower.
  const int64_t threads = conv_threads(g);
  const int64_t most = std::max<int64_t>(1, 64 / g.ohw);
  int64_t chunks = (g.n + most - 1) / most;
  chunks = std::min(g.n, (chunks + threads - 1) / threads * threads);
  const int64_t per = (g.n + chunks - 1) / chunks;
  chunks = (g.n + per - 1) / per;
  auto run = [&](int64_t chunk) {
    const int64_t n0 = chunk * per, nb = std::min(per, g.n - n0), cols = nb * g.ohw;
    float* col = scratch(static_cast<size_t>(g.groups * g.ck * cols), 0);  // (groups*CK, cols)
    for (int64_t i = 0; i < nb; ++i)
      cpu::image_columns(xp + (n0 + i) * g.c * g.hw, g, col + i * g.ohw, cols);
    float* out = scratch(static_cast<size_t>(g.o * cols), 2);  // (O, cols)
    for (int64_t gi = 0; gi < g.groups; ++gi)
      direct_gemm(col + gi * g.ck * cols, cols, nullptr, cols, w + gi * g.ck * g.og, wl.ldb,
                  wl.bstride, nullptr, g.og, g.ck, bp ? bp + gi * g.og : nullptr, false,
                  out + gi * g.og * cols, cols);
    for (int64_t i = 0; i < nb; ++i)
      for (int64_t o = 0; o < g.o; ++o) {
        const float* src = out + o * cols + i * g.ohw;
        std::copy(src, src + g.ohw, yp + ((n0 + i) * g.o + o) * g.ohw);
      }
  };
  if (threads > 1 && chunks > 1) {
#pragma omp parallel for schedule(dynamic, 1)
    for (int64_t k = 0; k < chunks; ++k) run(k);
  } else {
    for (int64_t k = 0; k < chunks; ++k) run(k);
  }
}

// The forward pass over all images with the direct kernel; group gi's weights start at
// w + gi * CK * OG.
void forward_direct(const float* xp, const Geom& g, const float* w, WeightLayout wl,
                    const float* bp, float* yp) {
  if (small_planes(g)) {
    forward_batched_columns(xp, g, w, wl, bp, yp);
    return;
  }
  if (wl.ldb == 1 && wl.bstride == g.ck && cpu::winograd_suits(g)) {
    cpu::winograd_forward(xp, g, w, bp, yp);
    return;
  }
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

}  // namespace

void CpuBackend::conv2d_forward(const Tensor& x, const Tensor& w, const Tensor& bias,
                                const Conv2dParams& p, const Tensor& y) {
  const Geom g = geometry(x.shape(), w.shape(), y.shape(), p);
  const float* xp = x.data<float>();  // (N, C, H, W)
  const float* wp = w.data<float>();  // (O, C/groups, KH, KW)
  const Tensor b = bias.defined() ? bias.contiguous() : Tensor();
  const float* bp = b.defined() ? b.data<float>() : nullptr;  // (O)
  float* yp = y.data<float>();                                // (N, O, OH, OW)
  if (cpu::is_depthwise(g) && unit_stride(p) && g.ohw <= 16) {
    cpu::depthwise_forward(xp, wp, bp, g, yp);
    return;
  }
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
  if (cpu::is_depthwise(g)) {
    cpu::depthwise_backward_input(gyp, wp, g, gxp);
    return;
  }
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
  if (cpu::is_depthwise(g) && unit_stride(p)) {
    cpu::depthwise_backward_weight(gyp, xp, g, gwp);
    return;
  }
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
      float* gyt = scratch(static_cast<size_t>(count * rows * g.og), 2);
      for (int64_t gi = 0; gi < g.groups; ++gi) {
        if (shifted) {  // (count, rows, OG): v = (j', o) spans all OG channels of KW rows
          for (int64_t s = 0; s < count; ++s) {
            float* block = gyt + s * rows * g.og;
            std::fill(block, block + pad_rows * g.og, 0.0f);
            std::fill(block + (pad_rows + nv) * g.og, block + rows * g.og, 0.0f);
            transpose_rows(gyp + ((n0 + s) * g.o + gi * g.og) * g.ohw, g, ws,
                           block + pad_rows * g.og);
          }
          // y[tap][(j', o)] += sum over k < nv + pad_rows of gyt row k + j' times the tap at k
          direct_gemm(gyt, g.og, nullptr, cols * g.og, xph + gi * g.cg * ph.chan, 1, 0, taps.data(),
                      g.ck / cols, nv + pad_rows, nullptr, true, acc + gi * g.ck * g.og,
                      cols * g.og, {count, rows * g.og, image_floats});
          continue;
        }
        // grad_y transposed into one panel per block of the kernel's v (output channels),
        // (count, nv, width) each, so that every j block reads its a operand as one sequential
        // stream rather than 48 or 64 floats out of each 256-float row of an (nv, OG) matrix.
        for (int64_t v0 = 0; v0 < g.og;) {
          const int64_t width =
              std::min<int64_t>(16 * v_block((g.og - v0 + 15) / 16).vectors, g.og - v0);
          Geom part = g;  // the panel's channels [v0, v0 + width) as a convolution of their own
          part.og = width;
          float* panel = gyt + v0 * count * nv;
          for (int64_t s = 0; s < count; ++s)
            transpose_rows(gyp + ((n0 + s) * g.o + gi * g.og + v0) * g.ohw, part, ws,
                           panel + s * nv * width);
          direct_gemm(panel, width, nullptr, width, xph + gi * g.cg * ph.chan, 1, 0, taps.data(),
                      g.ck, nv, nullptr, true, acc + gi * g.ck * g.og + v0, g.og,
                      {count, nv * width, image_floats});
          v0 += width;
        }
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
    // In tiles of 16 taps x 16 output channels, so that the partials' rows are read and grad_w's
    // rows written within L1; element by element, every transposed read missed the cache (and
    // the index arithmetic cost four divisions): 4-7% of a 256-channel weight gradient.
    const int64_t k_tiles = (g.ck + 15) / 16;
#pragma omp for schedule(static)
    for (int64_t t = 0; t < g.groups * k_tiles; ++t) {
      const int64_t gi = t / k_tiles, k0 = t % k_tiles * 16, k1 = std::min(g.ck, k0 + 16);
      for (int64_t o0 = 0; o0 < g.og; o0 += 16) {
        const int64_t o1 = std::min(g.og, o0 + 16);
        for (int64_t k = k0; k < k1; ++k) {
          const int64_t j = k % g.kw;
          const int64_t row = gi * g.ck + (shifted ? k - j + g.kw - 1 - j : k);  // acc row of tap k
          for (int64_t o = o0; o < o1; ++o) {
            float s = 0.0f;
            for (int u = 0; u < team; ++u) s += partial[static_cast<size_t>(u)][row * g.og + o];
            gwp[(gi * g.og + o) * g.ck + k] = s;
          }
        }
      }
    }
  }
}

}  // namespace lnx

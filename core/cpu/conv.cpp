// Convolution kernels: im2col + Eigen GEMM per image, images spread over OpenMP threads (each
// thread single-threaded GEMMs on its own scratch), which beats splitting the small per-image
// GEMMs across threads. 1x1 stride-1 unpadded convolutions skip im2col: the image already is the
// column matrix.
//
// Every GEMM is phrased column-major with the pixel axis as rows, so the long dimension (H*W)
// feeds Eigen's tall micro-kernel panels and no operand or result needs a transposed copy: a
// row-major (C, HW) buffer is a column-major (HW, C) matrix with leading dimension HW.
#include <omp.h>

#include <Eigen/Core>
#include <algorithm>
#include <cstring>
#include <vector>

#include "core/cpu/cpu_backend.h"

namespace lnx {
namespace {

using Eigen::Dynamic;
using Stride = Eigen::OuterStride<>;
using ColMat = Eigen::Matrix<float, Dynamic, Dynamic, Eigen::ColMajor>;
using RowMat = Eigen::Matrix<float, Dynamic, Dynamic, Eigen::RowMajor>;
using CCol = Eigen::Map<const ColMat, Eigen::Unaligned, Stride>;
using CRow = Eigen::Map<const RowMat, 0, Stride>;
using MCol = Eigen::Map<ColMat, 0, Stride>;

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
// allocate. Slot 0 holds column matrices, slot 1 per-thread weight-gradient partial sums.
float* scratch(size_t count, int slot) {
  thread_local std::vector<float> buffers[2];
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

// col (C*KH*KW, OH*OW) from one image x (C, H, W).
void im2col(const float* x, const Geom& g, int64_t channels, float* col) {
  const Conv2dParams& p = g.p;
  for (int64_t c = 0; c < channels; ++c) {
    const float* plane = x + c * g.hw;
    for (int64_t i = 0; i < g.kh; ++i) {
      for (int64_t j = 0; j < g.kw; ++j) {
        float* dst = col + ((c * g.kh + i) * g.kw + j) * g.ohw;
        const int64_t off_w = j * p.dilation_w - p.pad_w;
        int64_t lo, hi;
        valid_range(off_w, p.stride_w, g.w, g.ow, lo, hi);
        for (int64_t r = 0; r < g.oh; ++r, dst += g.ow) {
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

// x (C, H, W) += scatter of col (C*KH*KW, OH*OW); the adjoint of im2col.
void col2im(const float* col, const Geom& g, int64_t channels, float* x) {
  const Conv2dParams& p = g.p;
  for (int64_t c = 0; c < channels; ++c) {
    float* plane = x + c * g.hw;
    for (int64_t i = 0; i < g.kh; ++i) {
      for (int64_t j = 0; j < g.kw; ++j) {
        const float* src = col + ((c * g.kh + i) * g.kw + j) * g.ohw;
        const int64_t off_w = j * p.dilation_w - p.pad_w;
        int64_t lo, hi;
        valid_range(off_w, p.stride_w, g.w, g.ow, lo, hi);
        for (int64_t r = 0; r < g.oh; ++r, src += g.ow) {
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

// Runs f(image) for every image, spread over threads when there are several images. With one
// image the loop stays serial so Eigen may use the threads inside each GEMM instead.
template <typename F>
void for_each_image(int64_t n, F&& f) {
  if (n > 1 && omp_get_max_threads() > 1) {
#pragma omp parallel for schedule(static)
    for (int64_t i = 0; i < n; ++i) f(i);
  } else {
    for (int64_t i = 0; i < n; ++i) f(i);
  }
}

}  // namespace

void CpuBackend::conv2d_forward(const Tensor& x, const Tensor& w, const Tensor& bias,
                                const Conv2dParams& p, const Tensor& y) {
  const Geom g = geometry(x.shape(), w.shape(), y.shape(), p);
  const float* xp = x.data<float>();  // (N, C, H, W)
  const float* wp = w.data<float>();  // (O, C/groups, KH, KW)
  const Tensor b = bias.defined() ? bias.contiguous() : Tensor();
  const float* bp = b.defined() ? b.data<float>() : nullptr;  // (O)
  float* yp = y.data<float>();                                // (N, O, OH, OW)
  const bool pointwise = g.is_pointwise();
  for_each_image(g.n, [&](int64_t n) {
    const float* xn = xp + n * g.c * g.hw;
    float* yn = yp + n * g.o * g.ohw;
    const float* col = xn;  // (C*KH*KW, OH*OW)
    if (!pointwise) {
      float* buf = scratch(static_cast<size_t>(g.groups * g.ck * g.ohw), 0);
      im2col(xn, g, g.c, buf);
      col = buf;
    }
    for (int64_t gi = 0; gi < g.groups; ++gi) {
      const CCol a(col + gi * g.ck * g.ohw, g.ohw, g.ck, Stride(g.ohw));  // (OHW, CK)
      const CCol b(wp + gi * g.og * g.ck, g.ck, g.og, Stride(g.ck));      // (CK, OG)
      MCol out(yn + gi * g.og * g.ohw, g.ohw, g.og, Stride(g.ohw));       // (OHW, OG)
      if (bp) {
        for (int64_t o = 0; o < g.og; ++o) out.col(o).setConstant(bp[gi * g.og + o]);
        out.noalias() += a * b;
      } else {
        out.noalias() = a * b;
      }
    }
  });
}

void CpuBackend::conv2d_backward_input(const Tensor& grad_y, const Tensor& w, const Conv2dParams& p,
                                       const Tensor& grad_x) {
  const Geom g = geometry(grad_x.shape(), w.shape(), grad_y.shape(), p);
  const float* gyp = grad_y.data<float>();  // (N, O, OH, OW)
  const float* wp = w.data<float>();        // (O, C/groups, KH, KW)
  float* gxp = grad_x.data<float>();        // (N, C, H, W)
  const bool pointwise = g.is_pointwise();
  for_each_image(g.n, [&](int64_t n) {
    const float* gyn = gyp + n * g.o * g.ohw;
    float* gxn = gxp + n * g.c * g.hw;
    // The column gradient goes straight into grad_x when no scatter is needed.
    float* gcol = pointwise ? gxn : scratch(static_cast<size_t>(g.groups * g.ck * g.ohw), 0);
    for (int64_t gi = 0; gi < g.groups; ++gi) {
      const CCol a(gyn + gi * g.og * g.ohw, g.ohw, g.og, Stride(g.ohw));  // (OHW, OG)
      const CRow b(wp + gi * g.og * g.ck, g.og, g.ck, Stride(g.ck));      // (OG, CK)
      MCol out(gcol + gi * g.ck * g.ohw, g.ohw, g.ck, Stride(g.ohw));     // (OHW, CK)
      out.noalias() = a * b;
    }
    if (!pointwise) {
      std::fill(gxn, gxn + g.c * g.hw, 0.0f);
      col2im(gcol, g, g.c, gxn);
    }
  });
}

void CpuBackend::conv2d_backward_weight(const Tensor& grad_y, const Tensor& x,
                                        const Conv2dParams& p, const Tensor& grad_w) {
  const Geom g = geometry(x.shape(), grad_w.shape(), grad_y.shape(), p);
  const float* gyp = grad_y.data<float>();  // (N, O, OH, OW)
  const float* xp = x.data<float>();        // (N, C, H, W)
  float* gwp = grad_w.data<float>();        // (O, C/groups, KH, KW)
  const bool pointwise = g.is_pointwise();
  const int64_t wsize = g.o * g.ck;
  const int threads = g.n > 1 ? omp_get_max_threads() : 1;

  // Adds image n's contribution into acc (O, CK): per group acc_g^T (CK, OG) += col_g * gy_g^T.
  auto accumulate = [&](int64_t n, float* acc) {
    const float* xn = xp + n * g.c * g.hw;
    const float* gyn = gyp + n * g.o * g.ohw;
    const float* col = xn;  // (C*KH*KW, OH*OW)
    if (!pointwise) {
      float* buf = scratch(static_cast<size_t>(g.groups * g.ck * g.ohw), 0);
      im2col(xn, g, g.c, buf);
      col = buf;
    }
    for (int64_t gi = 0; gi < g.groups; ++gi) {
      const CRow a(col + gi * g.ck * g.ohw, g.ck, g.ohw, Stride(g.ohw));  // (CK, OHW)
      const CCol b(gyn + gi * g.og * g.ohw, g.ohw, g.og, Stride(g.ohw));  // (OHW, OG)
      MCol out(acc + gi * g.og * g.ck, g.ck, g.og, Stride(g.ck));         // (CK, OG)
      out.noalias() += a * b;
    }
  };

  std::fill(gwp, gwp + wsize, 0.0f);
  if (threads == 1) {
    for (int64_t n = 0; n < g.n; ++n) accumulate(n, gwp);
    return;
  }
  // Each thread sums its images into a private copy; the copies are then reduced in parallel.
  std::vector<float*> partial(static_cast<size_t>(threads), nullptr);
#pragma omp parallel num_threads(threads)
  {
    const int t = omp_get_thread_num();
    float* acc = scratch(static_cast<size_t>(wsize), 1);
    std::fill(acc, acc + wsize, 0.0f);
    partial[static_cast<size_t>(t)] = acc;
#pragma omp for schedule(static)
    for (int64_t n = 0; n < g.n; ++n) accumulate(n, acc);
      // The implicit barrier of the loop above makes every partial sum complete here.
#pragma omp for schedule(static)
    for (int64_t i = 0; i < wsize; ++i) {
      float s = 0.0f;
      for (int k = 0; k < omp_get_num_threads(); ++k) s += partial[static_cast<size_t>(k)][i];
      gwp[i] = s;
    }
  }
}

}  // namespace lnx

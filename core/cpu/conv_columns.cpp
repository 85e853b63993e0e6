#include "core/cpu/conv_columns.h"

#include <algorithm>

namespace lnx::cpu {
namespace {

constexpr int64_t kTileBytes = 256 * 1024;

// Output columns ow whose input column ow*stride + offset lies in [0, width): [lo, hi).
void valid_range(int64_t offset, int64_t stride, int64_t width, int64_t out, int64_t& lo,
                 int64_t& hi) {
  lo = offset >= 0 ? 0 : (-offset + stride - 1) / stride;
  hi = width - offset <= 0 ? 0 : (width - offset + stride - 1) / stride;
  lo = std::min(lo, out);
  hi = std::clamp(hi, lo, out);
}

// col (C*KH*KW, (r1-r0)*OW) from one image x (C, H, W): the columns of output rows [r0, r1),
// rows ld floats apart.
void im2col(const float* x, const Geom& g, int64_t r0, int64_t r1, float* col, int64_t ld) {
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
          float* dst = col + ((c * g.kh + i) * g.kw + j) * ld;
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
        float* dst = col + ((c * g.kh + i) * g.kw + j) * ld;
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

}  // namespace

int64_t tile_rows(const Geom& g) {
  if (g.is_pointwise()) return g.oh;  // no columns to build
  const int64_t budget = kTileBytes / static_cast<int64_t>(sizeof(float));
  const int64_t most =
      std::clamp<int64_t>(budget / std::max<int64_t>(1, g.groups * g.ck * g.ow), 1, g.oh);
  const int64_t tiles = (g.oh + most - 1) / most;
  return (g.oh + tiles - 1) / tiles;  // even tiles: no thin last tile
}

const float* column_tile(const float* xn, const Geom& g, int64_t r0, int64_t r1, int64_t& ld) {
  if (g.is_pointwise()) {
    ld = g.hw;
    return xn;
  }
  const int64_t np = (r1 - r0) * g.ow;
  float* buf = scratch(static_cast<size_t>(g.groups * g.ck * np), 0);
  im2col(xn, g, r0, r1, buf, np);
  ld = np;
  return buf;
}

void image_columns(const float* xn, const Geom& g, float* col, int64_t ld) {
  im2col(xn, g, 0, g.oh, col, ld);
}

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

}  // namespace lnx::cpu

#include "core/cpu/depthwise_conv.h"

#include <algorithm>

namespace lnx::cpu {
namespace {

// Planes worth spreading over the threads: below this many multiply-adds the team's fork and
// barrier cost more than the loops (gradient checks run thousands of tiny convolutions).
constexpr int64_t kMinParallelMacs = int64_t{1} << 18;

// Wide positions per pass over the taps: the chunk of the output (or grad_y) and the input rows
// its taps read stay in L1 across the KH * KW passes, where the whole stack (148 KB for a batch
// of 32 planes of 32x32) went to L2 and back once per tap.
constexpr int64_t kChunk = 2048;

bool parallel(const Geom& g) {
  return g.n * g.c * g.ohw * g.kh * g.kw >= kMinParallelMacs;
}

// Channel c of every image, zero-padded, one plane after another: (N, HP, WP) with PH rows and
// PW columns of zeros on every side. With stride 1 output (n, r, q) reads its taps at
// n * plane + r * WP + q + (i * WP + j) of the stack, so each tap is one long run over all the
// planes at once ("wide" positions, the rows' last KW - 1 and the planes' last KH - 1 rows junk):
// a 2x2 plane alone would give the vector loops 2 elements.
struct Stack {
  int64_t hp, wp, plane;
  explicit Stack(const Geom& g)
      : hp(g.h + 2 * g.p.pad_h), wp(g.w + 2 * g.p.pad_w), plane(hp * wp) {}
  int64_t size(const Geom& g) const { return g.n * plane; }
  // Wide positions whose taps all lie inside the stack (stride 1).
  int64_t wide(const Geom& g) const { return size(g) - (g.kh - 1) * wp - (g.kw - 1); }
};

// f(tap, offset, k0, len) for every chunk [k0, k0 + len) of the wide positions and, within it,
// every tap (i, j): tap i * KW + j, read at offset i * WP + j from a wide position.
template <typename F>
void for_each_chunk_and_tap(const Geom& g, const Stack& s, F&& f) {
  for (int64_t k0 = 0; k0 < s.wide(g); k0 += kChunk) {
    const int64_t len = std::min(kChunk, s.wide(g) - k0);
    for (int64_t i = 0; i < g.kh; ++i)
      for (int64_t j = 0; j < g.kw; ++j) f(i * g.kw + j, i * s.wp + j, k0, len);
  }
}

// Channel c of src (N, C, H, W), zero-padded, as an (N, HP, WP) stack in thread scratch slot 0.
const float* padded_channel(const float* src, int64_t c, const Geom& g, const Stack& s) {
  float* buf = scratch(static_cast<size_t>(s.size(g)), 0);
  std::fill(buf, buf + s.size(g), 0.0f);
  for (int64_t n = 0; n < g.n; ++n) {
    const float* plane = src + (n * g.c + c) * g.hw;
    for (int64_t r = 0; r < g.h; ++r)
      std::copy(plane + r * g.w, plane + (r + 1) * g.w,
                buf + n * s.plane + (r + g.p.pad_h) * s.wp + g.p.pad_w);
  }
  return buf;
}

// grad_y's channel c (N, C, OH, OW) at the stride-1 wide positions of its outputs, zeros
// elsewhere: an (N, HP, WP) stack in thread scratch slot 2.
const float* wide_outputs(const float* gy, int64_t c, const Geom& g, const Stack& s) {
  float* buf = scratch(static_cast<size_t>(s.size(g)), 2);
  std::fill(buf, buf + s.size(g), 0.0f);
  for (int64_t n = 0; n < g.n; ++n) {
    const float* plane = gy + (n * g.c + c) * g.ohw;
    for (int64_t r = 0; r < g.oh; ++r)
      std::copy(plane + r * g.ow, plane + (r + 1) * g.ow, buf + n * s.plane + r * s.wp);
  }
  return buf;
}

// The row operations the kernels are made of. A runtime stride inside the vector loop made the
// compiler gather (1 GFLOP/s), so stride 1 has loops of its own.
// y[q] += a * x[q] for q < n.
void axpy(float a, const float* x, int64_t n, float* y) {
#pragma omp simd
  for (int64_t q = 0; q < n; ++q) y[q] += a * x[q];
}

// y[q * sy] += a * x[q] for q < n.
void axpy_scatter(float a, const float* x, int64_t n, float* y, int64_t sy) {
  if (sy == 1) {
#pragma omp simd
    for (int64_t q = 0; q < n; ++q) y[q] += a * x[q];
  } else {
    for (int64_t q = 0; q < n; ++q) y[q * sy] += a * x[q];
  }
}

// sum of a[q] * x[q] for q < n.
float dot(const float* a, const float* x, int64_t n) {
  float acc = 0.0f;
#pragma omp simd reduction(+ : acc)
  for (int64_t q = 0; q < n; ++q) acc += a[q] * x[q];
  return acc;
}

}  // namespace

bool is_depthwise(const Geom& g) {
  return g.groups > 1 && g.cg == 1 && g.og == 1 && g.p.dilation_h == 1 && g.p.dilation_w == 1;
}

void depthwise_forward(const float* x, const float* w, const float* bias, const Geom& g, float* y) {
  const Stack s(g);
  const int64_t kk = g.kh * g.kw;
#pragma omp parallel for schedule(static) if (parallel(g))
  for (int64_t c = 0; c < g.c; ++c) {
    const float* xs = padded_channel(x, c, g, s);              // (N, HP, WP)
    const float* wc = w + c * kk;                              // (KH, KW)
    float* wide = scratch(static_cast<size_t>(s.size(g)), 2);  // (N, HP, WP): the outputs
    std::fill(wide, wide + s.wide(g), bias ? bias[c] : 0.0f);
    for_each_chunk_and_tap(g, s, [&](int64_t tap, int64_t off, int64_t k0, int64_t len) {
      axpy(wc[tap], xs + k0 + off, len, wide + k0);
    });
    for (int64_t n = 0; n < g.n; ++n)
      for (int64_t r = 0; r < g.oh; ++r) {
        const float* src = wide + n * s.plane + r * s.wp;
        std::copy(src, src + g.ow, y + ((n * g.c + c) * g.oh + r) * g.ow);
      }
  }
}

void depthwise_backward_input(const float* grad_y, const float* w, const Geom& g, float* grad_x) {
  const Stack s(g);
  const int64_t kk = g.kh * g.kw, sh = g.p.stride_h, sw = g.p.stride_w;
  const bool unit = sh == 1 && sw == 1;
#pragma omp parallel for schedule(static) if (parallel(g))
  for (int64_t c = 0; c < g.c; ++c) {
    // Scattered into padded planes, whose borders (the taps that fell on padding) are dropped.
    float* gxs = scratch(static_cast<size_t>(s.size(g)), 0);  // (N, HP, WP)
    std::fill(gxs, gxs + s.size(g), 0.0f);
    const float* wc = w + c * kk;  // (KH, KW)
    if (unit) {
      const float* gyw = wide_outputs(grad_y, c, g, s);  // (N, HP, WP)
      for_each_chunk_and_tap(g, s, [&](int64_t tap, int64_t off, int64_t k0, int64_t len) {
        axpy_scatter(wc[tap], gyw + k0, len, gxs + k0 + off, 1);
      });
    } else {
      for (int64_t n = 0; n < g.n; ++n)
        for (int64_t r = 0; r < g.oh; ++r) {
          const float* gyr = grad_y + ((n * g.c + c) * g.oh + r) * g.ow;
          for (int64_t i = 0; i < g.kh; ++i)
            for (int64_t j = 0; j < g.kw; ++j)
              axpy_scatter(wc[i * g.kw + j], gyr, g.ow, gxs + n * s.plane + (r * sh + i) * s.wp + j,
                           sw);
        }
    }
    for (int64_t n = 0; n < g.n; ++n)
      for (int64_t r = 0; r < g.h; ++r) {
        const float* row = gxs + n * s.plane + (r + g.p.pad_h) * s.wp + g.p.pad_w;
        std::copy(row, row + g.w, grad_x + ((n * g.c + c) * g.h + r) * g.w);
      }
  }
}

void depthwise_backward_weight(const float* grad_y, const float* x, const Geom& g, float* grad_w) {
  const Stack s(g);
  const int64_t kk = g.kh * g.kw;
  // One channel per iteration, summed in a fixed order: the result does not depend on the number
  // of threads.
#pragma omp parallel for schedule(static) if (parallel(g))
  for (int64_t c = 0; c < g.c; ++c) {
    const float* xs = padded_channel(x, c, g, s);      // (N, HP, WP)
    const float* gyw = wide_outputs(grad_y, c, g, s);  // (N, HP, WP)
    float* gw = grad_w + c * kk;                       // (KH, KW)
    std::fill(gw, gw + kk, 0.0f);
    for_each_chunk_and_tap(g, s, [&](int64_t tap, int64_t off, int64_t k0, int64_t len) {
      gw[tap] += dot(gyw + k0, xs + k0 + off, len);
    });
  }
}

}  // namespace lnx::cpu

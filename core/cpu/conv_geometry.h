// What every CPU convolution kernel shares: the geometry of one convolution, per-thread
// scratch buffers, and the loop that spreads images over OpenMP threads.
#pragma once

#include <cstddef>
#include <cstdint>

#include "core/backend.h"
#include "core/shape.h"

namespace lnx::cpu {

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

inline Geom geometry(const Shape& x, const Shape& w, const Shape& y, const Conv2dParams& p) {
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
// allocate. Slot 0 holds column tiles, phase images or padded grad_y; slot 1 per-thread
// weight-gradient partial sums; slot 2 transposed grad_y, a wide output or the strided input
// gradient's phase results; slots 3 and 4 the Winograd kernel's transformed input tiles and
// products. A kernel uses each slot for one buffer at a time.
float* scratch(size_t count, int slot);

// Threads worth using for a convolution: one when there is a single image (portable builds then
// let Eigen thread each GEMM) or too little work to pay for waking the team and meeting at its
// barrier (gradient checks run thousands of tiny convolutions).
int conv_threads(const Geom& g);

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

}  // namespace lnx::cpu

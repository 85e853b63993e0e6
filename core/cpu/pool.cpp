// Pooling kernels over NCHW planes; each (n, c) plane is independent, so planes run in parallel.
#include <algorithm>
#include <cmath>
#include <limits>

#include "core/cpu/cpu_backend.h"
#include "core/cpu/strided.h"

namespace lnx {
namespace {

// The window of output position o along one axis, clipped to the input [0, size).
struct Window {
  int64_t begin, end;  // clipped
  int64_t padded;      // length counting padding, as PyTorch's divisor with count_include_pad
};

Window window(int64_t o, int64_t stride, int64_t pad, int64_t kernel, int64_t size) {
  const int64_t start = o * stride - pad;
  const int64_t stop = std::min(start + kernel, size + pad);
  return {std::max<int64_t>(start, 0), std::min(stop, size), stop - start};
}

}  // namespace

void CpuBackend::max_pool2d_forward(const Tensor& x, const Pool2dParams& p, const Tensor& y,
                                    const Tensor& indices) {
  const int64_t planes = x.size(0) * x.size(1);
  const int64_t H = x.size(2), W = x.size(3), OH = y.size(2), OW = y.size(3);
  const float* xp = x.data<float>();  // (N, C, H, W)
  float* yp = y.data<float>();        // (N, C, OH, OW)
  int64_t* ip = indices.data<int64_t>();
#pragma omp parallel for schedule(static) if (planes * H * W >= cpu::kParallelGrain)
  for (int64_t plane = 0; plane < planes; ++plane) {
    const float* in = xp + plane * H * W;
    float* out = yp + plane * OH * OW;
    int64_t* idx = ip + plane * OH * OW;
    for (int64_t oh = 0; oh < OH; ++oh) {
      const Window wh = window(oh, p.stride_h, p.pad_h, p.kernel_h, H);
      for (int64_t ow = 0; ow < OW; ++ow) {
        const Window ww = window(ow, p.stride_w, p.pad_w, p.kernel_w, W);
        // Padding counts as -inf, so only in-bounds elements can win; NaN wins like PyTorch.
        float best = -std::numeric_limits<float>::infinity();
        int64_t best_i = wh.begin * W + ww.begin;
        for (int64_t h = wh.begin; h < wh.end; ++h)
          for (int64_t w = ww.begin; w < ww.end; ++w) {
            const float v = in[h * W + w];
            if (v > best || std::isnan(v)) {
              best = v;
              best_i = h * W + w;
            }
          }
        out[oh * OW + ow] = best;
        idx[oh * OW + ow] = best_i;
      }
    }
  }
}

void CpuBackend::max_pool2d_backward(const Tensor& grad_y, const Tensor& indices,
                                     const Tensor& grad_x) {
  const int64_t planes = grad_x.size(0) * grad_x.size(1);
  const int64_t in_plane = grad_x.size(2) * grad_x.size(3);
  const int64_t out_plane = grad_y.size(2) * grad_y.size(3);
  const float* gy = grad_y.data<float>();  // (N, C, OH, OW)
  const int64_t* ip = indices.data<int64_t>();
  float* gx = grad_x.data<float>();  // (N, C, H, W)
#pragma omp parallel for schedule(static) if (planes * in_plane >= cpu::kParallelGrain)
  for (int64_t plane = 0; plane < planes; ++plane) {
    float* g = gx + plane * in_plane;
    std::fill(g, g + in_plane, 0.0f);
    const float* src = gy + plane * out_plane;
    const int64_t* idx = ip + plane * out_plane;
    // Overlapping windows may pick the same maximum: the gradients add up.
    for (int64_t o = 0; o < out_plane; ++o) g[idx[o]] += src[o];
  }
}

void CpuBackend::avg_pool2d_forward(const Tensor& x, const Pool2dParams& p, const Tensor& y) {
  const int64_t planes = x.size(0) * x.size(1);
  const int64_t H = x.size(2), W = x.size(3), OH = y.size(2), OW = y.size(3);
  const float* xp = x.data<float>();  // (N, C, H, W)
  float* yp = y.data<float>();        // (N, C, OH, OW)
#pragma omp parallel for schedule(static) if (planes * H * W >= cpu::kParallelGrain)
  for (int64_t plane = 0; plane < planes; ++plane) {
    const float* in = xp + plane * H * W;
    float* out = yp + plane * OH * OW;
    for (int64_t oh = 0; oh < OH; ++oh) {
      const Window wh = window(oh, p.stride_h, p.pad_h, p.kernel_h, H);
      for (int64_t ow = 0; ow < OW; ++ow) {
        const Window ww = window(ow, p.stride_w, p.pad_w, p.kernel_w, W);
        float s = 0.0f;
        for (int64_t h = wh.begin; h < wh.end; ++h)
          for (int64_t w = ww.begin; w < ww.end; ++w) s += in[h * W + w];
        const int64_t count =
            p.count_include_pad ? wh.padded * ww.padded : (wh.end - wh.begin) * (ww.end - ww.begin);
        out[oh * OW + ow] = s / static_cast<float>(count);
      }
    }
  }
}

void CpuBackend::avg_pool2d_backward(const Tensor& grad_y, const Pool2dParams& p,
                                     const Tensor& grad_x) {
  const int64_t planes = grad_x.size(0) * grad_x.size(1);
  const int64_t H = grad_x.size(2), W = grad_x.size(3);
  const int64_t OH = grad_y.size(2), OW = grad_y.size(3);
  const float* gyp = grad_y.data<float>();  // (N, C, OH, OW)
  float* gxp = grad_x.data<float>();        // (N, C, H, W)
#pragma omp parallel for schedule(static) if (planes * H * W >= cpu::kParallelGrain)
  for (int64_t plane = 0; plane < planes; ++plane) {
    float* gx = gxp + plane * H * W;
    const float* gy = gyp + plane * OH * OW;
    std::fill(gx, gx + H * W, 0.0f);
    for (int64_t oh = 0; oh < OH; ++oh) {
      const Window wh = window(oh, p.stride_h, p.pad_h, p.kernel_h, H);
      for (int64_t ow = 0; ow < OW; ++ow) {
        const Window ww = window(ow, p.stride_w, p.pad_w, p.kernel_w, W);
        const int64_t count =
            p.count_include_pad ? wh.padded * ww.padded : (wh.end - wh.begin) * (ww.end - ww.begin);
        const float g = gy[oh * OW + ow] / static_cast<float>(count);
        for (int64_t h = wh.begin; h < wh.end; ++h)
          for (int64_t w = ww.begin; w < ww.end; ++w) gx[h * W + w] += g;
      }
    }
  }
}

}  // namespace lnx

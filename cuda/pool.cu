// Max and average pooling over NCHW planes, one thread per output element (forward and max
// backward) or per input element (average backward, a gather: no atomics, deterministic).
// The window arithmetic mirrors core/cpu/pool.cpp exactly.
#include <cmath>

#include "cuda/check.h"
#include "cuda/launch.cuh"
#include "cuda/nn_kernels.h"

namespace lnx::cuda {
namespace {

struct Window {
  int64_t begin, end;  // clipped to [0, size)
  int64_t padded;      // length counting padding (count_include_pad's divisor)
};

__device__ inline Window window(int64_t o, int64_t stride, int64_t pad, int64_t kernel,
                                int64_t size) {
  const int64_t start = o * stride - pad;
  const int64_t stop = min(start + kernel, size + pad);
  return {max(start, int64_t{0}), min(stop, size), stop - start};
}

__device__ inline int64_t divisor(const Window& wh, const Window& ww, bool include_pad) {
  return include_pad ? wh.padded * ww.padded : (wh.end - wh.begin) * (ww.end - ww.begin);
}

__global__ void max_pool_forward_kernel(PoolShape s, Pool2dParams p, const float* x, float* y,
                                        int64_t* indices) {
  const int64_t total = s.planes * s.oh * s.ow;
  for (int64_t i = first_index(); i < total; i += grid_stride()) {
    const int64_t ow = i % s.ow, oh = (i / s.ow) % s.oh, plane = i / (s.ow * s.oh);
    const float* in = x + plane * s.h * s.w;
    const Window wh = window(oh, p.stride_h, p.pad_h, p.kernel_h, s.h);
    const Window ww = window(ow, p.stride_w, p.pad_w, p.kernel_w, s.w);
    // Padding counts as -inf; NaN wins, as on the CPU.
    float best = -INFINITY;
    int64_t best_i = wh.begin * s.w + ww.begin;
    for (int64_t h = wh.begin; h < wh.end; ++h)
      for (int64_t w = ww.begin; w < ww.end; ++w) {
        const float v = in[h * s.w + w];
        if (v > best || isnan(v)) {
          best = v;
          best_i = h * s.w + w;
        }
      }
    y[i] = best;
    indices[i] = best_i;
  }
}

// Overlapping windows may share a maximum, so the adds must be atomic.
__global__ void max_pool_backward_kernel(PoolShape s, const float* grad_y, const int64_t* indices,
                                         float* grad_x) {
  const int64_t total = s.planes * s.oh * s.ow;
  for (int64_t i = first_index(); i < total; i += grid_stride()) {
    const int64_t plane = i / (s.oh * s.ow);
    atomicAdd(grad_x + plane * s.h * s.w + indices[i], grad_y[i]);
  }
}

__global__ void avg_pool_forward_kernel(PoolShape s, Pool2dParams p, const float* x, float* y) {
  const int64_t total = s.planes * s.oh * s.ow;
  for (int64_t i = first_index(); i < total; i += grid_stride()) {
    const int64_t ow = i % s.ow, oh = (i / s.ow) % s.oh, plane = i / (s.ow * s.oh);
    const float* in = x + plane * s.h * s.w;
    const Window wh = window(oh, p.stride_h, p.pad_h, p.kernel_h, s.h);
    const Window ww = window(ow, p.stride_w, p.pad_w, p.kernel_w, s.w);
    float sum = 0.0f;
    for (int64_t h = wh.begin; h < wh.end; ++h)
      for (int64_t w = ww.begin; w < ww.end; ++w) sum += in[h * s.w + w];
    y[i] = sum / static_cast<float>(divisor(wh, ww, p.count_include_pad));
  }
}

// Each input element sums the outputs whose window covers it: oh with
// oh * stride - pad <= h < oh * stride - pad + kernel.
__global__ void avg_pool_backward_kernel(PoolShape s, Pool2dParams p, const float* grad_y,
                                         float* grad_x) {
  const int64_t total = s.planes * s.h * s.w;
  for (int64_t i = first_index(); i < total; i += grid_stride()) {
    const int64_t w = i % s.w, h = (i / s.w) % s.h, plane = i / (s.w * s.h);
    const float* gy = grad_y + plane * s.oh * s.ow;
    const int64_t hp = h + p.pad_h, wp = w + p.pad_w;
    const int64_t oh_lo = hp < p.kernel_h ? 0 : (hp - p.kernel_h) / p.stride_h + 1;
    const int64_t oh_hi = min(hp / p.stride_h, s.oh - 1);
    const int64_t ow_lo = wp < p.kernel_w ? 0 : (wp - p.kernel_w) / p.stride_w + 1;
    const int64_t ow_hi = min(wp / p.stride_w, s.ow - 1);
    float g = 0.0f;
    for (int64_t oh = oh_lo; oh <= oh_hi; ++oh) {
      const Window wh = window(oh, p.stride_h, p.pad_h, p.kernel_h, s.h);
      for (int64_t ow = ow_lo; ow <= ow_hi; ++ow) {
        const Window ww = window(ow, p.stride_w, p.pad_w, p.kernel_w, s.w);
        g += gy[oh * s.ow + ow] / static_cast<float>(divisor(wh, ww, p.count_include_pad));
      }
    }
    grad_x[i] = g;
  }
}

}  // namespace

void launch_max_pool_forward(const PoolShape& s, const Pool2dParams& p, const float* x, float* y,
                             int64_t* indices, cudaStream_t stream) {
  const int64_t n = s.planes * s.oh * s.ow;
  if (n == 0) return;
  max_pool_forward_kernel<<<grid_for(n), kThreads, 0, stream>>>(s, p, x, y, indices);
  LNX_CUDA_CHECK(cudaGetLastError(), "max_pool2d_forward");
}

void launch_max_pool_backward(const PoolShape& s, const float* grad_y, const int64_t* indices,
                              float* grad_x, cudaStream_t stream) {
  const int64_t n_in = s.planes * s.h * s.w, n = s.planes * s.oh * s.ow;
  if (n_in == 0) return;
  LNX_CUDA_CHECK(cudaMemsetAsync(grad_x, 0, n_in * sizeof(float), stream), "max_pool2d_backward");
  if (n == 0) return;
  max_pool_backward_kernel<<<grid_for(n), kThreads, 0, stream>>>(s, grad_y, indices, grad_x);
  LNX_CUDA_CHECK(cudaGetLastError(), "max_pool2d_backward");
}

void launch_avg_pool_forward(const PoolShape& s, const Pool2dParams& p, const float* x, float* y,
                             cudaStream_t stream) {
  const int64_t n = s.planes * s.oh * s.ow;
  if (n == 0) return;
  avg_pool_forward_kernel<<<grid_for(n), kThreads, 0, stream>>>(s, p, x, y);
  LNX_CUDA_CHECK(cudaGetLastError(), "avg_pool2d_forward");
}

void launch_avg_pool_backward(const PoolShape& s, const Pool2dParams& p, const float* grad_y,
                              float* grad_x, cudaStream_t stream) {
  const int64_t n = s.planes * s.h * s.w;
  if (n == 0) return;
  avg_pool_backward_kernel<<<grid_for(n), kThreads, 0, stream>>>(s, p, grad_y, grad_x);
  LNX_CUDA_CHECK(cudaGetLastError(), "avg_pool2d_backward");
}

}  // namespace lnx::cuda

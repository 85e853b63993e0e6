// Log-softmax and NLL loss over the rows of a contiguous (N, C) tensor: one block per row with
// shared-memory reductions (max, then the sum of exponentials in double, as the CPU does), and
// the loss as one block reducing over the rows in a fixed order, so results are deterministic.
#include <cmath>

#include "cuda/check.h"
#include "cuda/launch.cuh"
#include "cuda/nn_kernels.h"

namespace lnx::cuda {
namespace {

constexpr int kRowThreads = 128;

template <typename T, typename Op>
__device__ T block_reduce(T v, T* buf, Op op) {
  buf[threadIdx.x] = v;
  __syncthreads();
  for (unsigned width = blockDim.x / 2; width > 0; width /= 2) {
    if (threadIdx.x < width) buf[threadIdx.x] = op(buf[threadIdx.x], buf[threadIdx.x + width]);
    __syncthreads();
  }
  const T r = buf[0];
  __syncthreads();
  return r;
}

struct MaxOp {
  __device__ float operator()(float a, float b) const { return b > a || isnan(b) ? b : a; }
};
struct SumOp {
  __device__ double operator()(double a, double b) const { return a + b; }
};

__global__ void log_softmax_forward_kernel(int64_t rows, int64_t cols, const float* x, float* y) {
  __shared__ float fbuf[kRowThreads];
  __shared__ double dbuf[kRowThreads];
  for (int64_t r = blockIdx.x; r < rows; r += gridDim.x) {
    const float* in = x + r * cols;
    float* out = y + r * cols;
    float mx = -INFINITY;
    for (int64_t i = threadIdx.x; i < cols; i += blockDim.x) mx = MaxOp{}(mx, in[i]);
    mx = block_reduce(mx, fbuf, MaxOp{});
    double s = 0.0;
    for (int64_t i = threadIdx.x; i < cols; i += blockDim.x)
      s += exp(static_cast<double>(in[i] - mx));
    s = block_reduce(s, dbuf, SumOp{});
    const float log_s = static_cast<float>(log(s));
    for (int64_t i = threadIdx.x; i < cols; i += blockDim.x) out[i] = (in[i] - mx) - log_s;
  }
}

__global__ void log_softmax_backward_kernel(int64_t rows, int64_t cols, const float* grad_y,
                                            const float* y, float* grad_x) {
  __shared__ double dbuf[kRowThreads];
  for (int64_t r = blockIdx.x; r < rows; r += gridDim.x) {
    const float* g = grad_y + r * cols;
    const float* out = y + r * cols;
    float* gx = grad_x + r * cols;
    double s = 0.0;
    for (int64_t i = threadIdx.x; i < cols; i += blockDim.x) s += g[i];
    const float fs = static_cast<float>(block_reduce(s, dbuf, SumOp{}));
    // dx = dy - softmax * sum(dy), softmax = exp(y).
    for (int64_t i = threadIdx.x; i < cols; i += blockDim.x) gx[i] = g[i] - expf(out[i]) * fs;
  }
}

__global__ void nll_loss_forward_kernel(int64_t rows, int64_t cols, const float* logp,
                                        const int64_t* labels, float* out) {
  __shared__ double dbuf[kRowThreads];
  double s = 0.0;
  for (int64_t r = threadIdx.x; r < rows; r += blockDim.x) s += logp[r * cols + labels[r]];
  s = block_reduce(s, dbuf, SumOp{});
  if (threadIdx.x == 0)
    out[0] = rows > 0 ? static_cast<float>(-s / static_cast<double>(rows)) : 0.0f;
}

__global__ void nll_loss_backward_kernel(int64_t rows, int64_t cols, const float* grad_out,
                                         const int64_t* labels, float* grad_logp) {
  const float v = -grad_out[0] / static_cast<float>(rows);
  const int64_t total = rows * cols;
  for (int64_t i = first_index(); i < total; i += grid_stride())
    grad_logp[i] = i % cols == labels[i / cols] ? v : 0.0f;
}

unsigned row_blocks(int64_t rows) {
  return static_cast<unsigned>(rows < 65535 ? rows : 65535);
}

}  // namespace

void launch_log_softmax_forward(int64_t rows, int64_t cols, const float* x, float* y,
                                cudaStream_t stream) {
  if (rows == 0 || cols == 0) return;
  log_softmax_forward_kernel<<<row_blocks(rows), kRowThreads, 0, stream>>>(rows, cols, x, y);
  LNX_CUDA_CHECK(cudaGetLastError(), "log_softmax_forward");
}

void launch_log_softmax_backward(int64_t rows, int64_t cols, const float* grad_y, const float* y,
                                 float* grad_x, cudaStream_t stream) {
  if (rows == 0 || cols == 0) return;
  log_softmax_backward_kernel<<<row_blocks(rows), kRowThreads, 0, stream>>>(rows, cols, grad_y, y,
                                                                            grad_x);
  LNX_CUDA_CHECK(cudaGetLastError(), "log_softmax_backward");
}

void launch_nll_loss_forward(int64_t rows, int64_t cols, const float* logp, const int64_t* labels,
                             float* out, cudaStream_t stream) {
  nll_loss_forward_kernel<<<1, kRowThreads, 0, stream>>>(rows, cols, logp, labels, out);
  LNX_CUDA_CHECK(cudaGetLastError(), "nll_loss_forward");
}

void launch_nll_loss_backward(int64_t rows, int64_t cols, const float* grad_out,
                              const int64_t* labels, float* grad_logp, cudaStream_t stream) {
  if (rows == 0 || cols == 0) return;
  const int64_t n = rows * cols;
  nll_loss_backward_kernel<<<grid_for(n), kThreads, 0, stream>>>(rows, cols, grad_out, labels,
                                                                 grad_logp);
  LNX_CUDA_CHECK(cudaGetLastError(), "nll_loss_backward");
}

}  // namespace lnx::cuda
